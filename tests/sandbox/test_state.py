"""The sandbox's memory (``airflow_provider_oneatlas.sandbox.state``): orders over time, deliveries, request log."""

from __future__ import annotations

import time

import pytest

from airflow_provider_oneatlas.sandbox.state import PRIVATE_WORKSPACE_ID
from tests.sandbox.conftest import (
    Api,
    MakeApi,
    MakeSandbox,
)


def test_many_orders_reach_their_outcome_without_being_polled(make_sandbox: MakeSandbox, make_api: MakeApi) -> None:
    server = make_sandbox(processing_after=0.3, delivered_after=0.3, balance=10**7)
    api = make_api(server)
    ids = [api.order()["id"] for _ in range(30)]
    time.sleep(0.4)
    api.get("/api/v1/me")  # any API call brings due orders up to date
    statuses = {o["id"]: o["status"] for o in server.state.snapshot()["orders"]}
    assert all(statuses[order_id] == "delivered" for order_id in ids)
    assert len(server.state.delivered_items) == 30


def test_delivered_items_are_found_in_the_private_workspace(api: Api) -> None:
    item_id, _ = api.delivered_item()
    found = api.post("/api/v1/opensearch", json={"workspace": PRIVATE_WORKSPACE_ID, "itemsPerPage": 10}).json()
    assert [f["properties"]["id"] for f in found["features"]] == [item_id]
    properties = found["features"][0]["properties"]
    assert properties["workspaceName"] == "private" and properties["processingLevel"] == "ORTHO"


def test_request_log_keeps_the_latest_entries(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_oneatlas.sandbox import state as state_module

    monkeypatch.setattr(state_module, "REQUEST_LOG_LIMIT", 20)
    for _ in range(45):
        api.admin("GET", "/health")
    log = api.admin("GET", "/requests").json()
    indexes = [entry["index"] for entry in log["requests"]]
    assert len(indexes) <= 20 and indexes == list(range(indexes[0], indexes[0] + len(indexes)))
    assert log["next"] == indexes[-1] + 1 >= 45
    tail = api.admin("GET", "/requests", params={"since": log["next"] - 3}).json()["requests"]
    assert [entry["index"] for entry in tail][:3] == list(range(log["next"] - 3, log["next"]))
    assert api.admin("GET", "/state").json()["request_count"] >= 46
