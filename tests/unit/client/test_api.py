"""client/api.py: the request builders and the parsers, fed the tutorial's own answers
(tests/fixtures/tutorial). Pure: no request is sent here (tests/unit/client/test_client.py sends them)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_oneatlas.client import api
from airflow_provider_oneatlas.client.errors import (
    ApiError,
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ResponseError,
    ServerError,
    ValidationError,
)
from airflow_provider_oneatlas.client.models import ORDER_KIND_GB, ORDER_KIND_TILES, Subscription
from tests.conftest import tutorial

ITEM = "e459d653-468f-471b-8d6e-90b13b14c655"


def test_token_call_is_the_tutorials_form_and_parses_its_answer() -> None:
    call = api.token_call("my-key")
    assert (call.method, call.service, call.path) == ("POST", "auth", api.TOKEN_PATH)
    assert call.form == {"apikey": "my-key", "grant_type": "api_key", "client_id": "IDP"}
    assert call.authenticated is False
    token = api.parse_token(tutorial("token.json"))
    assert token.access_token == "<access_token>" and token.expires_in == 3600 and token.token_type == "bearer"
    with pytest.raises(ResponseError):
        api.parse_token({"expires_in": 3600})


def test_me_parses_the_contract() -> None:
    account = api.parse_me(tutorial("me.json"))
    assert account.contract_id == "8b273bd7-5626-4ef3-80cf-c4fc33191083" and account.balance == 1341
    assert account.workspace_id == "148eebbd-a9b9-4cf6-97d3-87237901a7b9" and account.offers[0] == "order.product"
    assert api.parse_me(tutorial("me_balance.json")).balance == 3741
    with pytest.raises(ResponseError, match="balance"):
        api.parse_me({"contract": {"id": "c", "workspaceId": "w"}})


def test_subscriptions_decide_the_kind() -> None:
    call = api.subscriptions_call("8b273bd7-5626-4ef3-80cf-c4fc33191083")
    assert call.path == "/api/v1/contracts/8b273bd7-5626-4ef3-80cf-c4fc33191083/subscriptions"
    subs = api.parse_subscriptions(tutorial("subscriptions.json"))
    assert len(subs) == 2 and all(s.is_active for s in subs)
    assert api.order_kind_for(subs) == ORDER_KIND_GB
    tiles = Subscription("s", "k", "active", "tiles", (), None, None, None, raw={})
    inactive_gb = Subscription("s", "k", "ended", "gb", (ORDER_KIND_GB,), None, None, None, raw={})
    assert api.order_kind_for([tiles, inactive_gb]) == ORDER_KIND_TILES
    assert api.order_kind_for([]) == ORDER_KIND_TILES
    with pytest.raises(ValidationError):
        api.subscriptions_call("../other")


def test_search_call_and_the_tutorials_features() -> None:
    call = api.search_call({"itemsPerPage": 10}, api_version=2)
    assert (call.method, call.service, call.path, call.json_body) == (
        "POST",
        "search",
        "/api/v2/opensearch",
        {"itemsPerPage": 10},
    )
    with pytest.raises(ValidationError):
        api.search_call({}, api_version=3)
    page = api.parse_search(tutorial("search.json"))
    first = page.features[0]
    assert first.id == ITEM and first.cloud_cover == 61.4 and first.constellation == "SPOT"
    assert first.acquisition_date == "2018-08-27T16:29:21.124Z" and first.footprint and first.footprint["type"]
    assert first.links["quicklook"].endswith(f"/api/v1/items/{ITEM}/quicklook")
    assert page.total_results == len(page.features) == 3  # no totalResults in the sample: counted
    json.dumps(first.to_dict())


@pytest.mark.parametrize(
    "doc",
    [
        [],
        {"features": "x"},
        {"features": [1]},
        {"features": [{"properties": {}}]},
        {"features": [], "totalResults": "x"},
    ],
)
def test_search_answers_that_do_not_parse(doc: Any) -> None:
    with pytest.raises(ResponseError):
        api.parse_search(doc)


def test_list_valued_links_keep_their_http_entry() -> None:
    feature = {
        "properties": {"id": "abc-123"},
        "_links": {
            "download": [{"href": "s3://x", "type": "S3"}, {"href": "https://h/dl", "type": "HTTP", "name": "download"}]
        },
    }
    assert api.parse_feature(feature).links == {"download": "https://h/dl"}


def test_price_of_the_tutorial() -> None:
    body = tutorial("price.json")["payload"]
    call = api.price_call(body)
    assert (call.method, call.path, call.idempotent) == ("POST", "/api/v1/prices", True)
    price = api.parse_price(tutorial("price.json"))
    assert price.credits == 377 and price.area_km2 == 37.75 and price.is_orderable
    assert price.deliveries[0].source_id == "DS_PHR1B_201801080119199_FR1_PX_E133S26_0203_00541"
    with pytest.raises(ResponseError):
        api.parse_price({"price": {"areaKm2": 3}})


def test_order_calls_and_the_tutorials_order() -> None:
    create = api.create_order_call({"kind": "order.product"})
    assert (create.method, create.path, create.idempotent) == ("POST", "/api/v1/orders", False)
    assert api.get_order_call("abc-123").path == "/api/v1/orders/abc-123"
    with pytest.raises(ValidationError):
        api.get_order_call("../../x")
    order = api.parse_order(tutorial("order.json"))
    assert order.id == "xxxxxx-yyyyyy-zzzzzz-vvvvvv-wwwwww" and order.status == "ordered" and order.price == 377
    assert order.kind == "order.product" and order.product_ids == ("xxxxxx-yyyyyy-zzzzzz-vvvvvv-wwwwww",)
    assert order.url and order.url.endswith("/api/v1/orders/xxxxxx-yyyyyy-zzzzzz-vvvvvv-wwwwww")


def test_a_delivered_order_gives_its_download_links() -> None:
    doc = tutorial("order.json") | {
        "status": "DELIVERED",
        "deliveries": [
            {
                "id": "d1",
                "status": "delivered",
                "_links": {"download": {"href": f"https://data/api/v1/items/{ITEM}/download"}},
            }
        ],
    }
    order = api.parse_order(doc)
    assert order.is_delivered and order.deliveries[0].item_id == ITEM
    assert order.to_dict()["deliveries"][0]["download_url"].endswith("/download")


@pytest.mark.parametrize(
    "doc", [[], {"status": "ordered"}, {"id": "x"}, {"id": "x", "status": "ordered", "deliveries": {"d": 1}}]
)
def test_order_answers_that_do_not_parse(doc: Any) -> None:
    with pytest.raises(ResponseError):
        api.parse_order(doc)


def test_list_orders_call_params() -> None:
    call = api.list_orders_call(
        status=["delivered", "failed"], customer_ref="ref-1", tags=["farm"], page=2, items_per_page=500
    )
    assert call.params == {
        "status": "delivered,failed",
        "customerRef": "ref-1",
        "tags": "farm",
        "page": 2,
        "itemsPerPage": 500,
    }
    for kwargs in ({"status": "done"}, {"page": 0}, {"items_per_page": 501}, {"customer_ref": ""}):
        with pytest.raises(ValidationError):
            api.list_orders_call(**kwargs)
    page = api.parse_order_list({"items": [tutorial("order.json")], "totalResults": 7})
    assert page.total_results == 7 and page.orders[0].status == "ordered"


def test_view_calls() -> None:
    call = api.quicklook_call(ITEM, 64)
    assert (call.service, call.path, call.params) == ("view", f"/api/v1/items/{ITEM}/quicklook", {"width": 64})
    assert api.thumbnail_call(ITEM).params is None
    assert api.wmts_capabilities_call(ITEM).path == f"/api/v1/items/{ITEM}/wmts"
    caps = api.parse_wmts_capabilities(tutorial("wmts.xml"))
    assert caps.tile_matrices and "{TileMatrix}" in caps.tile_url_template
    assert "{" not in caps.tile_url(12, 3, 4)
    with pytest.raises(ResponseError):
        api.parse_wmts_capabilities("<not xml")


def test_download_call() -> None:
    assert api.download_call(ITEM).path == f"/api/v1/items/{ITEM}/download"
    assert (
        api.download_call(url="https://data.api.oneatlas.airbus.com/x").url == "https://data.api.oneatlas.airbus.com/x"
    )
    with pytest.raises(ValidationError):
        api.download_call()


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (429, RateLimitedError),
        (503, ServerError),
        (400, ApiError),
    ],
)
def test_parse_error_classes_and_fields(status: int, cls: type[ApiError]) -> None:
    body = json.dumps({"message": "nope", "hint": "fix it", "internalCode": "E1", "correlationId": "c-1"})
    err = api.parse_error(status, body.encode(), {"Retry-After": "7"}, method="GET", url="https://h/x")
    assert type(err) is cls and err.status_code == status and err.hint == "fix it" and err.correlation_id == "c-1"
    assert err.retry_after == 7.0 and "GET https://h/x" in str(err) and "[correlationId c-1]" in str(err)


def test_secrets_are_scrubbed_from_errors() -> None:
    body = b'{"message": "bad token Bearer abc.def-ghi for apikey=my-secret-key"}'
    err = api.parse_error(400, body, {}, secrets=["my-secret-key"])
    assert "abc.def-ghi" not in str(err) and "my-secret-key" not in str(err)
    refused = api.auth_refused_error(
        401, b'{"error_description": "invalid key my-secret-key"}', {}, "https://a/t", "my-secret-key"
    )
    assert "my-secret-key" not in str(refused) and "password field" in str(refused)


def test_retry_after_forms() -> None:
    assert api.retry_after_seconds({"Retry-After": "3"}) == 3.0
    assert api.retry_after_seconds({"retry-after": "-3"}) == 0.0
    assert api.retry_after_seconds({}) is None
    assert api.retry_after_seconds({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # in the past
    assert api.retry_after_seconds({"Retry-After": "soon"}) is None
