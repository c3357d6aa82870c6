"""Everything the sandbox remembers: account, tokens, orders, request log, fault counters.

One :class:`SandboxState` lives on ``app.state.sandbox``. Every mutation happens under ``state.lock``
(an ``RLock``: tests read the state from another thread than the server's event loop).

Order statuses are computed lazily (:meth:`SandboxState.advance_orders`), so nothing runs in the
background: an order is ``ordered`` until ``processing_after`` seconds after its creation, ``processing``
until ``delivered_after``, then takes the outcome configured when it was created. Those delays count in
real seconds or on the sandbox clock, whichever has gone further (so advancing the clock by a day
delivers every order, and a stopped clock does not hold orders back).

The dates an order shows (``createdAt``, ``updatedAt``, debits' ``at``, delivered items'
``publicationDate``) are on the sandbox clock (:mod:`clock`), like the catalogue's.
"""

from __future__ import annotations

import datetime as dt
import heapq
import random
import secrets
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_oneatlas.sandbox.catalog import Catalog
from airflow_provider_oneatlas.sandbox.clock import Clock, clock_from_config, parse_instant, quantize
from airflow_provider_oneatlas.sandbox.config import CATALOG_FIELDS, SandboxConfig

# Identities of the single sandbox account, as in the tutorial's "me" document.
USER_ID = "bf3d937a-e846-446a-e5b6-0a26227b892f"
CONTRACT_ID = "8b273bd7-5626-4ef3-80cf-c4fc33191083"
PRIVATE_WORKSPACE_ID = "148eebbd-a9b9-4cf6-97d3-87237901a7b9"
PRIVATE_WORKSPACE_NAME = "private"

REQUEST_LOG_LIMIT = 100_000

TERMINAL_STATUSES = frozenset({"delivered", "failed", "error", "rejected"})
ORDER_STATUSES = ("ordered", "processing", "delivered", "failed", "error", "rejected")

DEFAULT_MESSAGES = {
    "failed": "Order failed: production of the image failed",
    "error": "Order error: an internal error stopped the production",
    "rejected": "Order rejected: image no longer available",
}


def iso(epoch: float) -> str:
    """An instant as the API writes it: ``2018-12-03T16:26:12.119065+00:00``."""
    return dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc).isoformat(timespec="microseconds")


@dataclass
class OrderedProduct:
    """One product of an order, with what pricing found out about it."""

    datas: dict[str, Any]  # the product as ordered, plus "sourceId"
    credits: int
    area_km2: float
    clipped_aoi: dict[str, Any]  # GeoJSON of AOI ∩ footprint
    source_properties: dict[str, Any]  # properties of the ordered catalog item


@dataclass
class Order:
    id: str
    seq: int
    kind: str
    created_at: float  # real time (time.time): the processing delays count from it
    payload: dict[str, Any]
    price: int
    products: list[OrderedProduct]
    outcome: str
    processing_after: float
    delivered_after: float
    customer_ref: str | None = None
    tags: list[str] | None = None
    status: str = "ordered"
    updated_at: float = 0.0  # real time of the last status change
    created_sim: float = 0.0  # the same two instants on the sandbox clock: the dates shown
    updated_sim: float = 0.0
    message: str | None = None
    deliveries: list[dict[str, Any]] = field(default_factory=list)  # {"id", "itemId", "datas"}
    forced: bool = False
    refunded: bool = False

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def to_json(self, base_url: str) -> dict[str, Any]:
        """The order document of the API, links pointing at ``base_url`` (ending with ``/``)."""
        base = base_url.rstrip("/")
        doc: dict[str, Any] = {
            "_links": {
                "self": {"href": f"{base}/api/v1/orders/{self.id}"},
                "contract": {"href": f"{base}/api/v1/contracts/{CONTRACT_ID}"},
                "payments": {"href": f"{base}/api/v1/orders/{self.id}/payments"},
            },
            "id": self.id,
            "kind": self.kind,
            "createdAt": iso(self.created_sim),
            "createdBy": USER_ID,
            "status": self.status,
            "contractId": CONTRACT_ID,
            "price": self.price,
            "payload": self.payload,
            "updatedAt": iso(self.updated_sim),
        }
        if self.customer_ref is not None:
            doc["customerRef"] = self.customer_ref
        if self.tags is not None:
            doc["tags"] = list(self.tags)
        if self.message is not None:
            doc["message"] = self.message
        if self.status == "delivered":
            doc["deliveries"] = [
                {
                    "id": delivery["id"],
                    "status": "delivered",
                    "datas": delivery["datas"],
                    "_links": {
                        "download": {
                            "href": f"{base}/api/v1/items/{delivery['itemId']}/download",
                            "name": "Download",
                            "type": "HTTP",
                        }
                    },
                }
                for delivery in self.deliveries
            ]
        return doc


