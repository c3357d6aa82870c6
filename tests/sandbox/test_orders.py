"""Prices and orders (``airflow_provider_oneatlas.sandbox.orders``), over real HTTP.

Prices are checked against areas computed independently (the client's own geometry code).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from airflow_provider_oneatlas.client.geometry import geodesic_area_km2, intersection_geojson
from airflow_provider_oneatlas.sandbox.config import ConfigError, SandboxConfig
from airflow_provider_oneatlas.sandbox.server import SandboxServer
from airflow_provider_oneatlas.sandbox.state import CONTRACT_ID, PRIVATE_WORKSPACE_ID
from tests.conftest import TUTORIAL_AOI as TOULOUSE
from tests.conftest import tutorial
from tests.sandbox.conftest import TUTORIAL_PRICE_ITEM, Api, MakeApi, MakeSandbox, order_body, product
from tests.sandbox.http import assert_error


def test_price_of_the_tutorial_aoi(api: Api, sandbox: SandboxServer) -> None:
    body = order_body()
    answer = api.post("/api/v1/prices", json=body)
    assert answer.status_code == 200, answer.text
    price = answer.json()
    sample = tutorial("price.json")
    assert list(price) == list(sample)
    assert set(price["deliveries"][0]) == set(sample["deliveries"][0])
    assert set(price["price"]) == set(sample["price"])
    assert price["payload"] == body
    assert price["feasibility"] == "automatic" and price["orderable"] == "ok"

    item = sandbox.state.catalog.get(TUTORIAL_PRICE_ITEM)
    assert item is not None and item["properties"]["processingLevel"] == "SENSOR"
    clipped = intersection_geojson(TOULOUSE, item["geometry"])
    area = geodesic_area_km2(clipped)
    credits = math.ceil(area * 10)
    delivery = price["deliveries"][0]
    assert delivery["areaKm2"] == round(area, 2)
    assert delivery["price"] == credits
    assert price["price"] == {"credits": credits, "areaKm2": round(area, 2)}
    source = item["properties"].get("parentIdentifier") or item["properties"]["sourceIdentifier"]
    assert delivery["datas"] == {**product(), "sourceId": source}
    # Pricing does not debit.
    assert api.get("/api/v1/me").json()["contract"]["balance"] == 100000


def test_price_follows_credits_per_km2_and_min_credits(make_sandbox: MakeSandbox, make_api: MakeApi) -> None:
    api = make_api(make_sandbox(credits_per_km2=1.0, min_credits=50000))
    assert api.post("/api/v1/prices", json=order_body()).json()["price"]["credits"] == 50000
    server = make_sandbox(credits_per_km2=2.5)
    item = server.state.catalog.get(TUTORIAL_PRICE_ITEM)
    assert item is not None
    area = geodesic_area_km2(intersection_geojson(TOULOUSE, item["geometry"]))
    price = make_api(server).post("/api/v1/prices", json=order_body()).json()
    assert price["price"]["credits"] == math.ceil(area * 2.5)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.update(kind="productOrder"), "kind"),
        (lambda b: b.pop("kind"), "kind"),
        (
            lambda b: b["products"][0].update(radiometricProcesing=b["products"][0].pop("radiometricProcessing")),
            "radiometricProcesing",
        ),
        (lambda b: b["products"][0].update(radiometricProcessing="FANCY"), "radiometricProcessing"),
        (lambda b: b["products"][0].update(productType="ortho"), "productType"),
        (lambda b: b["products"][0].update(imageFormat="image/png"), "imageFormat"),
        (lambda b: b["products"][0].update(crsCode="EPSG:4326"), "crsCode"),
        (lambda b: b["products"][0].update(crsCode="urn:ogc:def:crs:EPSG::32661"), "crsCode"),
        (lambda b: b["products"][0].pop("crsCode"), "crsCode"),
        (lambda b: b["products"][0].pop("aoi"), "aoi"),
        (lambda b: b["products"][0].update(aoi={"type": "Point", "coordinates": [1.3, 43.6]}), "aoi"),
        (lambda b: b["products"][0].update(aoi={"type": "Polygon", "coordinates": [1, 2, 3, 4]}), "aoi"),
        (lambda b: b.update(products=[]), "products"),
        (lambda b: b.update(tags=["not-letters"]), "tags"),
        (lambda b: b.update(customerRef=12), "customerRef"),
        (lambda b: b.update(extra=1), "extra"),
    ],
)
def test_price_validation_names_the_field(api: Api, mutate: Callable[[dict[str, Any]], Any], field: str) -> None:
    body = copy.deepcopy(order_body())
    mutate(body)
    for path in ("/api/v1/prices", "/api/v1/orders"):
        assert_error(api.post(path, json=body), 400, field)
    assert api.get("/api/v1/orders").json()["totalResults"] == 0


def test_price_needs_a_known_sensor_image_under_the_aoi(api: Api) -> None:
    assert_error(api.post("/api/v1/prices", content=b"{not json"), 400, "JSON")
    unknown = api.post("/api/v1/prices", json={"kind": "order.product", "products": [product(id="nope")]})
    assert_error(unknown, 404, "nope")
    far = {"type": "Polygon", "coordinates": [[[10, 10], [10.1, 10], [10.1, 10.1], [10, 10.1], [10, 10]]]}
    disjoint = api.post("/api/v1/prices", json={"kind": "order.product", "products": [product(aoi=far)]})
    assert_error(disjoint, 400, "aoi does not intersect the image")
    item_id, _ = api.delivered_item()  # delivered items are ORTHO
    ortho = api.post("/api/v1/prices", json={"kind": "order.product", "products": [product(id=item_id)]})
    assert_error(ortho, 400, "SENSOR")


def test_order_debits_once_and_follows_the_clock_to_delivered(api: Api, sandbox: SandboxServer) -> None:
    price = api.post("/api/v1/prices", json=order_body()).json()["price"]["credits"]
    body = order_body(customerRef="job-42", tags=["demo", "flood"])
    answer = api.post("/api/v1/orders", json=body)
    assert answer.status_code == 201, answer.text
    order = answer.json()
    sample = tutorial("order.json")
    assert set(sample) <= set(order)
    assert set(order["_links"]) == set(sample["_links"])
    assert order["_links"]["self"]["href"] == f"{sandbox.base_url}/api/v1/orders/{order['id']}"
    assert order["status"] == "ordered"
    assert order["kind"] == "order.product"
    assert order["contractId"] == CONTRACT_ID
    assert order["price"] == price
    assert order["payload"] == body
    assert order["customerRef"] == "job-42" and order["tags"] == ["demo", "flood"]
    assert "deliveries" not in order
    assert api.get("/api/v1/me").json()["contract"]["balance"] == 100000 - price

    processing = api.wait_status(order["id"], {"processing", "delivered"})
    delivered = api.wait_status(order["id"], {"delivered"})
    assert processing["status"] in ("processing", "delivered")
    assert delivered["updatedAt"] >= delivered["createdAt"]
    (delivery,) = delivered["deliveries"]
    assert delivery["status"] == "delivered"
    assert delivery["datas"]["id"] == TUTORIAL_PRICE_ITEM and "sourceId" in delivery["datas"]
    link = delivery["_links"]["download"]
    assert link["name"] == "Download" and link["type"] == "HTTP"
    assert link["href"].startswith(f"{sandbox.base_url}/api/v1/items/") and link["href"].endswith("/download")

    item_id = link["href"].rsplit("/", 2)[-2]
    item = sandbox.state.catalog.get(item_id)
    assert item is not None
    assert item["properties"]["workspaceId"] == PRIVATE_WORKSPACE_ID
    assert item["properties"]["workspaceName"] == "private"
    assert item["properties"]["processingLevel"] == "ORTHO"
    # The delivered image is the AOI clipped to the footprint: the priced area.
    assert geodesic_area_km2(item["geometry"]) == pytest.approx(delivered["price"] / 10, rel=0.01)
    # Delivery is deterministic and happens once: polling again changes nothing, debits stay one.
    assert api.get(f"/api/v1/orders/{order['id']}").json()["deliveries"] == delivered["deliveries"]
    debits = api.admin("GET", "/state").json()["debits"]
    assert [d["credits"] for d in debits] == [-price]


def test_identical_orders_are_two_orders_and_two_debits(api: Api) -> None:
    first, second = api.order(), api.order()
    assert first["id"] != second["id"]
    state = api.admin("GET", "/state").json()
    assert [d["credits"] for d in state["debits"]] == [-first["price"], -second["price"]]
    assert state["balance"] == 100000 - first["price"] - second["price"]


def test_insufficient_balance(make_sandbox: MakeSandbox, make_api: MakeApi) -> None:
    api = make_api(make_sandbox(balance=10))
    assert_error(api.post("/api/v1/orders", json=order_body()), 400, "insufficient balance")
    assert api.get("/api/v1/orders").json()["totalResults"] == 0
    assert api.admin("PATCH", "/config", json={"balance": 10**7}).status_code == 200
    assert api.post("/api/v1/orders", json=order_body()).status_code == 201


def test_unknown_order_is_a_404(api: Api) -> None:
    assert_error(api.get("/api/v1/orders/00000000-0000-0000-0000-000000000000"), 404)


def test_forced_failure_keeps_the_credits_and_carries_a_message(api: Api) -> None:
    order = api.order()
    forced = api.admin(
        "POST", f"/orders/{order['id']}/status", json={"status": "failed", "message": "Order failed: cloudy"}
    )
    assert forced.status_code == 200
    document = api.get(f"/api/v1/orders/{order['id']}").json()
    assert document["status"] == "failed"
    assert document["message"] == "Order failed: cloudy"
    assert "deliveries" not in document
    time.sleep(0.5)  # past delivered_after: a forced status no longer follows the clock
    assert api.get(f"/api/v1/orders/{order['id']}").json()["status"] == "failed"
    assert api.get("/api/v1/me").json()["contract"]["balance"] == 100000 - order["price"]
    assert_error(api.admin("POST", f"/orders/{order['id']}/status", json={"status": "lost"}), 400, "status")
    assert_error(api.admin("POST", "/orders/nope/status", json={"status": "failed"}), 404)


@pytest.mark.parametrize(("outcome", "refunded"), [("rejected", True), ("failed", False), ("error", False)])
def test_configured_outcome_and_refund_rule(
    make_sandbox: MakeSandbox,
    make_api: MakeApi,
    outcome: str,
    refunded: bool,
) -> None:
    api = make_api(make_sandbox(processing_after=0.05, delivered_after=0.1, order_outcome=outcome))
    order = api.order()
    final = api.wait_status(order["id"], {outcome})
    assert final["message"].lower().startswith(f"order {outcome}")
    assert "deliveries" not in final
    if outcome == "rejected":
        assert final["message"] == "Order rejected: image no longer available"
    balance = api.get("/api/v1/me").json()["contract"]["balance"]
    assert balance == (100000 if refunded else 100000 - order["price"])


def test_list_orders_filters_pages_newest_first(api: Api) -> None:
    ids = []
    for index in range(5):
        extra: dict[str, Any] = {"tags": ["batch"] + (["even"] if index % 2 == 0 else [])}
        if index == 3:
            extra["customerRef"] = "three"
        ids.append(api.order(order_body(**extra))["id"])
    api.admin("POST", f"/orders/{ids[0]}/status", json={"status": "rejected"})
    listing = api.get("/api/v1/orders").json()
    assert set(listing) == {"items", "totalResults", "startIndex", "itemsPerPage"}
    assert [o["id"] for o in listing["items"]] == ids[::-1]
    assert listing["totalResults"] == 5 and listing["itemsPerPage"] == 50 and listing["startIndex"] == 0

    page2 = api.get("/api/v1/orders", params={"page": 2, "itemsPerPage": 2}).json()
    assert [o["id"] for o in page2["items"]] == [ids[2], ids[1]]
    assert page2["startIndex"] == 2 and page2["totalResults"] == 5
    assert api.get("/api/v1/orders", params={"page": 9}).json()["items"] == []

    def found(**params: Any) -> list[str]:
        return [o["id"] for o in api.get("/api/v1/orders", params=params).json()["items"]]

    assert found(tags="batch,even") == [ids[4], ids[2], ids[0]]
    assert found(tags="even,nothere") == []
    assert found(customerRef="three") == [ids[3]]
    assert found(status="rejected") == [ids[0]]
    assert found(kind="order.product") == ids[::-1]
    assert found(kind="order.data.gb.product") == []
    assert_error(api.get("/api/v1/orders", params={"itemsPerPage": 501}), 400, "itemsPerPage")
    assert_error(api.get("/api/v1/orders", params={"page": 0}), 400, "page")
    assert_error(api.get("/api/v1/orders", params={"status": "lost"}), 400, "status")
    assert api.get("/api/v1/orders", params={"itemsPerPage": 500}).status_code == 200


def test_order_response_delay_records_before_answering(make_sandbox: MakeSandbox, make_api: MakeApi) -> None:
    server = make_sandbox(order_response_delay=2.0)
    api = make_api(server)
    with pytest.raises(httpx.ReadTimeout):
        api.post("/api/v1/orders", json=order_body(), timeout=0.5)
    # The client gave up, but the order exists and was paid for.
    state = api.admin("GET", "/state").json()
    assert len(state["orders"]) == 1
    assert state["balance"] == 100000 - state["orders"][0]["price"]


def test_concurrent_orders_each_debit_once(api: Api) -> None:
    from concurrent.futures import ThreadPoolExecutor

    api.new_token()
    with ThreadPoolExecutor(8) as pool:
        prices = list(pool.map(lambda _: api.order()["price"], range(12)))
    state = api.admin("GET", "/state").json()
    assert len(state["orders"]) == 12 and len({o["id"] for o in state["orders"]}) == 12
    assert state["balance"] == 100000 - sum(prices)
    assert sorted(-d["credits"] for d in state["debits"]) == sorted(prices)


# -- the account's past orders (order_history) and the sort of the order list (order_list_order) --


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
def test_bad_history_settings_name_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        SandboxConfig().replace(changes)
