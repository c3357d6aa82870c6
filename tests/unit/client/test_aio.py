"""client/aio.py: the async client the trigger polls with. Against the sandbox over HTTP (the same
answers as the sync client), and with httpx's MockTransport where an answer must be injected exactly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from airflow_provider_oneatlas.client import api
from airflow_provider_oneatlas.client.aio import AsyncOneAtlasClient
from airflow_provider_oneatlas.client.client import OneAtlasClient
from airflow_provider_oneatlas.client.config import ClientConfig, RetryPolicy
from airflow_provider_oneatlas.client.errors import (
    AuthenticationError,
    NotFoundError,
    ResponseError,
    UntrustedUrlError,
)
from airflow_provider_oneatlas.client.transport import TokenCache
from tests.conftest import SANDBOX_KEY, TOULOUSE_FIELD, tutorial

ORDER_ID = "b0d5b4f6-0000-4000-8000-000000000001"


async def test_same_orders_as_the_sync_client(sandbox: Any) -> None:
    config = ClientConfig.for_base_url(SANDBOX_KEY, sandbox.base_url)
    sync = OneAtlasClient(config)
    image = sync.search(aoi=TOULOUSE_FIELD, processing_level="SENSOR", items_per_page=1).features[0]
    placed = sync.create_order([api.ProductSpec(item_id=image.id, aoi=TOULOUSE_FIELD)], customer_ref="aio-1")
    async with AsyncOneAtlasClient(config) as client:
        got = await client.get_order(placed.id)
        assert got.id == placed.id and got.customer_ref == "aio-1"
        listed = await client.list_orders(customer_ref="aio-1")
        assert [o.id for o in listed.orders] == [placed.id]
        assert client.stats["token_exchanges"] == 0  # the sync client's token, from the shared cache
        with pytest.raises(NotFoundError):
            await client.get_order("00000000-0000-0000-0000-000000000000")


def mocked(handler: Callable[[httpx.Request], httpx.Response], **retry: float) -> AsyncOneAtlasClient:
    config = ClientConfig(api_key="aio-key", retry=RetryPolicy(backoff_initial=0, backoff_max=0, **retry))
    return AsyncOneAtlasClient(
        config, token_cache=TokenCache(), client=httpx.AsyncClient(transport=httpx.MockTransport(handler))
    )


def token_or(
    answer: Callable[[httpx.Request], httpx.Response], seen: list[str]
) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path} {request.headers.get('Authorization', '')}")
        if request.url.path == api.TOKEN_PATH:
            return httpx.Response(200, json=tutorial("token.json") | {"access_token": f"tok-{len(seen)}"})
        return answer(request)

    return handler


async def test_503_is_retried_then_answered() -> None:
    answers = iter([httpx.Response(503, json={"message": "busy"}), httpx.Response(200, json=tutorial("order.json"))])
    seen: list[str] = []
    async with mocked(token_or(lambda r: next(answers), seen)) as client:
        order = await client.get_order(ORDER_ID)
    assert order.status == "ordered" and client.stats["retries"] == 1
    assert [s.split()[1] for s in seen].count(f"/api/v1/orders/{ORDER_ID}") == 2


async def test_a_401_renews_the_token_once() -> None:
    answers = iter([httpx.Response(401, json={"message": "expired"}), httpx.Response(200, json=tutorial("order.json"))])
    seen: list[str] = []
    async with mocked(token_or(lambda r: next(answers), seen)) as client:
        await client.get_order(ORDER_ID)
    assert client.stats["reauth"] == 1 and client.stats["token_exchanges"] == 2
    reads = [s for s in seen if "/orders/" in s]
    assert reads[0].split()[-1] != reads[1].split()[-1]  # the second read carries the new token


async def test_a_refused_key_is_not_echoed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error_description": "invalid key aio-key"})

    async with mocked(handler) as client:
        with pytest.raises(AuthenticationError) as err:
            await client.get_order(ORDER_ID)
    assert "aio-key" not in str(err.value)


async def test_not_json_is_a_response_error() -> None:
    seen: list[str] = []
    async with mocked(token_or(lambda r: httpx.Response(200, text="<html>"), seen)) as client:
        with pytest.raises(ResponseError, match="not JSON"):
            await client.get_order(ORDER_ID)


async def test_the_token_goes_to_configured_services_only() -> None:
    seen: list[str] = []
    async with mocked(token_or(lambda r: httpx.Response(200, json={}), seen)) as client:
        with pytest.raises(UntrustedUrlError):
            await client.json(api.ApiCall("GET", "data", url="https://evil.example/api/v1/orders"))
    assert not any("evil" in s for s in seen)
