"""``OneAtlasOrderTrigger``: waits for orders in the triggerer, so no worker slot is held.

Only reads (order status), so running it twice, or resuming it after a triggerer restart, is safe.
Its event is written here (``_event``) and read here (:func:`orders_from_event`), by the operator and
the sensor that defer to it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_oneatlas.client.errors import (
    OneAtlasError,
    OrderFailedError,
    OrderWaitTimeoutError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from airflow_provider_oneatlas.client.query import check_id
from airflow_provider_oneatlas.client.waiting import wait_gave_up, waited


class OrderWaitError(OneAtlasError):
    """A wait that ended without an answer about the orders (the API stayed unreachable, the
    connection is wrong): a retry of the task may well succeed."""


def orders_from_event(event: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The delivered orders (``Order.to_dict()``) of a successful wait, else the client error that
    says why it ended: ``OrderFailedError``, ``OrderWaitTimeoutError`` or ``OrderWaitError``."""
    if not event:
        raise OrderWaitError("OneAtlas order trigger ended without an event")
    status = event.get("status")
    if status == "success":
        return list(event.get("orders") or [])
    if status == "failed":
        raise OrderFailedError(str(event.get("order_id")), str(event.get("order_status")), event.get("message") or None)
    if status == "timeout":
        raise OrderWaitTimeoutError(f"OneAtlas order wait timed out: {event.get('message')}")
    raise OrderWaitError(f"OneAtlas order wait failed: {event.get('message')}")


#: Errors that pass: the next poll may well succeed.
TRANSIENT_ERRORS = (TransportError, ServerError, RateLimitedError)


class OneAtlasOrderTrigger(BaseTrigger):
    """Polls OneAtlas until every order is delivered, one fails, or the deadline passes.

    :param order_ids: the order(s) to wait for.
    :param oneatlas_conn_id: the OneAtlas connection.
    :param poll_interval: seconds between polls while an order moves.
    :param max_poll_interval: polls back off up to this while nothing changes.
    :param end_time: epoch seconds after which the wait ends with a ``timeout`` event (None: never).
    :param max_consecutive_errors: transient API errors tolerated in a row before giving up.
    """

    def __init__(
        self,
        order_ids: Sequence[str] | str,
        oneatlas_conn_id: str = "oneatlas_default",
        poll_interval: float = 30.0,
        max_poll_interval: float | None = None,
        end_time: float | None = None,
        max_consecutive_errors: int = 10,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Airflow's BaseTrigger is untyped
        ids = [order_ids] if isinstance(order_ids, str) else list(order_ids)
        self.order_ids = [check_id(i, "order_id") for i in ids]
        self.oneatlas_conn_id = oneatlas_conn_id
        self.poll_interval = float(poll_interval)
        self.max_poll_interval = float(max_poll_interval) if max_poll_interval else max(self.poll_interval, 300.0)
        self.end_time = end_time
        self.max_consecutive_errors = max_consecutive_errors

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "order_ids": self.order_ids,
                "oneatlas_conn_id": self.oneatlas_conn_id,
                "poll_interval": self.poll_interval,
                "max_poll_interval": self.max_poll_interval,
                "end_time": self.end_time,
                "max_consecutive_errors": self.max_consecutive_errors,
            },
        )

    def _event(self, status: str, **fields: Any) -> TriggerEvent:
        return TriggerEvent({"status": status, "order_ids": self.order_ids, **fields})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_oneatlas.hooks.oneatlas import OneAtlasHook
        from airflow_provider_oneatlas.triggers.poller import OrderPoller

        hook = OneAtlasHook(oneatlas_conn_id=self.oneatlas_conn_id)
        try:
            config = await hook.aget_config()
        except OneAtlasError as exc:
            yield self._event("error", message=str(exc))
            return

        async def make_client() -> Any:
            return hook.get_async_client(config)

        delivered: dict[str, dict[str, Any]] = {}
        started = time.monotonic()
        last_status: dict[str, str] = {}
        errors = 0
        # Waits sharing a connection share one poll (see poller.py): one listing per 500 orders.
        connection_key = f"{config.cache_key}:{config.service_urls['data']}"
        async with OrderPoller.watching(
            connection_key,
            make_client,
            self.order_ids,
            poll_interval=self.poll_interval,
            max_poll_interval=self.max_poll_interval,
        ) as watch:
            while True:
                timeout = None if self.end_time is None else max(0.0, self.end_time - time.time())
                try:
                    update = await asyncio.wait_for(watch.updates.get(), timeout=timeout)
                except asyncio.TimeoutError:
                    pending = [i for i in self.order_ids if i not in delivered]
                    yield self._event(
                        "timeout",
                        message=f"orders {pending} not delivered before the deadline "
                        f"(last status: {', '.join(f'{i}={last_status.get(i)}' for i in pending)})",
                    )
                    return
                if update.error is not None:
                    if not isinstance(update.error, TRANSIENT_ERRORS):
                        yield self._event("error", message=str(update.error))
                        return
                    errors += 1
                    self.log.warning("OneAtlas poll failed (%d in a row): %s", errors, update.error)
                    if errors > self.max_consecutive_errors:
                        yield self._event("error", message=wait_gave_up(self.order_ids, started, errors, update.error))
                        return
                    continue
                errors = 0
                if update.missing:
                    yield self._event("error", message="; ".join(update.missing.values()))
                    return
                for order_id, order in update.orders.items():
                    if last_status.get(order_id) != order.status:
                        last_status[order_id] = order.status
                        self.log.info("OneAtlas order %s is %s (waited %s)", order_id, order.status, waited(started))
                    if order.is_failed:
                        yield self._event(
                            "failed",
                            order_id=order_id,
                            order_status=order.status,
                            message=order.message or f"order {order.status}",
                        )
                        return
                    if order.is_delivered:
                        delivered[order_id] = order.to_dict()
                if all(i in delivered for i in self.order_ids):
                    yield self._event("success", orders=[delivered[i] for i in self.order_ids])
                    return
