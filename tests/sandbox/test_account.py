"""The account documents (``airflow_provider_oneatlas.sandbox.account``): me, subscriptions, offers."""

from __future__ import annotations

from typing import Any

from airflow_provider_oneatlas.sandbox.server import SandboxServer
from airflow_provider_oneatlas.sandbox.state import CONTRACT_ID
from tests.conftest import tutorial
from tests.sandbox.conftest import (
    Api,
    MakeApi,
    MakeSandbox,
    order_body,
)
from tests.sandbox.http import assert_error

TUTORIAL_HOST = "https://data.api.oneatlas.airbus.com"


def rehost(value: Any, base: str) -> Any:
    if isinstance(value, dict):
        return {key: rehost(item, base) for key, item in value.items()}
    if isinstance(value, list):
        return [rehost(item, base) for item in value]
    if isinstance(value, str) and value.startswith(TUTORIAL_HOST):
        return base + value[len(TUTORIAL_HOST) :]
    return value


def test_me_is_the_tutorial_document_with_the_live_balance(api: Api, sandbox: SandboxServer) -> None:
    answer = api.get("/api/v1/me")
    assert answer.status_code == 200
    expected = rehost(tutorial("me.json"), sandbox.base_url)
    expected["contract"]["balance"] = 100000
    assert answer.json() == expected
    assert list(answer.json()["contract"]) == list(expected["contract"])
    price = api.order()["price"]
    assert api.get("/api/v1/me").json()["contract"]["balance"] == 100000 - price


def test_subscriptions_are_the_tutorial_items(api: Api, sandbox: SandboxServer) -> None:
    answer = api.get(f"/api/v1/contracts/{CONTRACT_ID}/subscriptions")
    assert answer.status_code == 200
    body = answer.json()
    expected = rehost(tutorial("subscriptions.json"), sandbox.base_url)
    assert body["items"] == expected["items"]
    assert body["totalResults"] == len(body["items"]) == 2
    assert {key: body[key] for key in ("startIndex", "itemsPerPage")} == {"startIndex": 0, "itemsPerPage": 10}
    assert_error(api.get("/api/v1/contracts/ff731b8d-0000-0000-0000-000000000000/subscriptions"), 404)


def test_tiles_subscription_offers_order_product(make_sandbox: MakeSandbox, make_api: MakeApi) -> None:
    api = make_api(make_sandbox(consumption_mode="tiles"))
    data = api.get(f"/api/v1/contracts/{CONTRACT_ID}/subscriptions").json()["items"][1]
    assert data["consumptionMode"] == "tiles"
    assert data["offers"] == ["order.product"]
    refused = api.post("/api/v1/orders", json=order_body("order.data.gb.product"))
    assert_error(refused, 400, "kind")
    assert api.post("/api/v1/orders", json=order_body("order.product")).status_code == 201
