"""``OneAtlasOrderSensor``: waits until OneAtlas has delivered an order."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue

from airflow_provider_oneatlas.client.query import check_id
from airflow_provider_oneatlas.hooks.oneatlas import OneAtlasHook
from airflow_provider_oneatlas.triggers.oneatlas import OneAtlasOrderTrigger, orders_from_event
from airflow_provider_oneatlas.utils.arguments import default_deferrable, is_templated
from airflow_provider_oneatlas.utils.errors import airflow_errors


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
        with airflow_errors():
            if self.hook.check_delivered(order):
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
        with airflow_errors():
            orders = orders_from_event(event)
        self.log.info("OneAtlas order %s delivered", self.order_id)
        return orders[0] if orders else None
