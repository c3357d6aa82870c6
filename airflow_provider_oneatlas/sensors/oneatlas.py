"""``OneAtlasOrderSensor``: waits until OneAtlas has delivered an order."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue

from airflow_provider_oneatlas.client.errors import OrderFailedError
from airflow_provider_oneatlas.client.query import check_id
from airflow_provider_oneatlas.hooks.oneatlas import OneAtlasHook
from airflow_provider_oneatlas.operators.base import default_deferrable, is_templated
from airflow_provider_oneatlas.triggers.oneatlas import OneAtlasOrderTrigger
from airflow_provider_oneatlas.version_compat import AirflowFailException

if TYPE_CHECKING:
    from airflow_provider_oneatlas.client.models import Order


def order_failed(order_id: Any, status: Any, message: Any) -> AirflowFailException:
    """The task failure for an order that ended failed, error or rejected: no retry can turn it into a
    delivered one, so the task fails at once, with OneAtlas' own message."""
    return AirflowFailException(str(OrderFailedError(str(order_id), str(status), message or None)))


def delivered_or_raise(order: Order) -> bool:
    """True once the order is delivered; a failed, error or rejected one fails the task at once."""
    if order.is_failed:
        raise order_failed(order.id, order.status, order.message)
    return order.is_delivered


def handle_trigger_event(event: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The orders of a successful wait; any other outcome fails the task with the reason."""
    if not event:
        raise AirflowFailException("OneAtlas order trigger ended without an event")
    status = event.get("status")
    if status == "success":
        return list(event.get("orders") or [])
    if status == "failed":
        raise order_failed(event.get("order_id"), event.get("order_status"), event.get("message"))
    if status == "timeout":
        raise AirflowFailException(f"OneAtlas order wait timed out: {event.get('message')}")
    raise RuntimeError(f"OneAtlas order wait failed: {event.get('message')}")


class OneAtlasOrderSensor(BaseSensorOperator):
    """Waits until a OneAtlas order is ``delivered``; fails at once on ``failed``, ``error`` or
    ``rejected``, with OneAtlas' message.

    :param order_id: the order to wait for (templated).
    :param oneatlas_conn_id: the OneAtlas connection (templated).
    :param deferrable: wait in the triggerer instead of a worker slot; defaults to
        ``[operators] default_deferrable``.
    :param poll_interval: seconds between status checks (also the sensor's ``poke_interval``; templated,
        the rendered value paces the deferred wait).
    :param max_poll_interval: the deferred wait backs off up to this while the order does not move.

    Returns (XCom) the delivered order: id, status, price and deliveries with their download URLs.
    """

    template_fields: Sequence[str] = ("oneatlas_conn_id", "order_id", "poll_interval")
    ui_color = "#0b3d91"

    def __init__(
        self,
        *,
        order_id: str,
        oneatlas_conn_id: str = OneAtlasHook.default_conn_name,
        deferrable: bool | None = None,
        poll_interval: float = 60.0,
        max_poll_interval: float | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", poll_interval)
        super().__init__(**kwargs)
        if not is_templated(order_id):
            check_id(order_id, "order_id")
        self.order_id = order_id
        self.oneatlas_conn_id = oneatlas_conn_id
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval

    @cached_property
    def hook(self) -> OneAtlasHook:
        return OneAtlasHook(oneatlas_conn_id=self.oneatlas_conn_id)

    def poke(self, context: Context) -> bool | PokeReturnValue:
        order = self.hook.get_order(check_id(self.order_id, "order_id"))
        self.log.info("OneAtlas order %s is %s", order.id, order.status)
        if delivered_or_raise(order):
            return PokeReturnValue(is_done=True, xcom_value=order.to_dict())
        return False

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        # One look first: an order that is already delivered needs no deferral.
        first = self.poke(context)
        if isinstance(first, PokeReturnValue) and first.is_done:
            return first.xcom_value
        end_time = time.time() + self.timeout if self.timeout else None
        self.defer(
            trigger=OneAtlasOrderTrigger(
                order_ids=[self.order_id],
                oneatlas_conn_id=self.oneatlas_conn_id,
                poll_interval=float(self.poll_interval),
                max_poll_interval=self.max_poll_interval,
                end_time=end_time,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout) if self.timeout else None,
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        orders = handle_trigger_event(event)
        self.log.info("OneAtlas order %s delivered", self.order_id)
        return orders[0] if orders else None
