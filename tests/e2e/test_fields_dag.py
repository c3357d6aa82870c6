"""``dag.test()`` of ``oneatlas_fields`` (three fields from the task-group factory) against the
sandbox: one budget for the whole run, quotes with stored quicklooks, approval within the threshold
without asking, the imagery landed."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from airflow_provider_oneatlas.client.budgets import run_tag
from tests.e2e.conftest import FOUND_RANGE, sandbox_get

pytestmark = [pytest.mark.e2e]

FIELDS = ("north", "south", "east")


def local(url: str) -> Path:
    return Path(urlsplit(url).path)


def conf(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    return {**FOUND_RANGE, "destination": tmp_path.as_uri() + "/", "poll_interval": 1, **overrides}


def test_one_run_budget_for_every_field(run_dag: Any, e2e_sandbox: Any, sandbox_conn: str, tmp_path: Path) -> None:
    result = run_dag("oneatlas_fields", conf(tmp_path, run_budget_credits=450, approval_above_credits=100000))
    states = result.task_states()
    quotes = {f: result.xcom(f"{f}.quote") for f in FIELDS}
    # Every quote shows the price, the balance and what each budget has left, and links its quicklooks.
    for quote in quotes.values():
        assert quote["credits"] > 0 and quote["balance"] > 0
        assert {b["name"] for b in quote["budgets"]} == {"period_budget", "run_budget"}
        for image in quote["images"]:
            assert local(image["quicklook"]).is_file() and image["acquisition_date"] and image["coverage"] > 0.5
    assert sum(q["credits"] for q in quotes.values()) > 450, "the fields must not all fit in the budget"
    ordered = [f for f in FIELDS if states[f"{f}.order"] == "success"]
    refused = [f for f in FIELDS if states[f"{f}.order"] == "failed"]
    assert ordered and refused and len(ordered) + len(refused) == 3, states
    assert result.state == "failed"  # a field over the budget fails its order task, visibly

    state = sandbox_get(e2e_sandbox.base_url, "/_sandbox/state")
    tag = run_tag("oneatlas_fields", result.run_id)
    assert all(tag in o["tags"] and "fields" in o["tags"] for o in state["orders"])
    assert sum(o["price"] for o in state["orders"]) <= 450
    assert len(state["orders"]) == len(ordered)
    for field in ordered:
        assert states[f"{field}.approve"] == "success" and result.xcom(f"{field}.approve")["approved"] is True
        assert states[f"{field}.download"] == "success"
        stored = result.xcom(f"{field}.download")
        assert stored and all(local(s["path"]).is_file() for s in stored)
