"""One status poll shared by every order wait of a triggerer that uses the same connection.

A triggerer runs all its triggers in one event loop. Rather than each wait asking for its own order
every cycle (1,000 waits, 1,000 requests), waits register here; one poller per (event loop,
connection) lists only the account's *pending* orders (``status=ordered,processing``, 500 a page),
then reads with one GET each watched order absent from that list (it left the pending statuses, or
moved between pages while we read), and hands each wait its orders' statuses. The requests of a
cycle follow the pending orders and the orders that just finished, never the account's history
(its past orders are never pending) nor the list's sort order (the API documents none). Polls back
off while nothing moves, and a Retry-After from the server slows all of them at once.
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

#: The statuses an order waits in; every other status is final. Only these are listed.
PENDING_STATUSES = ("ordered", "processing")
#: Single reads in flight at once, when many orders finish in the same cycle.
MAX_READS_IN_FLIGHT = 8


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
        # Orders seen in a final status: they never change again, so they are not read again (a wait
        # on several orders keeps its delivered ones watched until the last one is delivered).
        self.final: dict[str, Order] = {}
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
        """Every watched order's current state: the pending listing, then a GET for each one not in it."""
        self.final = {i: order for i, order in self.final.items() if i in ids}
        found: dict[str, Order] = dict(self.final)
        remaining = set(ids) - found.keys()
        page = 1
        # The pending orders of the account: ceil(pending / 500) pages at most, whatever its history.
        while remaining:
            result = await client.list_orders(status=PENDING_STATUSES, page=page, items_per_page=MAX_ORDERS_PER_PAGE)
            for order in result.orders:
                if order.id in remaining:
                    found[order.id] = order
                    remaining.discard(order.id)
            if not result.orders or page * MAX_ORDERS_PER_PAGE >= result.total_results:
                break
            page += 1
        # Not pending any more (or shifted between two pages as others finished): read each once.
        # A wait ends on its order's final status, so an order costs this GET once in its life.
        missing: dict[str, str] = {}
        limit = asyncio.Semaphore(MAX_READS_IN_FLIGHT)

        async def read(order_id: str) -> None:
            async with limit:
                try:
                    found[order_id] = await client.get_order(order_id)
                except NotFoundError as exc:
                    missing[order_id] = str(exc)

        await asyncio.gather(*(read(i) for i in sorted(remaining)))
        self.final.update((i, order) for i, order in found.items() if order.is_terminal)
        return found, missing
