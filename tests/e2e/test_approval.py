"""Approval before spending on a real Airflow (scheduler, triggerer, DAG processor, API server),
driven through Airflow's REST API as a person or a bot would: approve, reject, let time out, and
approve after the price went up.

One DAG of four fields from ``oneatlas_acquisition_group`` with ``approval_above=0`` (always ask):

* ``approved``: the order holds exactly the images shown in the approval, at the price shown;
* ``rejected`` and ``timedout``: no order request at all (the sandbox's request log);
* ``repriced``: the price rose between the quote and the approval: the order is refused, none placed.
"""

from __future__ import annotations

import contextlib
import json
import textwrap
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stack import Airflow, http_json, running_airflow, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

DAG_ID = "oneatlas_approval_e2e"
RUN_ID = "e2e_approval"
TIMEOUT_SECONDS = 150

DAG_FILE = f'''
"""Four fields, always asking for approval; a short approval timeout for the test."""
from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_provider_oneatlas.taskgroups.acquisition import oneatlas_acquisition_group


def field(west, south):
    east, north = west + 0.05, south + 0.04
    return {{"type": "Polygon", "coordinates": [[[west, south], [east, south], [east, north], [west, north],
                                               [west, south]]]}}


FIELDS = {{
    "approved": field(1.30, 43.58),
    "rejected": field(1.30, 43.52),
    "timedout": field(1.40, 43.55),
    "repriced": field(1.36, 43.56),
}}

with DAG("{DAG_ID}", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False,
         render_template_as_native_obj=True):
    for name, aoi in FIELDS.items():
        oneatlas_acquisition_group(
            name,
            aoi,
            "{{{{ dag_run.conf['destination'] }}}}",
            acquisition_date=("2024-01-01", "2024-12-31"),
            approval_above=0,
            approval_timeout=timedelta(seconds={TIMEOUT_SECONDS}),
            run_budget=100000,
            order_pool="oneatlas_orders",
            poll_interval=1,
        )
'''


@contextlib.contextmanager
def airflow_with_dags(airflow_db: Path, tmp_path: Path, sandbox: Any, dags: dict[str, str]) -> Iterator[Airflow]:
    """A real Airflow whose DAGs folder holds only ``dags`` (name -> source), with the
    ``oneatlas_orders`` pool of one slot and ``oneatlas_default`` on ``sandbox``."""
    folder = tmp_path / "dags"
    folder.mkdir()
    for name, source in dags.items():
        (folder / name).write_text(textwrap.dedent(source))
    with running_airflow(
        airflow_db,
        tmp_path,
        sandbox.base_url,
        before_start=[("pools", "set", "oneatlas_orders", "1", "OneAtlas orders, one at a time")],
        AIRFLOW__CORE__DAGS_FOLDER=str(folder),
    ) as instance:
        yield instance


@pytest.fixture
def approval_airflow(airflow_db: Path, tmp_path: Path, sandbox_process: Any) -> Iterator[Airflow]:
    with airflow_with_dags(airflow_db, tmp_path, sandbox_process, {f"{DAG_ID}.py": DAG_FILE}) as instance:
        yield instance


