"""The sandbox's past orders (``order_history``) and the sort of the order list (``order_list_order``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_oneatlas.sandbox.config import ConfigError, SandboxConfig
from airflow_provider_oneatlas.sandbox.server import SandboxServer
from tests.sandbox.conftest import Api, order_body

MakeSandbox = Callable[..., SandboxServer]
MakeApi = Callable[[SandboxServer], Api]


def test_history_is_delivered_and_older_than_new_orders(make_sandbox: MakeSandbox, make_api: MakeApi) -> None:
    api = make_api(make_sandbox(order_history=1200, processing_after=0.0, delivered_after=3600.0))
    new = api.order(order_body())["id"]

    newest = api.get("/api/v1/orders", params={"itemsPerPage": 500}).json()
    assert newest["totalResults"] == 1201 and newest["items"][0]["id"] == new
    assert {o["status"] for o in newest["items"][1:]} == {"delivered"}
    assert all(o["deliveries"] == [] for o in newest["items"][1:])  # nothing to download
    # The pending filter sees only the new order, whatever the history.
    pending = api.get("/api/v1/orders", params={"status": "ordered,processing"}).json()
    assert [o["id"] for o in pending["items"]] == [new] and pending["totalResults"] == 1

    api.admin("PATCH", "/config", json={"order_list_order": "oldest"})
    oldest = api.get("/api/v1/orders", params={"itemsPerPage": 500, "page": 3}).json()
    assert [o["id"] for o in oldest["items"]][-1] == new and oldest["startIndex"] == 1000
    first = api.get("/api/v1/orders", params={"itemsPerPage": 2}).json()["items"]
    assert first[0]["createdAt"] < first[1]["createdAt"]

    api.admin("POST", "/reset")  # the history comes back with a reset, the new order does not
    assert api.get("/api/v1/orders", params={"itemsPerPage": 1}).json()["totalResults"] == 1200


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"order_history": -1}, "order_history"), ({"order_list_order": "random"}, "order_list_order")],
)
def test_bad_values_name_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        SandboxConfig().replace(changes)
