"""Ordering workflows: place an order exactly once within a budget, and wait for its delivery.

They live with the client, not in an operator (as dbt Cloud's hook owns ``wait_for_job_run_status``
and Planet's ``OrdersClient`` owns ``wait``), so that the order operator, a sensor, a script or a
later budget or approval step all get the same guarantees through one door.

Exactly once: an order is a debit, so its POST is never retried blindly. Every order carries a
``customerRef``; before posting, the account is searched for an order under it (an earlier try may
have placed it and died), and after a failed POST it is searched again before posting once more.

Once across runs: every order also carries an *acquisition tag*, a letters-only digest of the AOI
and the product options (the API's tags are letters only). Before ordering, the account's orders
under that tag tell which images were already bought for this field with these options, by any
run, any DAG, any worker: those are left out (a cleared and re-run day, overlapping windows or two
DAGs over the same field buy nothing twice). Orders that ended failed, error or rejected do not count.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_oneatlas.client.budgets import Budget, BudgetStatus, check_budgets, utcnow
from airflow_provider_oneatlas.client.errors import (
    BudgetExceededError,
    NotOrderableError,
    OrderFailedError,
    OrderWaitTimeoutError,
    ServerError,
    TransportError,
)
from airflow_provider_oneatlas.client.preflight import preflight
from airflow_provider_oneatlas.client.query import ORDER_KINDS, ProductSpec, check_customer_ref, order_body
from airflow_provider_oneatlas.client.waiting import waited

if TYPE_CHECKING:
    from airflow_provider_oneatlas.client.client import OneAtlasClient
    from airflow_provider_oneatlas.client.models import Order, Price

logger = logging.getLogger(__name__)


class Log(Protocol):
    """What the workflows log through: a stdlib logger, or the hook's task logger."""

    def info(self, msg: Any, /, *args: Any) -> Any: ...

    def warning(self, msg: Any, /, *args: Any) -> Any: ...


#: Order POSTs per call when each failure is followed by a lookup proving no order was placed.
ORDER_POST_ATTEMPTS = 3


#: Prefix of acquisition tags; the rest is 24 letters of a SHA-256 digest (about 113 bits).
ACQUISITION_TAG_PREFIX = "acq"


@dataclass(frozen=True)
class Placement:
    """An order placed by :func:`place_order`, or taken up because it already existed.

    ``reused``: an earlier attempt had already placed it under the same ``customerRef`` (nothing was
    priced or posted this time, so ``price`` is None). ``already_ordered`` maps the images left out
    because an earlier order bought them for the same AOI and options to that order's id; when every
    image was, nothing is ordered and ``order`` is None.
    """

    order: Order | None
    reused: bool = False
    price: Price | None = None
    already_ordered: dict[str, str] | None = None
    #: the contract's balance read just before ordering (None when nothing was priced)
    balance: float | None = None
    #: each budget checked, with what was spent under it before this order
    budgets: tuple[BudgetStatus, ...] = ()


def acquisition_tag(product: ProductSpec) -> str:
    """The letters-only tag naming what ``product`` buys besides the image: its AOI and options.

    Two DAGs ordering the same image over the same field with the same options get the same tag.
    """
    from airflow_provider_oneatlas.client.geometry import to_aoi

    payload = product.to_payload()  # every option checked and normalized, as it is sent
    aoi = to_aoi(payload["aoi"])

    def rounded(value: object) -> object:
        # ~1 cm: the same field drawn twice must not look like two fields through float noise.
        if isinstance(value, float):
            return round(value, 7)
        if isinstance(value, list):
            return [rounded(v) for v in value]
        return value

    key = {k: v for k, v in payload.items() if k not in ("id", "aoi")}
    key["aoi"] = {"type": aoi["type"], "coordinates": rounded(aoi["coordinates"])}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).digest()
    return ACQUISITION_TAG_PREFIX + "".join(chr(ord("a") + b % 26) for b in digest[:24])


def already_ordered(client: OneAtlasClient, tag: str) -> dict[str, Order]:
    """Image id -> the earlier order (not failed) that bought it under acquisition ``tag``."""
    bought: dict[str, Order] = {}
    for order in client.iter_orders(tags=[tag]):
        if order.is_failed or tag not in order.tags:
            continue
        for image_id in order.product_ids:
            bought.setdefault(image_id, order)
    return bought


def check_delivered(order: Order) -> bool:
    """True once ``order`` is delivered; raises :class:`OrderFailedError` for a failed, error or
    rejected one (no retry can turn it into a delivered order)."""
    if order.is_failed:
        raise OrderFailedError(order.id, order.status, order.message or None)
    return order.is_delivered


def place_order(
    client: OneAtlasClient,
    products: Sequence[ProductSpec],
    *,
    customer_ref: str,
    kind: str | None = None,
    tags: Sequence[str] | None = None,
    budget: float | None = None,
    skip_already_ordered: bool = True,
    budgets: Sequence[Budget] = (),
    max_price: float | None = None,
    images: Mapping[str, Any] | None = None,
    spend_lock: AbstractContextManager[Any] | None = None,
    now: Callable[[], datetime] | None = None,
    post_attempts: int = ORDER_POST_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
    log: Log | None = None,
) -> Placement:
    """Order ``products`` exactly once under ``customer_ref``, within ``budget`` and the balance.

    Every input is checked before any request. Raises :class:`BudgetExceededError` when the price is
    over ``budget`` or the contract's balance, :class:`NotOrderableError` when OneAtlas refuses the
    products; nothing is ordered then. Without ``kind``, the subscription decides it. With
    ``skip_already_ordered`` (default), images an earlier order bought for the same AOI and options
    are left out (see the module's docstring).
    """
    log = log or logger
    ref = check_customer_ref(customer_ref)
    if ref is None:
        raise ValueError("place_order needs a customer_ref: it is how a retry finds the order")
    # Built (and so checked) before any request; without a kind, the subscription decides it later.
    budget_tags = [b.tag for b in budgets]
    order_body(kind or ORDER_KINDS[0], products, customer_ref=ref, tags=[*(tags or ()), *budget_tags])
    product_tags = [acquisition_tag(p) for p in products]
    if max_price is not None and max_price < 0:
        raise ValueError("max_price must not be negative")
    with spend_lock if spend_lock is not None else contextlib.nullcontext():
        return _place(
            client,
            products,
            ref=ref,
            kind=kind,
            tags=[*(tags or ()), *(t for t in dict.fromkeys(budget_tags) if t not in (tags or ()))],
            product_tags=product_tags,
            budget=budget,
            skip_already_ordered=skip_already_ordered,
            budgets=budgets,
            max_price=max_price,
            images=images,
            now=(now or utcnow),
            post_attempts=post_attempts,
            sleep=sleep,
            log=log,
        )


