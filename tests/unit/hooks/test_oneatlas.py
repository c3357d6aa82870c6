"""OneAtlasHook against the sandbox over real HTTP, with the connection given as an env variable."""

from __future__ import annotations

import io
import json
import time
import xml.etree.ElementTree as ET
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from airflow_provider_oneatlas.client.api import ProductSpec, SearchQuery
from airflow_provider_oneatlas.client.config import DEFAULT_SERVICE_URLS
from airflow_provider_oneatlas.client.errors import (
    ConfigurationError,
    NotFoundError,
    PermissionDeniedError,
)
from airflow_provider_oneatlas.hooks.oneatlas import OneAtlasHook, config_from_connection
from tests.conftest import TOULOUSE_FIELD


def conn(**fields: Any) -> SimpleNamespace:
    base = {"conn_id": "c", "host": None, "schema": None, "port": None, "password": "key", "extra_dejson": {}}
    return SimpleNamespace(**(base | fields))


def test_no_host_means_the_real_hosts() -> None:
    assert config_from_connection(conn()).service_urls == DEFAULT_SERVICE_URLS


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"host": "http://127.0.0.1:8765"}, "http://127.0.0.1:8765"),
        ({"host": "127.0.0.1", "port": 8765}, "http://127.0.0.1:8765"),
        ({"host": "proxy.corp.example", "schema": "https"}, "https://proxy.corp.example"),
        ({"host": "https://proxy.corp.example/oneatlas/"}, "https://proxy.corp.example/oneatlas"),
    ],
)
def test_one_host_stands_for_every_service(fields: dict[str, Any], expected: str) -> None:
    assert set(config_from_connection(conn(**fields)).service_urls.values()) == {expected}


