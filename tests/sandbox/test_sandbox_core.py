"""The sandbox's core: auth, account, prices, orders, downloads, faults, request log, admin, CLI.

Every test talks real HTTP to a sandbox on 127.0.0.1 (random port); nothing is mocked.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import math
import time
import zipfile
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import requests

from airflow_provider_oneatlas.client.geometry import geodesic_area_km2, intersection_geojson
from airflow_provider_oneatlas.sandbox import cli
from airflow_provider_oneatlas.sandbox.config import ConfigError, SandboxConfig
from airflow_provider_oneatlas.sandbox.server import SandboxProcess, SandboxServer
from airflow_provider_oneatlas.sandbox.state import CONTRACT_ID, PRIVATE_WORKSPACE_ID
from tests.conftest import tutorial
from tests.sandbox.conftest import (
    SANDBOX_KEY,
    TOKEN_PATH,
    TOULOUSE,
    TUTORIAL_PRICE_ITEM,
    Api,
    MakeApi,
    MakeSandbox,
    order_body,
    product,
)
from tests.sandbox.http import ERROR_KEYS

TUTORIAL_HOST = "https://data.api.oneatlas.airbus.com"
PUBLIC_ITEM = "e459d653-468f-471b-8d6e-90b13b14c655"  # first feature of the tutorial's search sample


def rehost(value: Any, base: str) -> Any:
    if isinstance(value, dict):
        return {key: rehost(item, base) for key, item in value.items()}
    if isinstance(value, list):
        return [rehost(item, base) for item in value]
    if isinstance(value, str) and value.startswith(TUTORIAL_HOST):
        return base + value[len(TUTORIAL_HOST) :]
    return value


def assert_error(answer: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    shown = answer.text[:500] if "json" in answer.headers.get("content-type", "") else answer.headers
    assert answer.status_code == status, shown
    body: dict[str, Any] = answer.json()
    assert set(body) == ERROR_KEYS
    assert answer.headers["X-Ads-Correlation-Id"] == body["correlationId"]
    for word in words:
        assert word in body["message"], body
    return body


def token_form(**overrides: str) -> dict[str, str]:
    return {"apikey": SANDBOX_KEY, "grant_type": "api_key", "client_id": "IDP", **overrides}


# -- authentication ---------------------------------------------------------------------------------


def test_token_answer_has_the_tutorial_shape(api: Api) -> None:
    answer = api.http.post(TOKEN_PATH, data=token_form())
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == set(tutorial("token.json"))
    assert body["expires_in"] == 3600
    assert body["refresh_expires_in"] == 0
    assert body["token_type"] == "bearer"
    assert len(body["access_token"]) >= 32
    assert api.http.post(TOKEN_PATH, data=token_form()).json()["access_token"] != body["access_token"]
    me = api.http.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200


def test_token_errors_are_keycloak_shaped(api: Api) -> None:
    bad_key = api.http.post(TOKEN_PATH, data=token_form(apikey="wrong"))
    assert bad_key.status_code == 401
    assert bad_key.json() == {"error": "invalid_grant", "error_description": "Invalid API key"}
    bad_grant = api.http.post(TOKEN_PATH, data=token_form(grant_type="password"))
    assert bad_grant.status_code == 400
    assert bad_grant.json()["error"] == "unsupported_grant_type"
    bad_client = api.http.post(TOKEN_PATH, data=token_form(client_id="other"))
    assert bad_client.status_code == 400
    assert bad_client.json()["error"] == "invalid_client"


def test_missing_bad_and_expired_tokens_answer_401(make_sandbox: MakeSandbox, make_api: MakeApi) -> None:
    server = make_sandbox(token_lifetime=0.5)
    api = make_api(server)
    assert api.http.post(TOKEN_PATH, data=token_form()).json()["expires_in"] == 1  # an int, at least 1
    assert_error(api.http.get("/api/v1/me"), 401)
    assert_error(api.http.get("/api/v1/me", headers={"Authorization": "Bearer nope"}), 401, "Invalid")
    api.new_token()
    assert api.get("/api/v1/me").status_code == 200
    time.sleep(0.7)
    expired = assert_error(api.get("/api/v1/me"), 401, "expired")
    assert expired["internalCode"] == "TOKEN_EXPIRED"
    api.new_token()
    assert api.get("/api/v1/me").status_code == 200


# -- account ----------------------------------------------------------------------------------------


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


# -- prices -----------------------------------------------------------------------------------------


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


# -- orders -----------------------------------------------------------------------------------------


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


# -- downloads --------------------------------------------------------------------------------------


def test_download_zip_headers_md5_and_content(api: Api, sandbox: SandboxServer) -> None:
    item_id, url = api.delivered_item()
    answer = api.get(url)
    assert answer.status_code == 200
    body = answer.content
    truth = api.admin("GET", f"/items/{item_id}/file").json()
    assert truth == {"md5": hashlib.md5(body).hexdigest(), "size": len(body)}
    assert len(body) == sandbox.state.config.download_size
    headers = answer.headers
    assert headers["Content-Type"] == "application/zip"
    assert headers["Content-Length"] == str(len(body))
    assert headers["Content-Disposition"] == f'attachment; filename="{item_id}.zip"'
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["X-Ads-Checksum-Method"] == "md5"
    assert headers["X-Ads-Checksum-Value"] == truth["md5"]
    assert headers["ETag"] == f'"{truth["md5"]}"'
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        names = archive.namelist()
        assert names == [f"{item_id}/DIM_{item_id}.XML", f"{item_id}/IMG_{item_id}_R1C1.JP2"]
        assert archive.testzip() is None
        assert all(info.compress_type == zipfile.ZIP_STORED for info in archive.infolist())
    # Deterministic: the same bytes again (served from the cache).
    assert hashlib.md5(api.get(url).content).hexdigest() == truth["md5"]


def test_download_head_and_ranges(api: Api) -> None:
    _, url = api.delivered_item()
    full = api.get(url).content
    size = len(full)
    head = api.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == str(size)
    assert head.headers["X-Ads-Checksum-Value"] == hashlib.md5(full).hexdigest()

    part = api.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 100-199/{size}"
    assert part.content == full[100:200]
    assert part.headers["X-Ads-Checksum-Value"] == hashlib.md5(full).hexdigest()  # of the whole file

    # Resuming: what a client already has + the rest = the whole file.
    rest = api.get(url, headers={"Range": f"bytes={size // 3}-"})
    assert rest.status_code == 206 and full[: size // 3] + rest.content == full
    suffix = api.get(url, headers={"Range": "bytes=-10"})
    assert suffix.status_code == 206 and suffix.content == full[-10:]
    beyond_end = api.get(url, headers={"Range": f"bytes={size - 5}-{size + 100}"})
    assert beyond_end.status_code == 206 and beyond_end.content == full[-5:]

    unsatisfiable = api.get(url, headers={"Range": f"bytes={size}-"})
    assert_error(unsatisfiable, 416)
    assert unsatisfiable.headers["Content-Range"] == f"bytes */{size}"
    # Several ranges or a stale If-Range: the whole file.
    assert api.get(url, headers={"Range": "bytes=0-1,5-6"}).status_code == 200
    stale = api.get(url, headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert stale.status_code == 200 and len(stale.content) == size


def test_download_ignores_range_when_ranges_are_off(make_sandbox: MakeSandbox, make_api: MakeApi) -> None:
    api = make_api(make_sandbox(ranges=False, download_size=64 * 1024))
    _, url = api.delivered_item()
    answer = api.get(url, headers={"Range": "bytes=0-9"})
    assert answer.status_code == 200
    assert len(answer.content) == 64 * 1024
    assert "Accept-Ranges" not in answer.headers and "Content-Range" not in answer.headers


def test_download_of_a_public_or_unknown_item_is_permission_denied(api: Api) -> None:
    for item_id in (PUBLIC_ITEM, TUTORIAL_PRICE_ITEM, "no-such-item"):
        for method in (api.get, api.head):
            answer = method(f"/api/v1/items/{item_id}/download")
            assert answer.status_code == 403
        assert_error(api.get(f"/api/v1/items/{item_id}/download"), 403, "permission denied")
    assert_error(api.http.get(f"/api/v1/items/{PUBLIC_ITEM}/download"), 401)


def test_drop_rate_cuts_the_body(make_sandbox: MakeSandbox, make_api: MakeApi) -> None:
    server = make_sandbox(drop_rate=1.0)
    api = make_api(server)
    item_id, url = api.delivered_item()
    size = api.admin("GET", f"/items/{item_id}/file").json()["size"]
    with pytest.raises(httpx.RemoteProtocolError):
        api.get(url)
    session = requests.Session()
    session.trust_env = False
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        session.get(url, headers=api.auth).content
    # The bytes that did arrive are the right ones.
    received = bytearray()
    with (
        pytest.raises(httpx.RemoteProtocolError),
        api.http.stream("GET", url, headers=api.auth) as stream,
    ):
        for chunk in stream.iter_bytes():
            received.extend(chunk)
    assert 0 < len(received) < size
    api.admin("PATCH", "/config", json={"drop_rate": 0})
    assert api.get(url).content[: len(received)] == bytes(received)
    state = api.admin("GET", "/state").json()
    assert state["fault_counts"]["drop"] == 3
    drops = [e for e in api.admin("GET", "/requests").json()["requests"] if e["fault"] == "drop"]
    assert len(drops) == 3 and all(e["bytes"] < size for e in drops)


def test_bandwidth_caps_each_download(make_sandbox: MakeSandbox, make_api: MakeApi) -> None:
    api = make_api(make_sandbox(bandwidth=1_000_000, download_size=500_000))
    _, url = api.delivered_item()
    api.head(url)  # build the zip first
    started = time.monotonic()
    assert len(api.get(url).content) == 500_000
    assert time.monotonic() - started >= 0.45


# -- faults, latency, request log -------------------------------------------------------------------


def test_injected_503_and_429(make_sandbox: MakeSandbox, make_api: MakeApi) -> None:
    server = make_sandbox(error_rate=1.0)
    api = make_api(server)
    answer = api.http.post(TOKEN_PATH, data=token_form())
    body = assert_error(answer, 503)
    assert body["internalCode"] == "SERVICE_UNAVAILABLE"
    assert api.admin("GET", "/health").status_code == 200  # admin paths are never faulted

    api.admin("PATCH", "/config", json={"error_rate": 0, "rate_limit_rate": 1, "retry_after": 0.2})
    limited = api.http.get("/api/v1/me")
    assert_error(limited, 429)
    assert limited.headers["Retry-After"] == "1"
    api.admin("PATCH", "/config", json={"retry_after": 2.5})
    assert api.http.get("/api/v1/me").headers["Retry-After"] == "3"
    assert api.admin("GET", "/state").json()["fault_counts"] == {"503": 1, "429": 2}

    api.admin("PATCH", "/config", json={"rate_limit_rate": 0})
    assert api.get("/api/v1/me").status_code == 200
    faults = [e["fault"] for e in api.admin("GET", "/requests").json()["requests"] if e["fault"]]
    assert faults == ["503", "429", "429"]


def test_fault_dice_are_seeded(make_sandbox: MakeSandbox, make_api: MakeApi) -> None:
    def statuses(seed: int) -> list[int]:
        api = make_api(make_sandbox(seed=seed, error_rate=0.5, catalog_size=10))
        return [api.http.get("/api/v1/me").status_code for _ in range(20)]

    first = statuses(7)
    assert first == statuses(7)
    assert set(first) == {401, 503}


def test_latency_is_added_to_api_answers(make_sandbox: MakeSandbox, make_api: MakeApi) -> None:
    api = make_api(make_sandbox(latency=0.3))
    started = time.monotonic()
    api.http.get("/api/v1/me")
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    api.admin("GET", "/health")
    assert time.monotonic() - started < 0.3


def test_request_log_has_no_secrets(api: Api) -> None:
    token = api.new_token()
    api.get("/api/v1/me", params={"apikey": SANDBOX_KEY, "page": "1"})
    api.order()
    api.http.get("/api/v1/me", headers={"X-Ads-Correlation-Id": "corr-123"})
    log = api.admin("GET", "/requests").json()
    text = json.dumps(log)
    assert SANDBOX_KEY not in text and token not in text and "Bearer" not in text
    entries = log["requests"]
    assert [e["index"] for e in entries] == list(range(len(entries)))
    me = next(e for e in entries if e["path"] == "/api/v1/me" and e["query"])
    assert me["query"] == "apikey=%2A%2A%2A&page=1"
    assert me["method"] == "GET" and me["status"] == 200 and me["bytes"] > 0 and me["fault"] is None
    assert {"method", "path", "query", "status", "time", "duration", "bytes", "fault"} <= set(me)
    since = api.admin("GET", "/requests", params={"since": log["next"]}).json()
    assert since["requests"] == [] or since["requests"][0]["index"] == log["next"]


def test_correlation_id_is_echoed(api: Api) -> None:
    answer = api.http.get("/api/v1/me", headers={"X-Ads-Correlation-Id": "my-corr-id"})
    assert answer.json()["correlationId"] == "my-corr-id"
    assert answer.headers["X-Ads-Correlation-Id"] == "my-corr-id"


# -- admin ------------------------------------------------------------------------------------------


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


# -- configuration sources, CLI ---------------------------------------------------------------------


def test_config_from_env_and_flags() -> None:
    env = {"ONEATLAS_SANDBOX_ERROR_RATE": "0.1", "ONEATLAS_SANDBOX_RANGES": "false", "ONEATLAS_SANDBOX_API_KEYS": "a,b"}
    config = SandboxConfig.from_env(env)
    assert config.error_rate == 0.1 and config.ranges is False and config.api_keys == ("a", "b")
    args = cli.build_parser().parse_args(["--error-rate", "0.3", "--bandwidth", "1000", "--ranges"])
    from_args = SandboxConfig.from_args(args, env)
    assert from_args.error_rate == 0.3 and from_args.bandwidth == 1000.0 and from_args.ranges is True
    assert from_args.api_keys == ("a", "b")
    rebuilt = SandboxConfig.from_args(cli.build_parser().parse_args(from_args.to_cli_args()), {})
    assert rebuilt == from_args
    with pytest.raises(ConfigError, match="drop_rate"):
        SandboxConfig(drop_rate=1.5)
    with pytest.raises(ConfigError, match="unknown"):
        SandboxConfig.from_env({}).replace({"colour": "red"})


def test_cli_refuses_remote_hosts(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--host", "0.0.0.0", "--port", "0"])  # refused before binding
    assert exit_info.value.code == 2
    assert "--allow-remote" in capsys.readouterr().err
    with pytest.raises(ValueError, match="loopback"):
        SandboxServer(host="0.0.0.0")


def test_cli_in_a_process_prints_the_banner_and_serves() -> None:
    config = SandboxConfig(processing_after=0.0, delivered_after=0.0, download_size=100_000, catalog_size=100)
    with SandboxProcess(config) as process:
        base = process.base_url
        assert base.startswith("http://127.0.0.1:") and process.port > 0
        lines = process.output.splitlines()
        assert lines[0] == f"OneAtlas sandbox listening on {base} (API key: {SANDBOX_KEY})"
        expected_conn = json.dumps({"conn_type": "oneatlas", "host": base, "password": SANDBOX_KEY})
        assert f"AIRFLOW_CONN_ONEATLAS_DEFAULT='{expected_conn}'" in lines[1]
        api = Api(base)
        try:
            order = api.order()
            delivered = api.wait_status(order["id"], {"delivered"})
            url = delivered["deliveries"][0]["_links"]["download"]["href"]
            body = api.get(url).content
            assert len(body) == 100_000
            assert process.state["balance"] == 100000 - order["price"]
            assert process.state["delivered_items"] == [url.rsplit("/", 2)[-2]]
        finally:
            api.close()
        pid = process.pid
    assert process.process is None and pid is not None


# -- robustness -------------------------------------------------------------------------------------


def test_concurrent_orders_each_debit_once(api: Api) -> None:
    from concurrent.futures import ThreadPoolExecutor

    api.new_token()
    with ThreadPoolExecutor(8) as pool:
        prices = list(pool.map(lambda _: api.order()["price"], range(12)))
    state = api.admin("GET", "/state").json()
    assert len(state["orders"]) == 12 and len({o["id"] for o in state["orders"]}) == 12
    assert state["balance"] == 100000 - sum(prices)
    assert sorted(-d["credits"] for d in state["debits"]) == sorted(prices)


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
