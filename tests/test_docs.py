"""The documentation site builds in strict mode: no broken link, anchor, page or API reference."""

from __future__ import annotations

import json
import os
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
