"""The admin routes under ``/_sandbox`` (``airflow_provider_oneatlas.sandbox.admin``): reset, config, item files,
and the clock (``GET``/``POST /_sandbox/clock``) with what follows it: order dates, debits, deliveries.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from airflow_provider_oneatlas.sandbox.config import SandboxConfig
from airflow_provider_oneatlas.sandbox.server import SandboxServer
from tests.sandbox.conftest import (
    TUTORIAL_PRICE_ITEM,
    Api,
    MakeApi,
    MakeSandbox,
    order_body,
)
from tests.sandbox.http import START, assert_error


@pytest.fixture
def pinned(make_sandbox: MakeSandbox, make_api: MakeApi) -> Api:
    # Orders take an hour of real time: only the clock can deliver them within the test.
    server = make_sandbox(catalog_size=50, clock_start=START, clock_speed=0, processing_after=60, delivered_after=3600)
    return make_api(server)


def clock(api: Api, **body: Any) -> dict[str, Any]:
    answer = api.admin("POST", "/clock", json=body)
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def test_reset_gives_a_fresh_account_with_the_same_config(api: Api) -> None:
    api.admin("PATCH", "/config", json={"credits_per_km2": 1.0})
    _, url = api.delivered_item()
    assert api.get(url).status_code == 200
    assert api.admin("POST", "/reset").status_code == 200
    state = api.admin("GET", "/state").json()
    assert state["balance"] == 100000 and state["orders"] == [] and state["debits"] == []
    assert state["fault_counts"] == {} and state["delivered_items"] == []
    assert api.admin("GET", "/config").json()["credits_per_km2"] == 1.0
    assert api.get(url).status_code == 403  # the delivered item went with the old state
    assert api.get("/api/v1/orders").json()["totalResults"] == 0


def test_config_endpoints(api: Api, sandbox: SandboxServer) -> None:
    config = api.admin("GET", "/config").json()
    assert config == SandboxConfig(processing_after=0.2, delivered_after=0.4).to_dict()
    assert set(config) == set(SandboxConfig.field_names())
    patched = api.admin("PATCH", "/config", json={"error_rate": "0.25", "bandwidth": None, "consumption_mode": "tiles"})
    assert patched.status_code == 200
    assert patched.json()["error_rate"] == 0.25 and sandbox.state.config.consumption_mode == "tiles"
    assert_error(api.admin("PATCH", "/config", json={"nope": 1}), 400, "nope")
    assert_error(api.admin("PATCH", "/config", json={"error_rate": 2}), 400, "error_rate")
    assert_error(api.admin("PATCH", "/config", json={"order_outcome": "lost"}), 400, "order_outcome")
    assert sandbox.state.config.error_rate == 0.25


def test_catalog_settings_rebuild_the_catalog_and_keep_deliveries(api: Api, sandbox: SandboxServer) -> None:
    _, url = api.delivered_item()
    before = len(sandbox.state.catalog)
    api.admin("PATCH", "/config", json={"catalog_size": 50})
    assert len(sandbox.state.catalog) < before
    assert sandbox.state.catalog.get(TUTORIAL_PRICE_ITEM) is not None
    assert api.get(url).status_code == 200


def test_item_file_of_an_unknown_item_is_404(api: Api) -> None:
    assert api.admin("GET", "/items/no-such-item/file").status_code == 404
    assert api.admin("GET", "/health").json() == {"status": "ok"}


def test_get_set_and_advance_the_clock(pinned: Api) -> None:
    assert pinned.admin("GET", "/clock").json() == {
        "now": "2024-05-01T00:00:00.000000Z",
        "epoch": 1714521600.0,
        "speed": 0.0,
    }
    assert clock(pinned, advance=86_400)["now"] == "2024-05-02T00:00:00.000000Z"
    assert clock(pinned, advance=0.5)["now"] == "2024-05-02T00:00:00.500000Z"
    assert clock(pinned, now="2025-01-01T12:00:00+01:00")["now"] == "2025-01-01T11:00:00.000000Z"
    # Back in time is a set, not an advance.
    assert clock(pinned, now="2020-01-01")["now"] == "2020-01-01T00:00:00.000000Z"
    running = clock(pinned, speed=3600)
    assert running["speed"] == 3600
    time.sleep(0.05)
    assert pinned.admin("GET", "/clock").json()["epoch"] > running["epoch"] + 60


def test_the_default_clock_is_real_utc_time(sandbox: Any, make_api: MakeApi) -> None:
    document = make_api(sandbox).admin("GET", "/clock").json()
    assert abs(document["epoch"] - time.time()) < 5 and document["speed"] == 1.0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"now": "yesterday"}, "now"),
        ({"now": 1714521600}, "now"),
        ({"now": "2024-02-30T00:00:00Z"}, "now"),
        ({"advance": -60}, "advance"),
        ({"advance": "1d"}, "advance"),
        ({"advance": True}, "advance"),
        ({"speed": -1}, "speed"),
        ({"speed": 1e12}, "speed"),
        ({"advance": 1e300}, "advance"),
        ({"now": "0001-01-01T00:00:00Z"}, "now"),
        ({"now": "9999-12-31T00:00:00Z"}, "now"),
        ({"now": START, "advance": 60}, "advance"),
        ({"nwo": START}, "nwo"),
        ({}, "now"),
    ],
)
def test_bad_clock_input_is_a_clear_400_naming_the_field(pinned: Api, body: dict[str, Any], field: str) -> None:
    answer = pinned.admin("POST", "/clock", json=body)
    assert answer.status_code == 400, answer.text
    document = answer.json()
    assert document["message"].startswith(f"{field}: "), document
    assert document["internalCode"] == "INVALID_PARAMETER"
    assert "2024-05-01T00:00:00Z" in document["hint"]
    # Nothing moved.
    assert pinned.admin("GET", "/clock").json()["now"] == "2024-05-01T00:00:00.000000Z"


def test_a_nan_advance_is_refused(pinned: Api) -> None:
    answer = pinned.admin("POST", "/clock", content=b'{"advance": NaN}', headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.json()["message"].startswith("advance: ")


def test_a_clock_body_that_is_not_an_object_is_refused(pinned: Api) -> None:
    answer = pinned.admin("POST", "/clock", content=b"[1]", headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and "JSON object" in answer.json()["message"]


def test_orders_are_dated_on_the_clock_and_delivered_by_advancing_it(pinned: Api) -> None:
    order = pinned.order()
    assert order["createdAt"] == "2024-05-01T00:00:00.000000+00:00"
    assert pinned.get(f"/api/v1/orders/{order['id']}").json()["status"] == "ordered"
    clock(pinned, advance=120)
    processing = pinned.get(f"/api/v1/orders/{order['id']}").json()
    assert processing["status"] == "processing"
    assert processing["updatedAt"] == "2024-05-01T00:01:00.000000+00:00"  # processing_after on the clock
    clock(pinned, advance=86_400)
    delivered = pinned.get(f"/api/v1/orders/{order['id']}").json()
    assert delivered["status"] == "delivered"
    assert delivered["createdAt"] == "2024-05-01T00:00:00.000000+00:00"
    assert delivered["updatedAt"] == "2024-05-01T01:00:00.000000+00:00"  # delivered_after on the clock
    # The delivered item is published at delivery, on the clock, and found in the private workspace.
    item_id = delivered["deliveries"][0]["_links"]["download"]["href"].rsplit("/", 2)[-2]
    found = pinned.post("/api/v1/opensearch", json={"workspace": "private", "id": item_id}).json()
    assert found["features"][0]["properties"]["publicationDate"] == "2024-05-01T01:00:00.000000+00:00"
    state = pinned.admin("GET", "/state").json()
    assert state["clock"] == pinned.admin("GET", "/clock").json()
    assert state["debits"][0]["at"] == "2024-05-01T00:00:00.000000+00:00"
    assert state["orders"][0]["createdAt"] == "2024-05-01T00:00:00.000000+00:00"


def test_order_history_spans_simulated_months(pinned: Api) -> None:
    """What a "credits spent this month" report reads: orders dated on the clock, across months."""
    first = pinned.order(order_body(tags=["may"]))
    clock(pinned, now="2024-06-03T08:00:00Z")
    second = pinned.order(order_body(tags=["june"]))
    listed = pinned.get("/api/v1/orders").json()["items"]
    dates = {item["id"]: item["createdAt"][:7] for item in listed}
    assert dates == {first["id"]: "2024-05", second["id"]: "2024-06"}


def test_a_stopped_clock_does_not_hold_orders_back(make_sandbox: MakeSandbox, make_api: MakeApi) -> None:
    api = make_api(make_sandbox(catalog_size=20, clock_start=START, clock_speed=0))
    order = api.order()
    delivered = api.wait_status(order["id"], {"delivered"})
    # Real seconds delivered it; its dates cannot be later than the clock's now.
    assert delivered["updatedAt"] == delivered["createdAt"] == "2024-05-01T00:00:00.000000+00:00"


def test_reset_puts_the_clock_back_to_its_configured_start(pinned: Api) -> None:
    clock(pinned, advance=10 * 86_400)
    assert pinned.admin("POST", "/reset").status_code == 200
    assert pinned.admin("GET", "/clock").json()["now"] == "2024-05-01T00:00:00.000000Z"


def test_clock_settings_at_runtime_through_the_config(pinned: Api) -> None:
    answer = pinned.admin("PATCH", "/config", json={"clock_start": "2023-01-01T00:00:00Z"})
    assert answer.status_code == 200, answer.text
    assert pinned.admin("GET", "/clock").json()["now"] == "2023-01-01T00:00:00.000000Z"
    bad = pinned.admin("PATCH", "/config", json={"clock_start": "soon"})
    assert bad.status_code == 400 and bad.json()["message"].startswith("clock_start")
    assert pinned.admin("PATCH", "/config", json={"clock_speed": 2}).status_code == 200
    assert pinned.admin("GET", "/clock").json()["speed"] == 2
