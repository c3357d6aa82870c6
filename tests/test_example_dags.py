"""The example DAGs parse cleanly, have the expected shape, and parse without heavy imports."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oneatlas.version_compat import AIRFLOW_V_3_1_PLUS

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_DAGS = ROOT / "example_dags"

EXPECTED_TASKS = {
    "oneatlas_acquisition": {"search", "order", "wait", "download", "summary"},
    "oneatlas_downstream_etl": {"deliveries", "inspect", "report"},
    "oneatlas_multi_aoi": {"plan_searches", "search", "plan_orders", "order", "wait", "download", "summary"},
    "oneatlas_event_acquisition": {"images", "order", "wait", "download", "summary"},
    "oneatlas_fields": {
        f"{field}.{step}"
        for field in ("north", "south", "east")
        for step in ("search", "quote", "approve", "order", "wait", "download")
    },
}
#: Example DAGs whose approval step needs Airflow 3.1: on 3.0 their import is the parse-time error.
NEEDS_3_1 = {"oneatlas_fields"}
#: The DAGs that parse on this Airflow.
PARSED = {dag_id: tasks for dag_id, tasks in EXPECTED_TASKS.items() if AIRFLOW_V_3_1_PLUS or dag_id not in NEEDS_3_1}


def check_refused_on_3_0(errors: dict[str, str]) -> None:
    """On Airflow 3.0 the DAGs needing approval fail to parse, with the error naming 3.1.0 and the fix."""
    assert {Path(path).stem for path in errors} == NEEDS_3_1
    for message in errors.values():
        assert "needs Apache Airflow 3.1.0 or newer" in message and "approval_above" in message


@pytest.fixture(scope="module")
def dagbag() -> Any:
    """The example DAGs as the DAG processor sees them (the bundle folder is on ``sys.path``)."""
    from tests.airflow_compat import bundle_dag_bag

    return bundle_dag_bag(EXAMPLE_DAGS, EXAMPLE_DAGS)


def test_every_example_dag_imports(dagbag: Any) -> None:
    if AIRFLOW_V_3_1_PLUS:
        assert dagbag.import_errors == {}
    else:
        check_refused_on_3_0(dagbag.import_errors)
    assert set(dagbag.dag_ids) == set(PARSED)
    files = {Path(dag.fileloc).name for dag in dagbag.dags.values()}
    assert files == {f"{dag_id}.py" for dag_id in PARSED}


@pytest.mark.parametrize("dag_id", sorted(PARSED))
def test_expected_tasks(dagbag: Any, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    assert set(dag.task_ids) == EXPECTED_TASKS[dag_id]
    assert "oneatlas" in dag.tags and dag.doc_md


def test_acquisition_shape(dagbag: Any) -> None:
    dag = dagbag.dags["oneatlas_acquisition"]
    assert dag.catchup is False and dag.render_template_as_native_obj is True
    chain = ["search", "order", "wait", "download", "summary"]
    for upstream, downstream in itertools.pairwise(chain):
        assert downstream in dag.get_task(upstream).downstream_task_ids, (upstream, downstream)
    params = dag.params
    assert params["max_cloud_cover"] == 20 and params["min_coverage"] == 0.5 and params["max_images"] == 1
    assert params["conn_id"] == "oneatlas_default" and params["start"] is None and params["end"] is None
    assert params["aoi"]["type"] == "Polygon"
    search = dag.get_task("search")
    assert search.skip_if_empty is True and search.processing_level == "SENSOR"
    wait = dag.get_task("wait")
    assert wait.deferrable is True
    # The conn_id Param reaches every OneAtlas task.
    for task_id in ("search", "order", "wait", "download"):
        task = dag.get_task(task_id)
        assert task.oneatlas_conn_id == "{{ params.conn_id }}" and "oneatlas_conn_id" in task.template_fields
    outlets = dag.get_task("download").outlets
    assert [o.uri for o in outlets] == ["oneatlas://imagery/acquisition"]


def test_downstream_is_scheduled_on_the_acquisition_asset(dagbag: Any) -> None:
    acquisition = dagbag.dags["oneatlas_acquisition"]
    downstream = dagbag.dags["oneatlas_downstream_etl"]
    (asset,) = acquisition.get_task("download").outlets
    condition = downstream.timetable.asset_condition
    # Airflow < 3.2 iterates (key, asset) pairs; 3.2+ (the task SDK's condition) lists its members.
    has_iter = hasattr(condition, "iter_assets")
    assets = [a for _, a in condition.iter_assets()] if has_iter else list(condition.objects)
    assert assets == [asset]


def test_downstream_reads_stac_items(dagbag: Any) -> None:
    downstream = dagbag.dags["oneatlas_downstream_etl"]
    assert "stac_items" in downstream.params and "stac" in downstream.tags
    param = downstream.params.get_param("stac_items")
    assert param.schema.get("title") and param.description
    assert downstream.get_task("inspect").map_index_template


def test_multi_aoi_is_mapped(dagbag: Any) -> None:
    dag = dagbag.dags["oneatlas_multi_aoi"]
    for task_id in ("search", "order", "wait", "download"):
        assert type(dag.get_task(task_id)).__name__ == "MappedOperator", task_id
    assert [a["name"] for a in dag.params["areas"]] == ["toulouse", "cavtat"]


def _leaf_assets(condition: Any) -> list[Any]:
    """The assets of a schedule's condition (``objects`` of AssetAll/AssetAny on every Airflow 3.x;
    3.3's SDK conditions have no ``iter_assets``)."""
    from airflow.sdk import Asset

    if isinstance(condition, Asset):
        return [condition]
    return [asset for part in condition.objects for asset in _leaf_assets(part)]