def test_per_service_urls_timeouts_and_retries_from_extras(tmp_path: Any) -> None:
    bundle = tmp_path / "corp-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    config = config_from_connection(
        conn(
            extra_dejson={
                "search_url": "https://search.example",
                "read_timeout": "5",
                "max_attempts": 2,
                "ca_bundle": str(bundle),
            }
        )
    )
    assert config.service_urls["search"] == "https://search.example"
    assert config.service_urls["data"] == DEFAULT_SERVICE_URLS["data"]
    assert config.read_timeout == 5 and config.retry.max_attempts == 2 and config.verify == str(bundle)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"password": ""}, "password field"),
        ({"extra_dejson": {"verify": False}}, "cannot be turned off"),
        ({"extra_dejson": {"read_timeut": 3}}, "not OneAtlas settings"),
        ({"extra_dejson": {"read_timeout": "soon"}}, "not a number"),
        ({"host": "http://oneatlas-proxy.example"}, "plain http"),
    ],
)
def test_bad_connections_are_explained(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        config_from_connection(conn(**fields))


def test_test_connection_ok_and_refused(oneatlas_conn: str, sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ok, message = OneAtlasHook(oneatlas_conn).test_connection()
    assert ok and "balance" in message and "148eebbd-a9b9-4cf6-97d3-87237901a7b9" in message
    monkeypatch.setenv(
        "AIRFLOW_CONN_BAD", json.dumps({"conn_type": "oneatlas", "host": sandbox.base_url, "password": "wrong-key"})
    )
    ok, message = OneAtlasHook("bad").test_connection()
    assert not ok and "API key was refused" in message and "wrong-key" not in message


def test_every_call_against_the_sandbox(oneatlas_conn: str, sandbox: Any) -> None:
    hook = OneAtlasHook(oneatlas_conn)
    me = hook.get_me()
    assert me.contract_id == "8b273bd7-5626-4ef3-80cf-c4fc33191083" and hook.get_workspace_id() == me.workspace_id
    assert hook.get_balance() == me.balance
    subs = hook.get_subscriptions()
    assert any(s.consumption_mode == "gb" for s in subs)
    assert hook.get_order_kind() == "order.data.gb.product"

    page = hook.search(aoi=TOULOUSE_FIELD, processing_level="SENSOR", cloud_cover=(0, 40), items_per_page=10)
    assert page.total_results > 0 and len(page.features) <= 10
    image = page.features[0]
    assert image.processing_level == "SENSOR" and image.cloud_cover is not None and image.cloud_cover <= 40
    assert (
        page.features
        == hook.search(
            SearchQuery(aoi=TOULOUSE_FIELD, processing_level="SENSOR", cloud_cover=(0, 40), items_per_page=10)
        ).features
    )

    quicklook = hook.get_quicklook(image.id, width=120)
    assert quicklook[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(quicklook[16:20], "big") == 120
    assert hook.get_thumbnail(image.id)[:4] == b"\x89PNG"
    caps = hook.get_wmts_capabilities(image.id)
    assert [int(m.identifier) for m in caps.tile_matrices] == list(range(10, 19))
    tile = requests.get(
        caps.tile_url(12, 2100, 600),
        headers={"Authorization": f"Bearer {hook.client.transport.token().access_token}"},
        timeout=10,
    )
    assert tile.status_code in (200, 400)

    product = ProductSpec(item_id=image.id, aoi=TOULOUSE_FIELD)
    price = hook.get_price([product])
    assert price.credits > 0 and 0 < price.area_km2 < 100

    order = hook.create_order([product], customer_ref="hook-test-1", tags=["airflow", "test"])
    assert order.status == "ordered" and order.price == price.credits
    assert hook.get_balance() == me.balance - price.credits
    deadline = time.monotonic() + 10
    while not (order := hook.get_order(order.id)).is_terminal and time.monotonic() < deadline:
        time.sleep(0.1)
    assert order.is_delivered and order.deliveries and order.deliveries[0].download_url
    assert [o.id for o in hook.find_orders(customer_ref="hook-test-1")] == [order.id]
    assert hook.list_orders(status="delivered").total_results == 1
    assert hook.list_orders(tags=["nosuchtag"]).total_results == 0

    sink = io.BytesIO()
    result = hook.download_item(sink, url=order.deliveries[0].download_url)
    truth = requests.get(f"{sandbox.base_url}/_sandbox/items/{order.deliveries[0].item_id}/file", timeout=10).json()
    assert result.verified and result.md5 == truth["md5"] and result.size == truth["size"] == len(sink.getvalue())
    head = hook.client.head_item(order.deliveries[0].item_id)
    assert head.md5 == truth["md5"] and head.size == truth["size"] and head.accepts_ranges


def test_download_outside_the_workspace_is_denied(oneatlas_conn: str) -> None:
    hook = OneAtlasHook(oneatlas_conn)
    with pytest.raises(PermissionDeniedError, match="permission denied"):
        hook.download_item(io.BytesIO(), "e459d653-468f-471b-8d6e-90b13b14c655")
    with pytest.raises(NotFoundError):
        hook.get_order("00000000-0000-0000-0000-000000000000")


def test_wmts_answer_is_valid_xml(oneatlas_conn: str, sandbox: Any) -> None:
    hook = OneAtlasHook(oneatlas_conn)
    token = hook.client.transport.token().access_token
    answer = requests.get(
        f"{sandbox.base_url}/api/v1/items/e459d653-468f-471b-8d6e-90b13b14c655/wmts",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    ET.fromstring(answer.content)


@pytest.mark.parametrize("sandbox_config", [{"token_lifetime": 0.5}])
def test_short_lived_tokens_are_renewed(oneatlas_conn: str) -> None:
    hook = OneAtlasHook(oneatlas_conn)
    for _ in range(6):
        hook.get_me()
        time.sleep(0.2)
    stats = hook.client.transport.stats
    assert stats["token_exchanges"] >= 2
    assert stats["token_exchanges"] + stats["reauth"] <= 8


@pytest.mark.parametrize("sandbox_config", [{"error_rate": 0.3, "rate_limit_rate": 0.1, "seed": 7}])
def test_faults_are_retried_transparently(oneatlas_conn: str, sandbox: Any) -> None:
    hook = OneAtlasHook(oneatlas_conn)
    for _ in range(20):
        assert hook.get_me().balance > 0
    state = requests.get(f"{sandbox.base_url}/_sandbox/state", timeout=10).json()
    assert sum(state["fault_counts"].values()) > 0
    assert hook.client.transport.stats["retries"] == sum(state["fault_counts"].values())


@pytest.mark.parametrize("sandbox_config", [{"catalog_size": 12_000}])
def test_iter_search_slices_past_the_10000_cap(oneatlas_conn: str, sandbox: Any) -> None:
    hook = OneAtlasHook(oneatlas_conn)
    everything = ("2018-01-01", "2026-12-31T23:59:59Z")
    assert hook.search(acquisition_date=everything).total_results == 10_000  # the API's cap
    ids = [f.id for f in hook.iter_search(acquisition_date=everything)]
    truth = {f["properties"]["id"] for f in sandbox.state.catalog.all()}
    assert len(ids) == len(set(ids))  # no duplicate across date slices
    assert set(ids) == truth  # none missing
