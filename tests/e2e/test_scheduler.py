"""A real Airflow: scheduler, triggerer, DAG processor and API server, running ``oneatlas_acquisition``.

Every component is its own process (group) on 127.0.0.1, with its own AIRFLOW_HOME, a sqlite DB
(``airflow standalone`` runs the LocalExecutor on sqlite too) and logs under the test's tmp_path.
The sandbox runs in a child process as well. The order is held at ``ordered``/``processing`` until
the ``wait`` sensor is seen *deferred* in the metadata DB; then the sandbox delivers it, and the
triggerer must notice and hand the task back to a worker. The imagery landed fires the asset, and
the scheduler runs ``oneatlas_downstream_etl`` on it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import FOUND_RANGE, md5_file
from tests.e2e.stack import Airflow, http_json, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

#: The whole run, from triggering to the downstream DAG's success.
DEADLINE_SECONDS = 360
RUN_ID = "e2e_scheduler_acquisition"


def test_acquisition_under_a_real_scheduler(airflow: Airflow, sandbox_process: Any, tmp_path: Path) -> None:
    started = time.monotonic()
    destination = tmp_path / "imagery"
    run_conf = {**FOUND_RANGE, "destination": destination.as_uri() + "/", "poll_interval": 1}

    airflow.cli("dags", "unpause", "oneatlas_downstream_etl")
    airflow.cli("dags", "unpause", "oneatlas_acquisition")
    airflow.cli("dags", "trigger", "oneatlas_acquisition", "--run-id", RUN_ID, "--conf", json.dumps(run_conf))
    run_path = f"/api/v2/dags/oneatlas_acquisition/dagRuns/{RUN_ID}"

    def remaining() -> float:
        return max(10.0, DEADLINE_SECONDS - (time.monotonic() - started))

    def task_state(task_id: str) -> str | None:
        state: str | None = airflow.api(f"{run_path}/taskInstances/{task_id}").get("state")
        return state

    # 1. The sensor defers: its task instance sits in "deferred" while the order is not delivered.
    wait_for("the wait sensor to defer", lambda: task_state("wait") == "deferred", remaining(), airflow)
    orders = sandbox_process.state["orders"]
    assert len(orders) == 1, orders
    order_id = orders[0]["id"]
    assert orders[0]["status"] in ("ordered", "processing")
    time.sleep(2)  # still deferred: the trigger keeps polling an undelivered order
    assert task_state("wait") == "deferred"

    # 2. OneAtlas delivers; the triggerer notices and the task resumes on a worker.
    http_json(f"{sandbox_process.base_url}/_sandbox/orders/{order_id}/status", {"status": "delivered"})

    def finished() -> str | None:
        state: str = airflow.api(run_path)["state"]
        return state if state in ("success", "failed") else None

    final = wait_for("the acquisition run to finish", finished, remaining(), airflow, interval=2)
    states = {t: task_state(t) for t in ("search", "order", "wait", "download", "summary")}
    assert final == "success", f"{states}\n{airflow.diagnostics()}"
    assert set(states.values()) == {"success"}, states

    # The triggerer really ran the trigger: its lines are in the wait task's trigger log.
    trigger_logs = [p for p in (airflow.home / "logs").rglob("*trigger*") if p.is_file() and "task_id=wait" in str(p)]
    trigger_text = "".join(p.read_text(errors="replace") for p in trigger_logs)
    assert f"OneAtlas order {order_id} is delivered" in trigger_text, f"no trigger log in {trigger_logs}"

    # Exactly one order, delivered, paid once.
    state = sandbox_process.state
    assert [o["id"] for o in state["orders"]] == [order_id]
    assert state["orders"][0]["status"] == "delivered"
    assert [d["orderId"] for d in state["debits"]] == [order_id]
    (item_id,) = state["orders"][0]["deliveredItems"]

    # The zip landed intact.
    zips = list(destination.glob(f"*/{item_id}.zip"))
    assert len(zips) == 1, list(destination.rglob("*"))
    truth = http_json(f"{sandbox_process.base_url}/_sandbox/items/{item_id}/file")
    assert zips[0].stat().st_size == truth["size"]
    assert md5_file(zips[0]) == truth["md5"]

    # 3. The asset event scheduled the downstream ETL, which wrote its manifest.
    def downstream_done() -> dict[str, Any] | None:
        runs = airflow.api("/api/v2/dags/oneatlas_downstream_etl/dagRuns")["dag_runs"]
        done = [r for r in runs if r["state"] in ("success", "failed")]
        return done[0] if done else None

    downstream = wait_for("the downstream ETL run", downstream_done, remaining(), airflow, interval=2)
    assert downstream["state"] == "success", airflow.diagnostics()
    assert downstream["run_type"] == "asset_triggered"
    # It read the delivery through its STAC Item (beside the zip) and checked the zip's md5 from it.
    manifest = json.loads(zips[0].with_name(f"{item_id}.manifest.json").read_text())
    assert manifest["item_id"] == item_id and manifest["item"] == str(zips[0].with_name(f"{item_id}.json"))
    assert manifest["assets"] == [
        {
            "key": "archive",
            "href": str(zips[0]),
            "type": "application/zip",
            "roles": ["data", "archive"],
            "size": truth["size"],
            "md5_verified": True,
        }
    ]

    # The scheduled run of the last interval (created on unpause) found nothing, ordered nothing.
    runs = airflow.api("/api/v2/dags/oneatlas_acquisition/dagRuns")["dag_runs"]
    for run in runs:
        if run["dag_run_id"] != RUN_ID and run["state"] in ("success", "failed"):
            assert run["state"] == "success", run
    assert urlsplit(airflow.api_url).hostname == "127.0.0.1"
