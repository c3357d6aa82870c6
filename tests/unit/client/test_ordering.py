"""client/ordering.py: an order placed exactly once within a budget, waiting for it, and reading its
status. Against the sandbox over HTTP, and with requests-mock where a failure must be injected exactly
(a lost POST answer, a price over the budget) and the requests sent must be counted one by one."""

from __future__ import annotations

import copy
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import requests_mock

from airflow_provider_oneatlas.client import api, ordering
from airflow_provider_oneatlas.client.client import OneAtlasClient
from airflow_provider_oneatlas.client.config import DEFAULT_SERVICE_URLS, ClientConfig, RetryPolicy
from airflow_provider_oneatlas.client.errors import (
    BudgetExceededError,
    NotOrderableError,
    OrderFailedError,
    OrderWaitTimeoutError,
    TransportError,
    ValidationError,
)
from airflow_provider_oneatlas.client.models import Order
from airflow_provider_oneatlas.client.transport import SyncTransport
from tests.conftest import SANDBOX_KEY, TOULOUSE_FIELD, TUTORIAL_AOI, tutorial
from tests.helpers import sandbox_state

AUTH = DEFAULT_SERVICE_URLS["auth"] + api.TOKEN_PATH
DATA = DEFAULT_SERVICE_URLS["data"]
ORDERS = DATA + "/api/v1/orders"
PRICES = DATA + "/api/v1/prices"
ME = DATA + "/api/v1/me"
SEARCH = DEFAULT_SERVICE_URLS["search"] + "/api/v1/opensearch"
REF = "airflow:dag:order:run-1"
ITEM = "e459d653-468f-471b-8d6e-90b13b14c655"
PRODUCTS = [api.ProductSpec(item_id=ITEM, aoi=TUTORIAL_AOI)]


def order_doc(status: str = "ordered", ref: str = REF, order_id: str = "b0d5b4f6-0000-4000-8000-000000000001") -> Any:
    doc = copy.deepcopy(tutorial("order.json"))
    doc.update(id=order_id, status=status, customerRef=ref)
    return doc


def order_list(*docs: Any) -> dict[str, Any]:
    return {"items": list(docs), "totalResults": len(docs), "startIndex": 0, "itemsPerPage": 500}


def price_doc(credits: float = 377, orderable: str = "ok") -> Any:
    doc = copy.deepcopy(tutorial("price.json"))
    doc["price"]["credits"] = credits
    doc["orderable"] = orderable
    return doc


@pytest.fixture
def mock() -> Any:
    with requests_mock.Mocker() as m:
        m.post(AUTH, json=tutorial("token.json"))
        m.get(ME, json=tutorial("me.json"))  # balance 1341, contract 8b273bd7-...
        m.get(
            DATA + "/api/v1/contracts/8b273bd7-5626-4ef3-80cf-c4fc33191083/subscriptions",
            json=tutorial("subscriptions.json"),
        )
        # The preflight looks the ordered image up in the catalogue (a SENSOR SPOT image: orderable).
        m.post(SEARCH, json=tutorial("search.json"))
        yield m


@pytest.fixture
def client() -> OneAtlasClient:
    config = ClientConfig(api_key="ordering-test-key", retry=RetryPolicy(backoff_initial=0, backoff_max=0))
    return OneAtlasClient(config, transport=SyncTransport(config, sleep=lambda s: None))


def posts(m: Any) -> list[Any]:
    return [r for r in m.request_history if r.method == "POST" and r.url == ORDERS]


def calls(m: Any, method: str, url: str) -> int:
    return sum(1 for r in m.request_history if r.method == method and r.url.split("?")[0] == url)


# -- place_order, requests counted one by one ------------------------------------------------------


def test_places_once_with_the_customer_ref_after_checking_price_and_balance(mock: Any, client: OneAtlasClient) -> None:
    mock.get(ORDERS, json=order_list())
    mock.post(PRICES, json=price_doc(377))
    mock.post(ORDERS, status_code=201, json=order_doc())
    placement = ordering.place_order(client, PRODUCTS, customer_ref=REF, budget=500, tags=["farm"])
    assert placement.order.id == "b0d5b4f6-0000-4000-8000-000000000001" and not placement.reused
    assert placement.price is not None and placement.price.credits == 377
    [post] = posts(mock)
    body = post.json()
    assert body["customerRef"] == REF and body["products"][0]["id"] == ITEM
    # the user's tags, then the acquisition tag that later runs look earlier purchases up by
    assert body["tags"] == ["farm", ordering.acquisition_tag(PRODUCTS[0])]
    assert body["kind"] == api.order_kind_for(api.parse_subscriptions(tutorial("subscriptions.json")))
    # the lookup by customerRef came first, and asked for this ref
    lookup = next(r for r in mock.request_history if r.method == "GET" and r.url.startswith(ORDERS))
    assert parse_qs(urlsplit(lookup.url).query)["customerRef"] == [REF]
    assert mock.request_history.index(lookup) < mock.request_history.index(post)


