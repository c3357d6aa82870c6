"""N mapped order tasks of one run, all ready at the same moment, under one run budget, on a real
scheduler with a LocalExecutor running four tasks at once: the total spent never exceeds the budget,
and the order tasks ran one at a time (the pool of one slot), each reading the run's spend afresh
from the account."""

from __future__ import annotations

import itertools
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oneatlas.client.budgets import run_tag
from tests.e2e.stack import Airflow, http_json, wait_for
from tests.e2e.test_approval import airflow_with_dags

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

DAG_ID = "oneatlas_run_budget_race"
RUN_ID = "e2e_race"
FIELDS = 5
BUDGET = 1500  # each image over this field costs about 630 credits: two fit, not five

DAG_FILE = f'''
from airflow.sdk import DAG, task
import pendulum

from airflow_provider_oneatlas.operators.order import OneAtlasOrderOperator
from airflow_provider_oneatlas.operators.search import OneAtlasSearchOperator

FIELD = {{"type": "Polygon", "coordinates": [[[1.30, 43.55], [1.40, 43.55], [1.40, 43.62], [1.30, 43.62],
                                            [1.30, 43.55]]]}}

with DAG("{DAG_ID}", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False,
         render_template_as_native_obj=True):
    search = OneAtlasSearchOperator(task_id="search", aoi=FIELD, acquisition_date=("2024-01-01", "2024-12-31"),
                                    processing_level="SENSOR", constellation=["SPOT", "PHR"], limit={FIELDS},
                                    include_footprint=False)

    @task
    def one_each(images):
        return [[image] for image in images]

    OneAtlasOrderOperator.partial(task_id="order", aoi=FIELD, run_budget={BUDGET}, pool="oneatlas_orders",
                                  retries=0).expand(image_ids=one_each(search.output))
'''


def test_mapped_orders_never_overspend_the_run_budget(airflow_db: Path, tmp_path: Path, sandbox_process: Any) -> None:
    with airflow_with_dags(airflow_db, tmp_path, sandbox_process, {f"{DAG_ID}.py": DAG_FILE}) as airflow:
        run(airflow, sandbox_process)


def run(airflow: Airflow, sandbox: Any) -> None:
    airflow.cli("dags", "unpause", DAG_ID)
    airflow.cli("dags", "trigger", DAG_ID, "--run-id", RUN_ID)
    run_path = f"/api/v2/dags/{DAG_ID}/dagRuns/{RUN_ID}"

    def finished() -> str | None:
        state: str = airflow.api(run_path)["state"]
        return state if state in ("success", "failed") else None

    wait_for("the run to finish", finished, 400, airflow, interval=2)
    instances = airflow.api(f"{run_path}/taskInstances?task_id=order&limit=100")["task_instances"]
    instances = [t for t in instances if t["task_id"] == "order"]
    assert len(instances) == FIELDS, instances
    states = sorted(t["state"] for t in instances)
    assert "success" in states and "failed" in states, states

    # The budget held: what the account shows under the run's tag is within it.
    orders = http_json(f"{sandbox.base_url}/_sandbox/state")["orders"]
    tag = run_tag(DAG_ID, RUN_ID)
    assert orders and all(tag in o["tags"] for o in orders)
    assert sum(o["price"] for o in orders) <= BUDGET
    assert len(orders) == states.count("success")
    prices = sorted(o["price"] for o in orders)
    assert sum(prices) + min(prices) > BUDGET  # one more order would have broken it: the cap was reached

    # The pool ran the order tasks one at a time, although four could run at once.
    spans = sorted((parse(t["start_date"]), parse(t["end_date"])) for t in instances)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end, spans
    assert all(t["pool"] == "oneatlas_orders" for t in instances)


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