def respond(airflow: Airflow, task_id: str, option: str) -> Any:
    """What a person does in the UI's Required actions: PATCH the task's HITL detail."""
    request = urllib.request.Request(
        f"{airflow.api_url}/api/v2/dags/{DAG_ID}/dagRuns/{RUN_ID}/taskInstances/{task_id}/-1/hitlDetails",
        data=json.dumps({"chosen_options": [option], "params_input": {}}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {airflow.token}"},
        method="PATCH",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def order_posts(sandbox: Any) -> list[dict[str, Any]]:
    log = http_json(f"{sandbox.base_url}/_sandbox/requests")["requests"]
    return [r for r in log if r.get("method") == "POST" and r.get("path", "").endswith("/api/v1/orders")]


def test_approve_reject_timeout_and_repriced(approval_airflow: Airflow, sandbox_process: Any, tmp_path: Path) -> None:
    airflow = approval_airflow
    conf = {"destination": (tmp_path / "imagery").as_uri()}
    airflow.cli("dags", "unpause", DAG_ID)
    airflow.cli("dags", "trigger", DAG_ID, "--run-id", RUN_ID, "--conf", json.dumps(conf))
    run_path = f"/api/v2/dags/{DAG_ID}/dagRuns/{RUN_ID}"

    def state(task_id: str) -> str | None:
        value: str | None = airflow.api(f"{run_path}/taskInstances/{task_id}").get("state")
        return value

    def asking(field: str) -> dict[str, Any] | None:
        # Waiting for a person: deferred to the triggerer (Airflow 3.1, 3.2) or awaiting_input (3.3+).
        if state(f"{field}.approve") not in ("deferred", "awaiting_input"):
            return None
        detail: dict[str, Any] = airflow.api(f"{run_path}/taskInstances/{field}.approve/-1/hitlDetails")
        return detail

    shown = {
        f: wait_for(f"{f}'s approval request", lambda f=f: asking(f), 300, airflow, interval=2)
        for f in ("approved", "rejected", "timedout", "repriced")
    }
    assert order_posts(sandbox_process) == []  # nothing is ordered while a person decides
    quotes = {f: airflow.api(f"{run_path}/taskInstances/{f}.quote/xcomEntries/return_value")["value"] for f in shown}
    for field, detail in shown.items():
        quote = quotes[field]
        body = detail["body"]
        # What a person needs to decide: price, balance, budget left, and per image its quicklook,
        # acquisition date, cloud cover and coverage of the field.
        assert f"**Price: {quote['credits']:g} credits**" in body and "Balance: " in body
        assert "Budget run_budget" in body and "left" in body
        for image in quote["images"]:
            assert image["id"] in body and image["acquisition_date"] in body and image["quicklook"] in body
            assert Path(image["quicklook"].removeprefix("file://")).is_file()
        assert detail["options"] == ["Approve", "Reject"] and detail["defaults"] == ["Reject"]

    # The price rises after the repriced field was quoted (OneAtlas changes its prices).
    request = urllib.request.Request(
        f"{sandbox_process.base_url}/_sandbox/config",
        data=json.dumps({"credits_per_km2": 25.0}).encode(),
        headers={"Content-Type": "application/json"},
        method="PATCH",
    )
    urllib.request.urlopen(request, timeout=30).close()
    respond(airflow, "repriced.approve", "Approve")
    wait_for("the repriced order to be refused", lambda: state("repriced.order") == "failed", 300, airflow, 2)
    request = urllib.request.Request(
        f"{sandbox_process.base_url}/_sandbox/config",
        data=json.dumps({"credits_per_km2": 10.0}).encode(),
        headers={"Content-Type": "application/json"},
        method="PATCH",
    )
    urllib.request.urlopen(request, timeout=30).close()
    assert order_posts(sandbox_process) == []

    respond(airflow, "rejected.approve", "Reject")
    respond(airflow, "approved.approve", "Approve")
    wait_for("the approved order", lambda: state("approved.order") in ("success", "failed"), 300, airflow, 2)
    assert state("approved.order") == "success", airflow.diagnostics()
    wait_for("the rejected order to be skipped", lambda: state("rejected.order") == "skipped", 120, airflow, 2)

    # Nobody answers the last one: after the timeout its default (Reject) applies.
    wait_for("the approval timeout", lambda: state("timedout.order") == "skipped", TIMEOUT_SECONDS + 120, airflow, 3)
    assert state("timedout.approve") == "success"

    orders = sandbox_process.state["orders"]
    assert len(order_posts(sandbox_process)) == 1 and len(orders) == 1
    approved = quotes["approved"]
    assert orders[0]["productIds"] == approved["image_ids"]
    assert orders[0]["price"] == approved["credits"]
    assert len(sandbox_process.state["debits"]) == 1
    for field in ("rejected", "timedout"):
        # The approval skips the order; the scheduler then skips what follows it, a moment later.
        for step in ("wait", "download"):
            wait_for(f"{field}.{step} to be skipped", lambda t=f"{field}.{step}": state(t) == "skipped", 60, airflow, 2)
    assert len(order_posts(sandbox_process)) == 1  # and still nothing more was ordered