def test_lost_post_answer_then_found_by_lookup_posts_no_second_time(mock: Any, client: OneAtlasClient) -> None:
    # The lookups by customerRef and by acquisition tag find nothing; the POST's answer is lost (read
    # timeout: it may have arrived); the lookup after it finds the order the POST made.
    mock.get(ORDERS, [{"json": order_list()}, {"json": order_list()}, {"json": order_list(order_doc())}])
    mock.post(PRICES, json=price_doc())
    mock.post(ORDERS, [{"exc": requests.exceptions.ReadTimeout}, {"status_code": 201, "json": order_doc()}])
    sleeps: list[float] = []
    placement = ordering.place_order(client, PRODUCTS, customer_ref=REF, kind="order.product", sleep=sleeps.append)
    assert placement.order.id == order_doc()["id"] and not placement.reused
    assert len(posts(mock)) == 1 and sleeps == []
    assert calls(mock, "GET", ORDERS) == 3


def test_failed_post_proven_absent_is_posted_again(mock: Any, client: OneAtlasClient) -> None:
    mock.get(ORDERS, json=order_list())
    mock.post(PRICES, json=price_doc())
    mock.post(ORDERS, [{"status_code": 503, "json": {"message": "busy"}}, {"status_code": 201, "json": order_doc()}])
    sleeps: list[float] = []
    placement = ordering.place_order(client, PRODUCTS, customer_ref=REF, kind="order.product", sleep=sleeps.append)
    assert placement.order.status == "ordered"
    assert len(posts(mock)) == 2 and len(sleeps) == 1
    # by customerRef and by acquisition tag before, and by customerRef after the failure (proving absence)
    assert calls(mock, "GET", ORDERS) == 3


def test_posts_give_up_after_the_attempts(mock: Any, client: OneAtlasClient) -> None:
    mock.get(ORDERS, json=order_list())
    mock.post(PRICES, json=price_doc())
    mock.post(ORDERS, exc=requests.exceptions.ReadTimeout)
    with pytest.raises(TransportError):
        ordering.place_order(
            client, PRODUCTS, customer_ref=REF, kind="order.product", post_attempts=2, sleep=lambda s: None
        )
    assert len(posts(mock)) == 2


@pytest.mark.parametrize(("budget", "credits", "limit"), [(100, 377, 100), (None, 5000, 1341)])
def test_over_budget_or_balance_raises_and_posts_nothing(
    mock: Any, client: OneAtlasClient, budget: float | None, credits: float, limit: float
) -> None:
    mock.get(ORDERS, json=order_list())
    mock.post(PRICES, json=price_doc(credits))
    mock.post(ORDERS, status_code=201, json=order_doc())
    with pytest.raises(BudgetExceededError) as err:
        ordering.place_order(client, PRODUCTS, customer_ref=REF, kind="order.product", budget=budget)
    assert err.value.credits == credits and err.value.limit == limit
    assert f"{credits:g} credits" in str(err.value) and "not ordered" in str(err.value)
    assert posts(mock) == []


def test_not_orderable_raises_and_posts_nothing(mock: Any, client: OneAtlasClient) -> None:
    mock.get(ORDERS, json=order_list())
    mock.post(PRICES, json=price_doc(orderable="no"))
    mock.post(ORDERS, status_code=201, json=order_doc())
    with pytest.raises(NotOrderableError, match="not orderable"):
        ordering.place_order(client, PRODUCTS, customer_ref=REF, kind="order.product")
    assert posts(mock) == []


