"""The shared status poll: its requests per cycle follow the pending orders, not the account's history.

Real HTTP against the sandbox holding a long order history listed OLDEST first (the API documents
no sort order), requests counted in the sandbox's request log.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
import requests

from airflow_provider_oneatlas.client.aio import AsyncOneAtlasClient
from airflow_provider_oneatlas.client.api import ProductSpec
from airflow_provider_oneatlas.client.client import OneAtlasClient
from airflow_provider_oneatlas.client.config import ClientConfig
from airflow_provider_oneatlas.triggers import poller
from airflow_provider_oneatlas.triggers.poller import OrderPoller
from tests.conftest import TOULOUSE_FIELD

KEY = "oneatlas-sandbox-key"
HISTORY = 10_000

# Orders stay pending until the test moves them; 10,000 delivered orders listed oldest first.
pytestmark = pytest.mark.parametrize(
    "sandbox_config",
    [{"processing_after": 0.0, "delivered_after": 3600.0, "order_history": HISTORY, "order_list_order": "oldest"}],
)


def place(base: str, count: int) -> list[str]:
    client = OneAtlasClient(ClientConfig.for_base_url(KEY, base))
    image = client.search(aoi=TOULOUSE_FIELD, processing_level="SENSOR", items_per_page=1).features[0]
    product = ProductSpec(item_id=image.id, aoi=TOULOUSE_FIELD)
    return [client.create_order([product], customer_ref=f"poll-{i}").id for i in range(count)]


def log_position(base: str) -> int:
    return int(requests.get(f"{base}/_sandbox/requests", params={"since": 0}, timeout=30).json()["next"])


def api_requests(base: str, since: int) -> list[dict[str, Any]]:
    log = requests.get(f"{base}/_sandbox/requests", params={"since": since}, timeout=30).json()["requests"]
    return [r for r in log if not r["path"].startswith("/_sandbox") and r["path"] != "/api/v1/auth/token"]


def deliver(base: str, order_ids: list[str]) -> None:
    for order_id in order_ids:
        requests.post(
            f"{base}/_sandbox/orders/{order_id}/status", json={"status": "delivered"}, timeout=10
        ).raise_for_status()


def cycles(base: str, ids: set[str], steps: list[Any]) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Run one poll cycle per step (each step first runs its action), with the requests of each cycle."""

    async def run() -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        poll = OrderPoller(("test", base), lambda: None)  # type: ignore[arg-type,return-value]
        out = []
        async with AsyncOneAtlasClient(ClientConfig.for_base_url(KEY, base)) as client:
            await client.token()
            for step in steps:
                await asyncio.to_thread(step)
                start = await asyncio.to_thread(log_position, base)
                found, missing = await poll._poll(client, ids)
                assert missing == {}
                log = await asyncio.to_thread(api_requests, base, start)
                out.append(({i: o.status for i, o in found.items()}, log))
        return out

    return asyncio.run(run())


def kinds(log: list[dict[str, Any]]) -> Counter[str]:
    return Counter("list" if r["path"] == "/api/v1/orders" else "get" for r in log)


def test_the_history_is_there_and_listed_oldest_first(sandbox: Any) -> None:
    """Guard for the tests below: without it they would prove nothing."""
    base = sandbox.base_url
    (order_id,) = place(base, 1)
    client = OneAtlasClient(ClientConfig.for_base_url(KEY, base))
    first = client.list_orders(page=1, items_per_page=500)
    assert first.total_results == HISTORY + 1
    assert order_id not in {o.id for o in first.orders} and {o.status for o in first.orders} == {"delivered"}


def test_one_wait_one_listing_per_cycle_then_one_read_when_it_finishes(sandbox: Any) -> None:
    base = sandbox.base_url
    (order_id,) = place(base, 1)
    results = cycles(base, {order_id}, [lambda: None, lambda: None, lambda: deliver(base, [order_id]), lambda: None])
    statuses = [found[order_id] for found, _ in results]
    assert statuses == ["processing", "processing", "delivered", "delivered"]
    per_cycle = [kinds(log) for _, log in results]
    assert per_cycle[:2] == [Counter(list=1), Counter(list=1)]
    assert per_cycle[2] == Counter(list=1, get=1)  # left the pending list: read once, 2 requests
    assert per_cycle[3] == Counter()  # final: never read again
    listing = results[0][1][0]
    assert "status=ordered%2Cprocessing" in listing["query"] or "status=ordered,processing" in listing["query"]


def test_many_waits_pages_follow_the_pending_orders_only(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """25 pending orders in pages of 10 stand for 1,000 in pages of 500 (placing 1,000 takes long)."""
    monkeypatch.setattr(poller, "MAX_ORDERS_PER_PAGE", 10)
    base = sandbox.base_url
    order_ids = place(base, 25)
    done = order_ids[:4]
    results = cycles(base, set(order_ids), [lambda: None, lambda: deliver(base, done), lambda: None])
    (steady, steady_log), (moved, moved_log), (after, after_log) = results
    assert set(steady.values()) == {"processing"} and len(steady) == 25
    assert kinds(steady_log) == Counter(list=3)  # ceil(25 / 10); the 10,000 past orders cost nothing
    assert {i for i, s in moved.items() if s == "delivered"} == set(done)
    assert kinds(moved_log) == Counter(list=3, get=4)  # 21 pending: 3 pages; one read per finished order
    assert sorted(r["path"].rsplit("/", 1)[1] for r in moved_log if r["path"] != "/api/v1/orders") == sorted(done)
    assert kinds(after_log) == Counter(list=3) and len(after) == 25