class SandboxState:
    """The live state of one sandbox. Attributes other modules rely on:

    ``config``, ``catalog``, ``orders`` (id -> :class:`Order`), ``balance`` (credits), ``debits``,
    ``request_log`` (list of dicts), ``fault_counts`` (kind -> count), ``streamed_bytes``, ``rng``, ``lock``;
    ``reset()``.
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.lock = threading.RLock()
        self.tokens: dict[str, float] = {}  # token -> expiry (time.monotonic)
        self._tokens_issued = 0
        self._temp_cache: Path | None = None
        self.files: dict[tuple[str, int], tuple[Path, str, int]] = {}  # (item, size) -> path, md5, size
        self.file_locks: dict[tuple[str, int], threading.Lock] = {}
        self.orders: dict[str, Order] = {}
        self.clock: Clock = clock_from_config(self.config)
        self.reset()

    # -- whole-state operations ------------------------------------------------------------------

    def reset(self) -> None:
        """Fresh account, catalog, orders, log and counters; the clock back to its configured start;
        same config. Issued tokens stay valid."""
        with self.lock:
            self.clock = clock_from_config(self.config)
            self.catalog = self._build_catalog()
            self.orders = {}
            # (time of the next status change, seq, order id): only due orders are looked at.
            self._due: list[tuple[float, int, str]] = []
            self._due_sim: list[tuple[float, int, str]] = []  # the same, on the sandbox clock
            self._seq = 0
            self.balance: int = self.config.balance
            self.debits: list[dict[str, Any]] = []
            self.request_log: list[dict[str, Any]] = []
            self.request_log_dropped = 0  # oldest entries forgotten once the log is full
            self.fault_counts: dict[str, int] = {}
            self.streamed_bytes = 0  # bytes of WMTS tiles served
            self.rng = random.Random(self.config.seed)
            self.delivered_items: dict[str, dict[str, Any]] = {}
            self._add_history(self.config.order_history)

    def _build_catalog(self) -> Catalog:
        return Catalog(self.config, self.clock)

    def update_config(self, changes: dict[str, Any]) -> SandboxConfig:
        """Apply a partial update (raises ``ConfigError``).

        Setting ``balance`` also sets the current balance. Changing a catalog setting (``seed``,
        ``catalog_*``) rebuilds the catalog, keeping the items delivered so far; changing ``seed``
        also reseeds the fault dice.
        """
        with self.lock:
            new = self.config.replace(changes)
            old = self.config
            self.config = new
            if "balance" in changes:
                self.balance = new.balance
            if "clock_speed" in changes:
                self.clock.set_speed(new.clock_speed)
            if "clock_start" in changes:
                # Setting the start moves the clock there; unsetting it goes back to real UTC time.
                start = new.clock_start
                self.clock.set(time.time() if start is None else parse_instant("clock_start", start))
            if any(getattr(old, name) != getattr(new, name) for name in CATALOG_FIELDS):
                self.catalog = self._build_catalog()
                for feature in self.delivered_items.values():
                    self.catalog.add(feature)
            if old.seed != new.seed:
                self.rng = random.Random(new.seed)
            return new

    def close(self) -> None:
        """Remove the temporary download cache, if this state created one."""
        with self.lock:
            if self._temp_cache is not None:
                shutil.rmtree(self._temp_cache, ignore_errors=True)
                self._temp_cache = None
                self.files.clear()

    def cache_dir(self) -> Path:
        with self.lock:
            if self.config.cache_dir:
                path = Path(self.config.cache_dir)
                path.mkdir(parents=True, exist_ok=True)
                return path
            if self._temp_cache is None:
                self._temp_cache = Path(tempfile.mkdtemp(prefix="oneatlas-sandbox-"))
            return self._temp_cache

    # -- tokens ----------------------------------------------------------------------------------

    def issue_token(self) -> str:
        token = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self.lock:
            self._tokens_issued += 1
            if self._tokens_issued % 1000 == 0:
                # Forget tokens expired for a while, so the table does not grow without end.
                self.tokens = {t: exp for t, exp in self.tokens.items() if exp > now - 300}
            self.tokens[token] = now + self.config.token_lifetime
        return token

    def check_token(self, token: str) -> str:
        """``"ok"``, ``"expired"`` or ``"unknown"``."""
        with self.lock:
            expiry = self.tokens.get(token)
        if expiry is None:
            return "unknown"
        return "ok" if time.monotonic() < expiry else "expired"

    # -- faults ----------------------------------------------------------------------------------

    def roll(self, probability: float) -> bool:
        """True with ``probability``, from the seeded dice; no draw at all when it is 0."""
        if probability <= 0:
            return False
        with self.lock:
            return self.rng.random() < probability

    def count_fault(self, kind: str) -> None:
        with self.lock:
            self.fault_counts[kind] = self.fault_counts.get(kind, 0) + 1

    # -- request log -----------------------------------------------------------------------------

    @property
    def request_count(self) -> int:
        with self.lock:
            return self.request_log_dropped + len(self.request_log)

    def log_request(self, entry: dict[str, Any]) -> None:
        """Append ``entry`` with its ``index`` (position since the start or the last reset).

        The log keeps the last ``REQUEST_LOG_LIMIT`` entries, so a long soak does not eat the memory;
        indexes keep counting.
        """
        with self.lock:
            entry["index"] = self.request_log_dropped + len(self.request_log)
            self.request_log.append(entry)
            if len(self.request_log) > REQUEST_LOG_LIMIT:
                forget = len(self.request_log) - REQUEST_LOG_LIMIT + REQUEST_LOG_LIMIT // 10
                del self.request_log[:forget]
                self.request_log_dropped += forget

    def requests_since(self, index: int) -> list[dict[str, Any]]:
        """Copies of the log entries whose index is ``index`` or more (those still kept)."""
        with self.lock:
            start = max(0, index - self.request_log_dropped)
            return [dict(entry) for entry in self.request_log[start:]]

    # -- orders ----------------------------------------------------------------------------------

    def _add_history(self, count: int) -> None:
        """``count`` past orders, delivered days ago (no deliveries to download, no debit)."""
        now, sim_now = time.time(), self.clock.now()
        for index in range(count):
            self._seq += 1
            age = 86400 * 30 - index  # oldest first, all before any new order
            created, created_sim = now - age, sim_now - age
            order = Order(
                id=str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                seq=self._seq,
                kind="order.product",
                created_at=created,
                payload={},
                price=0,
                products=[],
                outcome="delivered",
                processing_after=0.0,
                delivered_after=0.0,
                status="delivered",
                updated_at=created,
                created_sim=created_sim,
                updated_sim=created_sim,
            )
            self.orders[order.id] = order

    def create_order(
        self,
        kind: str,
        payload: dict[str, Any],
        products: list[OrderedProduct],
        customer_ref: str | None,
        tags: list[str] | None,
    ) -> Order | None:
        """Debit the balance and record a new order; ``None`` when the balance is too low."""
        price = sum(product.credits for product in products)
        now = time.time()
        sim_now = self.clock.now()
        with self.lock:
            if self.balance < price:
                return None
            self._seq += 1
            order = Order(
                id=str(uuid.uuid4()),
                seq=self._seq,
                kind=kind,
                created_at=now,
                payload=payload,
                price=price,
                products=products,
                outcome=self.config.order_outcome,
                processing_after=min(self.config.processing_after, self.config.delivered_after),
                delivered_after=self.config.delivered_after,
                customer_ref=customer_ref,
                tags=tags,
                updated_at=now,
                created_sim=sim_now,
                updated_sim=sim_now,
            )
            self.balance -= price
            self.debits.append(
                {"orderId": order.id, "credits": -price, "reason": "order", "at": iso(sim_now), "balance": self.balance}
            )
            self.orders[order.id] = order
            self._schedule(order)
            return order

    def advance_orders(self, now: float | None = None) -> None:
        """Bring every unfinished order to the status the real time ``now`` and the clock say."""
        now = time.time() if now is None else now
        sim_now = self.clock.now()
        with self.lock:
            while True:
                if self._due and self._due[0][0] <= now:
                    heap = self._due
                elif self._due_sim and self._due_sim[0][0] <= sim_now:
                    heap = self._due_sim
                else:
                    break
                _, _, order_id = heapq.heappop(heap)
                order = self.orders[order_id]
                self._advance(order, now, sim_now)
                self._schedule(order)

    def _schedule(self, order: Order) -> None:
        """Queue the order's next status change, if it still has one."""
        if order.terminal or order.forced:
            return
        if order.status == "ordered" and order.processing_after < order.delivered_after:
            delay = order.processing_after
        else:
            delay = order.delivered_after
        # Due in real time or on the clock, whichever comes first (an entry left in the other heap
        # is harmless: advancing an order twice changes nothing).
        heapq.heappush(self._due, (order.created_at + delay, order.seq, order.id))
        heapq.heappush(self._due_sim, (order.created_sim + delay, order.seq, order.id))

    def get_order(self, order_id: str) -> Order | None:
        with self.lock:
            order = self.orders.get(order_id)
            if order is not None:
                self._advance(order, time.time(), self.clock.now())
            return order

    def _advance(self, order: Order, now: float, sim_now: float) -> None:
        if order.terminal or order.forced:
            return
        elapsed = max(now - order.created_at, sim_now - order.created_sim)
        if elapsed >= order.delivered_after:
            delay = order.delivered_after
            when_sim = self._sim_time_of(order, delay, sim_now)
            self._set_status(order, order.outcome, order.created_at + delay, when_sim, None)
        elif elapsed >= order.processing_after and order.status == "ordered":
            delay = order.processing_after
            when_sim = self._sim_time_of(order, delay, sim_now)
            self._set_status(order, "processing", order.created_at + delay, when_sim, None)

    def _sim_time_of(self, order: Order, delay: float, sim_now: float) -> float:
        """When, on the clock, the order's step ``delay`` seconds after creation happened: as soon as
        either real time or the clock got there, never before creation nor after the clock's now."""
        by_real = min(sim_now, max(order.created_sim, self.clock.at_real(order.created_at + delay)))
        return quantize(max(order.updated_sim, min(order.created_sim + delay, by_real)))

    def force_status(self, order_id: str, status: str, message: str | None) -> Order | None:
        """Set an order's status now; it stops following the clock. ``None`` if the order is unknown."""
        with self.lock:
            order = self.orders.get(order_id)
            if order is None:
                return None
            self._set_status(order, status, time.time(), self.clock.now(), message)
            order.forced = True
            return order

    def _set_status(self, order: Order, status: str, when: float, when_sim: float, message: str | None) -> None:
        if order.status == status and message is None:
            return
        if status == "delivered" and not order.deliveries:
            # Items first: whoever sees "delivered" also sees the deliveries and finds the items.
            self._deliver(order, when_sim)
        order.status = status
        order.updated_at = when
        order.updated_sim = when_sim
        if status in ("failed", "error", "rejected"):
            order.message = message or DEFAULT_MESSAGES[status]
        else:
            order.message = message
        if status == "rejected" and not order.refunded:
            # A rejected order was never produced: its credits go back to the account. A failed or
            # errored order is not refunded automatically (the real service leaves that to support),
            # so clients must not assume a refund there.
            order.refunded = True
            self.balance += order.price
            self.debits.append(
                {
                    "orderId": order.id,
                    "credits": order.price,
                    "reason": "refund",
                    "at": iso(when_sim),
                    "balance": self.balance,
                }
            )

    def _deliver(self, order: Order, when: float) -> None:
        order_uuid = uuid.UUID(order.id)
        for index, product in enumerate(order.products):
            item_id = str(uuid.uuid5(order_uuid, str(index)))
            feature = delivered_feature(item_id, order, product, when)
            self.delivered_items[item_id] = feature
            self.catalog.add(feature)
            order.deliveries.append(
                {
                    "id": str(uuid.uuid5(order_uuid, f"delivery-{index}")),
                    "itemId": item_id,
                    "datas": product.datas,
                }
            )

    # -- views for /_sandbox ---------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        self.advance_orders()
        with self.lock:
            return {
                "balance": self.balance,
                "orders": [
                    {
                        "id": order.id,
                        "status": order.status,
                        "kind": order.kind,
                        "price": order.price,
                        "createdAt": iso(order.created_sim),
                        "updatedAt": iso(order.updated_sim),
                        "message": order.message,
                        "deliveredItems": [d["itemId"] for d in order.deliveries],
                        "productIds": [p.datas.get("id") for p in order.products],
                        "tags": list(order.tags or ()),
                        "customerRef": order.customer_ref,
                    }
                    for order in sorted(self.orders.values(), key=lambda o: o.seq)
                ],
                "debits": list(self.debits),
                "fault_counts": dict(self.fault_counts),
                "request_count": self.request_log_dropped + len(self.request_log),
                "delivered_items": sorted(self.delivered_items),
                "clock": self.clock.to_json(),
            }


def delivered_feature(item_id: str, order: Order, product: OrderedProduct, when: float) -> dict[str, Any]:
    """The catalog feature of a delivered product, in the caller's private workspace."""
    properties = dict(product.source_properties)
    datas = product.datas
    properties.update(
        {
            "id": item_id,
            "processingLevel": "ORTHO",
            "productType": datas.get("productType"),
            "radiometricProcessing": datas.get("radiometricProcessing"),
            "format": datas.get("imageFormat"),
            "crsCode": datas.get("crsCode"),
            "publicationDate": iso(when),
            "processingDate": iso(when),
            "productionStatus": "IN_CLOUD",
            "orderId": order.id,
            "workspaceId": PRIVATE_WORKSPACE_ID,
            "workspaceName": PRIVATE_WORKSPACE_NAME,
            "workspaceTitle": "Private",
        }
    )
    properties.pop("expirationDate", None)
    return {"type": "Feature", "geometry": product.clipped_aoi, "properties": properties}
