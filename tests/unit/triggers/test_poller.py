"""triggers/poller.py: one status poll per (event loop, connection), shared by every wait on it.
Against the sandbox over HTTP, and with a counted stand-in client where an error must be injected."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from airflow_provider_oneatlas.client import api
from airflow_provider_oneatlas.client.aio import AsyncOneAtlasClient
from airflow_provider_oneatlas.client.client import OneAtlasClient
from airflow_provider_oneatlas.client.config import ClientConfig
from airflow_provider_oneatlas.client.errors import ConfigurationError, NotFoundError, RateLimitedError
from airflow_provider_oneatlas.client.models import OrderPage
from airflow_provider_oneatlas.triggers.poller import OrderPoller, Update
from tests.conftest import SANDBOX_KEY, TOULOUSE_FIELD
from tests.helpers import api_requests

UNKNOWN = "00000000-0000-0000-0000-000000000000"


def place(sandbox: Any, count: int) -> tuple[ClientConfig, list[str]]:
    config = ClientConfig.for_base_url(SANDBOX_KEY, sandbox.base_url)
    client = OneAtlasClient(config)
    image = client.search(aoi=TOULOUSE_FIELD, processing_level="SENSOR", items_per_page=1).features[0]
    product = api.ProductSpec(item_id=image.id, aoi=TOULOUSE_FIELD)
    return config, [client.create_order([product], customer_ref=f"poller-{i}").id for i in range(count)]


async def test_waits_on_one_connection_share_one_listing(sandbox: Any) -> None:
    config, (first, second) = place(sandbox, 2)
    factories = []

    async def factory() -> AsyncOneAtlasClient:
        factories.append(1)
        return AsyncOneAtlasClient(config)

    before = len(api_requests(sandbox))
    async with (
        OrderPoller.watching("conn", factory, [first], poll_interval=0.1, max_poll_interval=0.2) as a,
        OrderPoller.watching("conn", factory, [second], poll_interval=0.1, max_poll_interval=0.2) as b,
    ):
        assert len([k for k in OrderPoller._pollers if k[1] == "conn"]) == 1
        update_a: Update = await asyncio.wait_for(a.updates.get(), 10)
        update_b: Update = await asyncio.wait_for(b.updates.get(), 10)
    assert set(update_a.orders) == {first} and set(update_b.orders) == {second}  # each wait gets its own orders
    assert update_a.error is None and update_a.missing == {}
    assert factories == [1]  # one client for both waits
    log = api_requests(sandbox)[before:]
    assert [r for r in log if r["path"].startswith("/api/v1/orders/")] == []  # no single reads: one listing
    assert any(r["path"] == "/api/v1/orders" for r in log)
    await asyncio.sleep(0.05)
    assert not [k for k in OrderPoller._pollers if k[1] == "conn"]  # gone with its last wait


async def test_an_order_the_listing_misses_is_read_alone_and_reported_missing(sandbox: Any) -> None:
    config, (order_id,) = place(sandbox, 1)

    async def factory() -> AsyncOneAtlasClient:
        return AsyncOneAtlasClient(config)

    async with OrderPoller.watching(
        "conn-2", factory, [order_id, UNKNOWN], poll_interval=0.1, max_poll_interval=0.1
    ) as w:
        update = await asyncio.wait_for(w.updates.get(), 10)
    assert set(update.orders) == {order_id}
    assert set(update.missing) == {UNKNOWN} and "404" in update.missing[UNKNOWN]


async def test_a_client_that_cannot_be_built_ends_every_wait() -> None:
    async def factory() -> Any:
        raise ConfigurationError("api_key: empty")

    async with OrderPoller.watching("conn-3", factory, ["abc-123"], poll_interval=0.1, max_poll_interval=0.1) as w:
        update = await asyncio.wait_for(w.updates.get(), 5)
    assert isinstance(update.error, ConfigurationError)


class Throttled:
    """A client whose first listing is a 429 asking for ``retry_after`` seconds; calls are timed."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        self.calls: list[float] = []

    async def __aenter__(self) -> Throttled:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def list_orders(self, **kwargs: Any) -> OrderPage:
        self.calls.append(time.monotonic())
        if len(self.calls) == 1:
            raise RateLimitedError(429, "slow down", retry_after=self.retry_after)
        return OrderPage(orders=(), total_results=0, start_index=0, items_per_page=500)

    async def get_order(self, order_id: str) -> Any:
        raise NotFoundError(404, f"no order {order_id}")


@pytest.mark.parametrize("retry_after", [0.6])
async def test_retry_after_slows_the_next_poll(retry_after: float) -> None:
    client = Throttled(retry_after)

    async def factory() -> Throttled:
        return client

    async with OrderPoller.watching("conn-4", factory, ["abc-123"], poll_interval=0.05, max_poll_interval=0.05) as w:
        first = await asyncio.wait_for(w.updates.get(), 5)
        await asyncio.wait_for(w.updates.get(), 5)
    assert isinstance(first.error, RateLimitedError) and first.orders == {}
    assert client.calls[1] - client.calls[0] >= retry_after * 0.95  # not the 0.05 s base pace