def test_event_acquisition_runs_on_the_new_image_watcher(dagbag: Any) -> None:
    from airflow_provider_oneatlas.triggers.catalogue import OneAtlasNewImageTrigger

    dag = dagbag.dags["oneatlas_event_acquisition"]
    chain = ["images", "order", "wait", "download", "summary"]
    for upstream, downstream in itertools.pairwise(chain):
        assert downstream in dag.get_task(upstream).downstream_task_ids, (upstream, downstream)
    (asset,) = _leaf_assets(dag.timetable.asset_condition)
    assert asset.uri == "oneatlas://catalogue/new-images/toulouse-field"
    (watcher,) = asset.watchers
    trigger = watcher.trigger
    assert isinstance(trigger, OneAtlasNewImageTrigger)
    assert trigger.processing_level == "SENSOR" and trigger.max_cloud_cover == 20 and trigger.min_coverage == 0.5
    assert trigger.poll_interval == 300 and trigger.published_since is None
    # The field the watcher watches is the field the order cuts.
    assert dag.get_task("order").aoi == trigger.aoi
    assert dag.get_task("wait").deferrable is True
    assert [o.uri for o in dag.get_task("download").outlets] == ["oneatlas://imagery/event-acquisition"]
    # Every Param says what it is.
    for name, param in dag.params.items():
        assert param.schema.get("title") and param.description, name


def test_parsing_imports_no_geometry_library_nor_the_sandbox(tmp_path: Path) -> None:
    """Parsing runs in the scheduler's DAG processor again and again: it must stay light (no pystac
    either: the downstream DAG and the download operator import it only when a task runs)."""
    script = textwrap.dedent(
        """
        import json, sys
        from pathlib import Path
        from tests.airflow_compat import bundle_dag_bag
        bag = bundle_dag_bag(sys.argv[1], Path(sys.argv[1]))
        heavy = sorted(
            m for m in sys.modules
            if m.split(".")[0] in ("shapely", "pyproj", "pystac")
            or m.startswith("airflow_provider_oneatlas.sandbox")
            or m == "airflow_provider_oneatlas.client.geometry"
        )
        print(json.dumps({"dags": sorted(bag.dag_ids), "errors": bag.import_errors, "heavy": heavy}))
        """
    )
    env = dict(os.environ, AIRFLOW_HOME=str(tmp_path), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    result = subprocess.run(
        [sys.executable, "-c", script, str(EXAMPLE_DAGS)],
        cwd=str(EXAMPLE_DAGS.parent),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    if AIRFLOW_V_3_1_PLUS:
        assert report["errors"] == {}
    else:
        check_refused_on_3_0(report["errors"])
    assert report["dags"] == sorted(PARSED)
    assert report["heavy"] == [], f"parsing the example DAGs imported {report['heavy']}"


def test_fields_uses_the_factory_with_one_run_budget(dagbag: Any) -> None:
    if not AIRFLOW_V_3_1_PLUS:  # its approval steps are refused when parsed
        check_refused_on_3_0(dagbag.import_errors)
        return
    dag = dagbag.dags["oneatlas_fields"]
    for name, param in dag.params.items():
        assert param.schema.get("title") and param.description, name
    for field in ("north", "south", "east"):
        order = dag.get_task(f"{field}.order")
        assert order.pool == "oneatlas_orders"  # the run budget's orders are serialised
        assert {f"{field}.search", f"{field}.approve"} <= order.upstream_task_ids
        assert order.run_budget == "{{ params.run_budget_credits }}" and order.destination
        assert dag.get_task(f"{field}.wait").deferrable is True
        assert dag.get_task(f"{field}.search").processing_level == "SENSOR"
