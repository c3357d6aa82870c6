"""One status poll shared by every order wait of a triggerer that uses the same connection.

A triggerer runs all its triggers in one event loop. Rather than each wait asking for its own order
every cycle (1,000 waits, 1,000 requests), waits register here; one poller per (event loop,
connection) lists the account's orders, 500 a page, newest first, until it has seen every watched
order, and hands each wait its orders' statuses. Polls back off while nothing moves, and a
Retry-After from the server slows all of them at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from airflow_provider_oneatlas.client.errors import NotFoundError, OneAtlasError, RateLimitedError
from airflow_provider_oneatlas.client.models import Order
from airflow_provider_oneatlas.client.query import MAX_ORDERS_PER_PAGE

log = logging.getLogger(__name__)

#: Listing pages read per cycle before falling back to one GET per still-unseen order.
MAX_LIST_PAGES = 20


@dataclass
class Update:
    """What one poll cycle says about a wait's orders."""

    orders: dict[str, Order] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # order id -> why it could not be read
    error: OneAtlasError | None = None


@dataclass(eq=False)
class Watch:
    order_ids: frozenset[str]
    poll_interval: float
    max_poll_interval: float
    updates: asyncio.Queue[Update] = field(default_factory=asyncio.Queue)


class OrderPoller:
    """The shared poll loop. Use ``OrderPoller.watching(...)``; it starts and stops itself."""

    _pollers: ClassVar[dict[tuple[int, str], OrderPoller]] = {}

    def __init__(self, key: tuple[int, str], client_factory: Callable[[], Awaitable[Any]]) -> None:
        self.key = key
        self.client_factory = client_factory
        self.watches: set[Watch] = set()
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.last_status: dict[str, str] = {}
        self.cycles = 0

    @classmethod
    @contextlib.asynccontextmanager
    async def watching(
        cls,
        connection_key: str,
        client_factory: Callable[[], Awaitable[Any]],
        order_ids: list[str],
        *,
        poll_interval: float,
        max_poll_interval: float,
    ) -> Any:
        """Register a wait; yields its ``Watch`` whose queue receives an ``Update`` every cycle."""
        key = (id(asyncio.get_running_loop()), connection_key)
        poller = cls._pollers.get(key)
        if poller is None or poller.task is None or poller.task.done():
            poller = cls(key, client_factory)
            cls._pollers[key] = poller
        watch = Watch(frozenset(order_ids), poll_interval, max_poll_interval)
        poller.watches.add(watch)
        if poller.task is None:
            poller.task = asyncio.create_task(poller._run(), name=f"oneatlas-order-poller-{connection_key[:8]}")
        poller.wake.set()  # a new wait gets its first status now, not after the current sleep
        try:
            yield watch
        finally:
            poller.watches.discard(watch)
            if not poller.watches:
                poller.wake.set()

    async def _run(self) -> None:
        try:
            client = await self.client_factory()
        except OneAtlasError as exc:
            for watch in list(self.watches):
                watch.updates.put_nowait(Update(error=exc))
            self._pollers.pop(self.key, None)
            return
        interval = 0.0
        try:
            async with client:
                while self.watches:
                    watched = list(self.watches)
                    base = min(w.poll_interval for w in watched)
                    ceiling = min(w.max_poll_interval for w in watched)
                    ids = set().union(*(w.order_ids for w in watched))
                    changed = False
                    retry_after = None
                    try:
                        orders, missing = await self._poll(client, ids)
                    except OneAtlasError as exc:
                        if isinstance(exc, RateLimitedError):
                            retry_after = exc.retry_after
                        for watch in watched:
                            watch.updates.put_nowait(Update(error=exc))
                    else:
                        for order_id, order in orders.items():
                            if self.last_status.get(order_id) != order.status:
                                changed = True
                                self.last_status[order_id] = order.status
                        for watch in watched:
                            watch.updates.put_nowait(
                                Update(
                                    orders={i: orders[i] for i in watch.order_ids if i in orders},
                                    missing={i: missing[i] for i in watch.order_ids if i in missing},
                                )
                            )
                    self.cycles += 1
                    # Back off while nothing moves; the base pace again as soon as something does.
                    interval = base if changed or interval == 0 else min(interval * 1.5, ceiling)
                    if retry_after:
                        interval = max(interval, retry_after)
                    self.wake.clear()
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self.wake.wait(), timeout=interval)
        except Exception as exc:
            # Never leave a wait hanging: whatever killed the poll ends every wait with its reason.
            log.exception("OneAtlas order poller failed")
            for watch in list(self.watches):
                watch.updates.put_nowait(Update(error=OneAtlasError(f"order status poll failed: {exc!r}")))
            raise
        finally:
            if self._pollers.get(self.key) is self:
                del self._pollers[self.key]

    async def _poll(self, client: Any, ids: set[str]) -> tuple[dict[str, Order], dict[str, str]]:
        """Every watched order's current state: a listing, then single reads for the unseen."""
        found: dict[str, Order] = {}
        remaining = set(ids)
        page = 1
        while remaining and page <= MAX_LIST_PAGES:
            result = await client.list_orders(page=page, items_per_page=MAX_ORDERS_PER_PAGE)
            for order in result.orders:
                if order.id in remaining:
                    found[order.id] = order
                    remaining.discard(order.id)
            if not result.orders or page * MAX_ORDERS_PER_PAGE >= result.total_results:
                break
            page += 1
        missing: dict[str, str] = {}
        for order_id in sorted(remaining):
            try:
                found[order_id] = await client.get_order(order_id)
            except NotFoundError as exc:
                missing[order_id] = str(exc)
        return found, missing