def _place(
    client: OneAtlasClient,
    products: Sequence[ProductSpec],
    *,
    ref: str,
    kind: str | None,
    tags: Sequence[str],
    product_tags: list[str],
    budget: float | None,
    skip_already_ordered: bool,
    budgets: Sequence[Budget],
    max_price: float | None,
    images: Mapping[str, Any] | None,
    now: Callable[[], datetime],
    post_attempts: int,
    sleep: Callable[[float], None],
    log: Log,
) -> Placement:
    existing = client.find_orders(customer_ref=ref)
    if existing:
        order = existing[0]
        log.info(
            "Order %s (%s) was already placed under customerRef %r by an earlier try: not ordering again",
            order.id,
            order.status,
            ref,
        )
        return Placement(order=order, reused=True)

    skipped: dict[str, str] = {}
    if skip_already_ordered:
        bought = {tag: already_ordered(client, tag) for tag in dict.fromkeys(product_tags)}
        remaining = []
        for product, tag in zip(products, product_tags, strict=True):
            earlier = bought[tag].get(product.item_id)
            if earlier is None:
                remaining.append(product)
                continue
            skipped[product.item_id] = earlier.id
            log.info(
                "Image %s was already bought for this AOI and these options by order %s (%s): not ordering it again",
                product.item_id,
                earlier.id,
                earlier.status,
            )
        if not remaining:
            return Placement(order=None, already_ordered=skipped)
        products = remaining
    # Each order carries its acquisition tags, so that later runs find what it bought.
    body = order_body(
        kind or ORDER_KINDS[0],
        products,
        customer_ref=ref,
        tags=[*(tags or ()), *(t for t in dict.fromkeys(product_tags) if t not in (tags or ()))],
    )

    # One read of the account serves the order kind, the preflight and the balance check.
    account = client.get_me()
    body = {**body, "kind": preflight(client, products, kind=kind, account=account, images=images)}
    price = client.get_price(body=body)
    if not price.is_orderable:
        raise NotOrderableError(f"OneAtlas says the order is not orderable ({price.orderable})")
    if max_price is not None and price.credits > max_price:
        raise BudgetExceededError(
            f"The order now costs {price.credits:g} credits, more than the {max_price:g} credits approved: "
            "not ordered (ask for approval again)",
            credits=price.credits,
            limit=max_price,
        )
    if budget is not None and price.credits > budget:
        raise BudgetExceededError(
            f"The order would cost {price.credits:g} credits, over the budget max_credits={budget:g}: not ordered",
            credits=price.credits,
            limit=budget,
        )
    if price.credits > account.balance:
        raise BudgetExceededError(
            f"The order would cost {price.credits:g} credits, more than the balance of {account.balance:g}: "
            "not ordered",
            credits=price.credits,
            limit=account.balance,
        )
    statuses = tuple(check_budgets(client, budgets, price.credits, now()))
    log.info("Ordering for %g credits (%.2f km2), customerRef %r", price.credits, price.area_km2, ref)
    for attempt in range(1, post_attempts + 1):
        try:
            order = client.create_order(body=body)
            return Placement(
                order=order, price=price, already_ordered=skipped or None, balance=account.balance, budgets=statuses
            )
        except (TransportError, ServerError) as exc:
            # The POST may have reached OneAtlas even though the answer was lost: look first.
            found = client.find_orders(customer_ref=ref)
            if found:
                log.warning("The order answer was lost but order %s exists: using it", found[0].id)
                return Placement(
                    order=found[0],
                    price=price,
                    already_ordered=skipped or None,
                    balance=account.balance,
                    budgets=statuses,
                )
            if attempt == post_attempts:
                raise
            # Proven absent: posting again cannot make a second order.
            log.warning("Ordering failed (%s) and no order exists under %r: posting again", exc, ref)
            sleep(min(2.0**attempt, 30.0))
    raise AssertionError("unreachable")


def wait_for_order(
    client: OneAtlasClient,
    order_id: str,
    *,
    poll_interval: float = 30.0,
    timeout: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Order:
    """Poll ``order_id`` until it is delivered (returned); :class:`OrderFailedError` when it fails,
    :class:`OrderWaitTimeoutError` after ``timeout`` seconds (None: no limit)."""
    started = clock()
    deadline = started + timeout if timeout else None
    status = None
    while True:
        order = client.get_order(order_id)
        if order.status != status:
            status = order.status
            logger.info("OneAtlas order %s is %s (waited %s)", order_id, status, waited(started, clock))
        if check_delivered(order):
            return order
        if deadline is not None and clock() > deadline:
            raise OrderWaitTimeoutError(f"OneAtlas order {order_id} not delivered after {timeout}s")
        sleep(poll_interval)
