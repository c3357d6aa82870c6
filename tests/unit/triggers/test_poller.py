"""triggers/poller.py: one status poll per (event loop, connection), shared by every wait on it.
Against the sandbox over HTTP, and with a counted stand-in client where an error must be injected.
Its requests per cycle follow the pending orders, never the account's history: checked on a sandbox
holding 10,000 past orders listed OLDEST first (the API documents no sort order)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import pytest
import requests

from airflow_provider_oneatlas.client import api
from airflow_provider_oneatlas.client.aio import AsyncOneAtlasClient
from airflow_provider_oneatlas.client.client import OneAtlasClient
from airflow_provider_oneatlas.client.config import ClientConfig
from airflow_provider_oneatlas.client.errors import ConfigurationError, NotFoundError, RateLimitedError
from airflow_provider_oneatlas.client.models import OrderPage
from airflow_provider_oneatlas.triggers import poller
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


# -- the account's history ------------------------------------------------------------------------

HISTORY = 10_000
#: Orders stay pending until a test moves them; 10,000 delivered orders listed oldest first.
long_history = pytest.mark.parametrize(
    "sandbox_config",
    [{"processing_after": 0.0, "delivered_after": 3600.0, "order_history": HISTORY, "order_list_order": "oldest"}],
)


def log_position(base: str) -> int:
    return int(requests.get(f"{base}/_sandbox/requests", params={"since": 0}, timeout=30).json()["next"])


def requests_since(base: str, since: int) -> list[dict[str, Any]]:
    log = requests.get(f"{base}/_sandbox/requests", params={"since": since}, timeout=30).json()["requests"]
    return [r for r in log if not r["path"].startswith("/_sandbox") and r["path"] != "/api/v1/auth/token"]


def deliver(base: str, order_ids: list[str]) -> None:
    for order_id in order_ids:
        requests.post(
            f"{base}/_sandbox/orders/{order_id}/status", json={"status": "delivered"}, timeout=10
        ).raise_for_status()


async def cycles(
    sandbox: Any, config: ClientConfig, ids: set[str], steps: list[Any]
) -> list[tuple[dict[str, str], list[dict[str, Any]]]]:
    """One poll cycle per step (each step first runs its action): the statuses and requests of each."""
    base = sandbox.base_url
    poll = OrderPoller((0, base), AsyncOneAtlasClient)  # type: ignore[arg-type]
    out = []
    async with AsyncOneAtlasClient(config) as client:
        await client.token()
        for step in steps:
            await asyncio.to_thread(step)
            start = await asyncio.to_thread(log_position, base)
            found, missing = await poll._poll(client, ids)
            assert missing == {}
            log = await asyncio.to_thread(requests_since, base, start)
            out.append(({i: o.status for i, o in found.items()}, log))
    return out


def kinds(log: list[dict[str, Any]]) -> Counter[str]:
    return Counter("list" if r["path"] == "/api/v1/orders" else "get" for r in log)


@long_history
def test_the_history_is_there_and_listed_oldest_first(sandbox: Any) -> None:
    """Guard for the tests below: without it they would prove nothing."""
    config, (order_id,) = place(sandbox, 1)
    first = OneAtlasClient(config).list_orders(page=1, items_per_page=500)
    assert first.total_results == HISTORY + 1
    assert order_id not in {o.id for o in first.orders} and {o.status for o in first.orders} == {"delivered"}


@long_history
async def test_one_wait_one_listing_per_cycle_then_one_read_when_it_finishes(sandbox: Any) -> None:
    config, (order_id,) = place(sandbox, 1)
    base = sandbox.base_url
    results = await cycles(
        sandbox, config, {order_id}, [lambda: None, lambda: None, lambda: deliver(base, [order_id]), lambda: None]
    )
    assert [found[order_id] for found, _ in results] == ["processing", "processing", "delivered", "delivered"]
    per_cycle = [kinds(log) for _, log in results]
    assert per_cycle[:2] == [Counter(list=1), Counter(list=1)]
    assert per_cycle[2] == Counter(list=1, get=1)  # left the pending list: read once, 2 requests
    assert per_cycle[3] == Counter()  # final: never read again
    listing = results[0][1][0]
    assert "status=ordered%2Cprocessing" in listing["query"] or "status=ordered,processing" in listing["query"]


@long_history
async def test_many_waits_pages_follow_the_pending_orders_only(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """25 pending orders in pages of 10 stand for 1,000 in pages of 500 (placing 1,000 takes long)."""
    monkeypatch.setattr(poller, "MAX_ORDERS_PER_PAGE", 10)
    config, order_ids = place(sandbox, 25)
    done = order_ids[:4]
    steps = [lambda: None, lambda: deliver(sandbox.base_url, done), lambda: None]
    (steady, steady_log), (moved, moved_log), (after, after_log) = await cycles(sandbox, config, set(order_ids), steps)
    assert set(steady.values()) == {"processing"} and len(steady) == 25
    assert kinds(steady_log) == Counter(list=3)  # ceil(25 / 10); the 10,000 past orders cost nothing
    assert {i for i, s in moved.items() if s == "delivered"} == set(done)
    assert kinds(moved_log) == Counter(list=3, get=4)  # 21 pending: 3 pages; one read per finished order
    assert sorted(r["path"].rsplit("/", 1)[1] for r in moved_log if r["path"] != "/api/v1/orders") == sorted(done)
    assert kinds(after_log) == Counter(list=3) and len(after) == 25
