"""The code examples in docs/ are run, so the docs cannot go stale: every Python block compiles, and
every block that defines a DAG parses in a DagBag (as the DAG processor would read it) and runs with
``dag.test()`` against the sandbox, each task succeeding (or skipped where the docs say it skips)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)
DAG_DEFINITION = re.compile(r"\bwith DAG\(|@dag\b")


def blocks() -> list[tuple[str, str]]:
    found = []
    for page in sorted(DOCS.rglob("*.md")):
        for number, match in enumerate(BLOCK.finditer(page.read_text())):
            found.append((f"{page.relative_to(DOCS)}#{number}", match.group(1)))
    return found


def dag_blocks() -> list[tuple[str, str]]:
    return [(name, code) for name, code in blocks() if DAG_DEFINITION.search(code)]


def test_the_docs_have_dag_examples() -> None:
    names = [name for name, _ in dag_blocks()]
    assert "recipes.md#0" in names and "recipes.md#1" in names and "operators/search.md#0" in names, names


@pytest.mark.parametrize(("name", "code"), blocks(), ids=[name for name, _ in blocks()])
def test_every_python_block_compiles(name: str, code: str) -> None:
    compile(code, name, "exec")


@pytest.mark.e2e
@pytest.mark.parametrize(("name", "code"), dag_blocks(), ids=[name for name, _ in dag_blocks()])
def test_every_dag_example_parses_and_runs_against_the_sandbox(
    name: str, code: str, tmp_path: Path, airflow_db: Path, _shared_execution_api: None, sandbox_conn: str
) -> None:
    from airflow.models.pool import Pool

    from tests.airflow_compat import bundle_dag_bag, sync_bag_to_db

    Pool.create_or_update_pool("oneatlas_orders", slots=1, description="docs recipe", include_deferred=False)
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / (re.sub(r"\W", "_", name) + ".py")).write_text(code)
    bag = bundle_dag_bag(folder, folder)
    assert not bag.import_errors, bag.import_errors
    assert len(bag.dags) == 1, f"{name} defines {list(bag.dags)}"
    sync_bag_to_db(bag, "dags-folder", None)  # dag.test() runs a serialized DAG, as the scheduler would
    dag = next(iter(bag.dags.values()))
    run = dag.test()
    states: dict[str, Any] = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert str(run.state) in ("success", "DagRunState.SUCCESS"), (name, states)
    assert all(state in ("success", "skipped", "TaskInstanceState.SUCCESS") for state in states.values()), states
    if name.startswith("recipes.md"):  # the recipes order: every order task really placed an order
        orders = [task for task in states if task.startswith("order")]
        assert orders and all(states[task] in ("success", "TaskInstanceState.SUCCESS") for task in orders), states
