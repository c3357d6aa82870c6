"""The sandbox tests mirror the sandbox package: every module ``airflow_provider_oneatlas/sandbox/<mod>.py`` has a
test module ``tests/sandbox/test_<mod>.py`` whose docstring names it."""

from __future__ import annotations

import ast
from pathlib import Path

import airflow_provider_oneatlas.sandbox as sandbox_package

HERE = Path(__file__).parent
#: ``__init__`` holds nothing; ``python -m airflow_provider_oneatlas.sandbox`` (``__main__``) is run in test_cli.
NOT_MIRRORED = {"__init__", "__main__"}


def test_every_sandbox_module_has_a_test_module_that_names_it() -> None:
    modules = sorted(p.stem for p in Path(sandbox_package.__file__).parent.glob("*.py") if p.stem not in NOT_MIRRORED)
    assert len(modules) > 20
    missing, unnamed = [], []
    for module in modules:
        test_module = HERE / f"test_{module}.py"
        if not test_module.exists():
            missing.append(module)
            continue
        docstring = ast.get_docstring(ast.parse(test_module.read_text())) or ""
        if f"airflow_provider_oneatlas.sandbox.{module}" not in docstring:
            unnamed.append(module)
    assert missing == [] and unnamed == []
    assert '"-m", "airflow_provider_oneatlas.sandbox", "--help"' in (HERE / "test_cli.py").read_text()  # __main__