def test_an_order_under_the_ref_is_reused_without_price_or_post(mock: Any, client: OneAtlasClient) -> None:
    other = order_doc(ref="someone-else", order_id="b0d5b4f6-0000-4000-8000-000000000009")
    mock.get(ORDERS, json=order_list(other, order_doc(status="processing")))
    mock.post(PRICES, json=price_doc())
    mock.post(ORDERS, status_code=201, json=order_doc())
    placement = ordering.place_order(client, PRODUCTS, customer_ref=REF, budget=1)
    assert placement.reused and placement.price is None
    assert placement.order.customer_ref == REF and placement.order.status == "processing"
    assert calls(mock, "POST", PRICES) == 0 and posts(mock) == [] and calls(mock, "GET", ME) == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"customer_ref": ""}, "customer_ref"),
        ({"customer_ref": REF, "tags": ["not a tag"]}, "tags"),
        ({"customer_ref": REF, "kind": "productOrder"}, "kind"),
    ],
)
def test_bad_input_sends_nothing(mock: Any, client: OneAtlasClient, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        ordering.place_order(client, PRODUCTS, **kwargs)
    assert err.value.field == field
    assert [r for r in mock.request_history if r.url != AUTH] == []


def test_a_missing_customer_ref_is_refused(mock: Any, client: OneAtlasClient) -> None:
    with pytest.raises(ValueError, match="customer_ref"):
        ordering.place_order(client, PRODUCTS, customer_ref=None)  # type: ignore[arg-type]
    assert mock.request_history == []


# -- wait_for_order and check_delivered ------------------------------------------------------------


def test_wait_polls_until_delivered(mock: Any, client: OneAtlasClient) -> None:
    oid = order_doc()["id"]
    mock.get(
        f"{ORDERS}/{oid}",
        [{"json": order_doc("ordered")}, {"json": order_doc("processing")}, {"json": order_doc("delivered")}],
    )
    sleeps: list[float] = []
    order = ordering.wait_for_order(client, oid, poll_interval=7, sleep=sleeps.append)
    assert order.is_delivered and sleeps == [7, 7]


def test_wait_times_out(mock: Any, client: OneAtlasClient) -> None:
    oid = order_doc()["id"]
    mock.get(f"{ORDERS}/{oid}", json=order_doc("processing"))
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(OrderWaitTimeoutError, match=oid):
        ordering.wait_for_order(client, oid, poll_interval=10, timeout=25, sleep=sleep, clock=lambda: now[0])
    assert now[0] == 30  # polled at 0, 10, 20, 30 s: the one past the deadline ends it
    assert calls(mock, "GET", f"{ORDERS}/{oid}") == 4


@pytest.mark.parametrize("status", ["failed", "error", "rejected"])
def test_wait_raises_when_the_order_fails(mock: Any, client: OneAtlasClient, status: str) -> None:
    oid = order_doc()["id"]
    doc = order_doc(status) | {"message": "image no longer available"}
    mock.get(f"{ORDERS}/{oid}", [{"json": order_doc("processing")}, {"json": doc}])
    with pytest.raises(OrderFailedError) as err:
        ordering.wait_for_order(client, oid, poll_interval=0, sleep=lambda s: None)
    assert err.value.status == status and err.value.order_id == oid
    assert "image no longer available" in str(err.value)


def test_check_delivered() -> None:
    assert ordering.check_delivered(api.parse_order(order_doc("delivered"))) is True
    assert ordering.check_delivered(api.parse_order(order_doc("processing"))) is False
    with pytest.raises(OrderFailedError, match="rejected"):
        ordering.check_delivered(api.parse_order(order_doc("rejected")))


# -- the same workflows against the sandbox over HTTP ----------------------------------------------


def sandbox_client(sandbox: Any) -> OneAtlasClient:
    retry = RetryPolicy(backoff_initial=0.01, backoff_max=0.1)
    return OneAtlasClient(ClientConfig.for_base_url(SANDBOX_KEY, sandbox.base_url, retry=retry))


def sandbox_products(client: OneAtlasClient) -> list[api.ProductSpec]:
    image = client.search(aoi=TOULOUSE_FIELD, processing_level="SENSOR", items_per_page=1).features[0]
    return [api.ProductSpec(item_id=image.id, aoi=TOULOUSE_FIELD)]


def test_sandbox_place_wait_and_retry_debits_once(sandbox: Any) -> None:
    client = sandbox_client(sandbox)
    products = sandbox_products(client)
    balance = sandbox_state(sandbox)["balance"]
    first = client.place_order(products, customer_ref="sandbox-ref-1", budget=100_000)
    assert not first.reused and first.price is not None and first.order.customer_ref == "sandbox-ref-1"
    again = client.place_order(products, customer_ref="sandbox-ref-1", budget=100_000)
    assert again.reused and again.order.id == first.order.id
    delivered = client.wait_for_order(first.order.id, poll_interval=0.05, timeout=20)
    assert delivered.is_delivered and delivered.deliveries[0].download_url
    state = sandbox_state(sandbox)
    assert len(state["orders"]) == 1 and state["balance"] == balance - first.price.credits


def test_sandbox_budget_refusal_orders_nothing(sandbox: Any) -> None:
    client = sandbox_client(sandbox)
    with pytest.raises(BudgetExceededError) as err:
        client.place_order(sandbox_products(client), customer_ref="sandbox-ref-2", budget=1)
    assert err.value.limit == 1 and err.value.credits is not None and err.value.credits > 1
    assert sandbox_state(sandbox)["orders"] == []


@pytest.mark.parametrize("sandbox_config", [{"processing_after": 60, "delivered_after": 120}])
def test_sandbox_wait_timeout(sandbox: Any) -> None:
    client = sandbox_client(sandbox)
    order = client.place_order(sandbox_products(client), customer_ref="sandbox-ref-3").order
    started = time.monotonic()
    with pytest.raises(OrderWaitTimeoutError):
        client.wait_for_order(order.id, poll_interval=0.1, timeout=0.5)
    assert time.monotonic() - started < 10


def test_sandbox_failed_order_raises(sandbox: Any) -> None:
    client = sandbox_client(sandbox)
    order: Order = client.place_order(sandbox_products(client), customer_ref="sandbox-ref-4").order
    requests.post(
        f"{sandbox.base_url}/_sandbox/orders/{order.id}/status",
        json={"status": "failed", "message": "processing error"},
        timeout=10,
    ).raise_for_status()
    with pytest.raises(OrderFailedError, match="processing error"):
        client.wait_for_order(order.id, poll_interval=0.05, timeout=10)
