"""The documentation site builds in strict mode: no broken link, anchor, page or API reference."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

# Both are in the lock file: if missing, the suite fails loudly rather than skipping the build.
import mkdocs  # noqa: F401
import mkdocstrings_handlers.python  # noqa: F401
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _build(site_dir: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["NO_MKDOCS_2_WARNING"] = "1"  # Material's banner about its successor, not a build problem
    env.pop("MKDOCS_STRICT", None)
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--clean", "--site-dir", str(site_dir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.mark.timeout(300)
def test_docs_build_strict(tmp_path: Path) -> None:
    site = tmp_path / "site"
    result = _build(site)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{output}"
    assert "WARNING" not in output, f"mkdocs build reported warnings:\n{output}"
    # The API reference was generated from the docstrings, not left empty.
    hook_page = (site / "reference" / "hook" / "index.html").read_text()
    assert "OneAtlasHook" in hook_page and "config_from_connection" in hook_page
    operators_page = (site / "reference" / "operators" / "index.html").read_text()
    for name in (
        "OneAtlasSearchOperator",
        "OneAtlasPriceOperator",
        "OneAtlasOrderOperator",
        "OneAtlasDownloadOperator",
        "OneAtlasQuicklookOperator",
    ):
        assert name in operators_page, f"{name} missing from the operators reference"
    # The changelog page includes CHANGELOG.md from the repository root.
    assert "Unreleased" in (site / "changelog" / "index.html").read_text()


def test_the_readme_links_to_the_docs() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "](docs/index.md)" in readme, "the README must link to the documentation"
    assert (ROOT / "docs" / "index.md").is_file()


PACKAGE = "airflow_provider_oneatlas"
DIRECTIVE = re.compile(r"^:::\s+(\S+)", re.MULTILINE)


def _directives() -> dict[str, list[str]]:
    """Module named by each ``::: module`` directive of the docs -> the pages naming it."""
    found: dict[str, list[str]] = {}
    for page in sorted((ROOT / "docs").rglob("*.md")):
        for name in DIRECTIVE.findall(page.read_text()):
            found.setdefault(name, []).append(str(page.relative_to(ROOT)))
    return found


def _package_modules() -> list[str]:
    """Every module of the package, the sandbox's internals left out (its reference documents its
    configuration, server and command line)."""
    root = ROOT / PACKAGE
    modules = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if path.name in ("__init__.py", "__main__.py") or relative.parts[0] == "sandbox":
            continue
        modules.append(".".join((PACKAGE, *relative.with_suffix("").parts)))
    return modules


def test_every_module_is_in_the_api_reference() -> None:
    documented = _directives()
    modules = _package_modules()
    assert f"{PACKAGE}.client.ordering" in modules and f"{PACKAGE}.get_provider_info" in modules  # the walk works
    assert [m for m in modules if m not in documented] == []


def test_every_reference_directive_names_an_existing_module() -> None:
    documented = _directives()
    assert documented, "no ::: directive found in docs/"
    missing = {name: pages for name, pages in documented.items() if not _is_module(name)}
    assert missing == {}


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a parent package that does not exist
        return False


def test_is_module() -> None:
    assert _is_module(f"{PACKAGE}.client.api")
    assert not _is_module(f"{PACKAGE}.client.no_such_module") and not _is_module("no_such_package.mod")
def test_the_deploying_table_is_what_ci_recorded() -> None:
    """docs/deploying.md's table of tested Airflow versions is generated from what CI ran."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import tested_versions
    finally:
        sys.path.remove(str(ROOT / "scripts"))

    assert tested_versions.check(None) == []
    recorded = {row["airflow"].rsplit(".", 1)[0] for row in json.loads(tested_versions.RECORD.read_text())}
    assert recorded == {"3.0", "3.1", "3.2", "3.3"}, "every supported Airflow minor version is in the table"
