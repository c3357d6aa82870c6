"""``OneAtlasPriceOperator`` and ``OneAtlasOrderOperator``: what an image costs, and buying it once."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import Context

from airflow_provider_oneatlas.client import query
from airflow_provider_oneatlas.client.errors import (
    ServerError,
    TransportError,
    ValidationError,
)
from airflow_provider_oneatlas.client.query import ORDER_KINDS
from airflow_provider_oneatlas.links import OneAtlasOrderLink
from airflow_provider_oneatlas.operators.base import OneAtlasBaseOperator, default_deferrable, is_templated
from airflow_provider_oneatlas.operators.search import as_number
from airflow_provider_oneatlas.sensors.oneatlas import delivered_or_raise, handle_trigger_event
from airflow_provider_oneatlas.triggers.oneatlas import OneAtlasOrderTrigger
from airflow_provider_oneatlas.version_compat import AirflowFailException

if TYPE_CHECKING:
    from airflow_provider_oneatlas.client.client import OneAtlasClient
    from airflow_provider_oneatlas.client.models import Order

#: Order POSTs per try when each failure is followed by a lookup proving no order was placed.
ORDER_POST_ATTEMPTS = 3


def image_ids_of(value: Any, field: str = "image_ids") -> list[str]:
    """Image ids from an id, a list of ids, or the summaries returned by the search operator."""
    items = value if isinstance(value, (list, tuple)) else [value]
    ids = []
    for item in items:
        if isinstance(item, dict):
            item = item.get("id")
        ids.append(query.check_id(item, field))
    if not ids:
        raise ValidationError(field, "no image given", "an image id, a list of ids, or search results")
    return ids


class _ProductOperator(OneAtlasBaseOperator):
    """Parameters shared by pricing and ordering: the images, the AOI and the product options."""

    _product_fields: Sequence[str] = (
        "oneatlas_conn_id",
        "image_ids",
        "aoi",
        "product_type",
        "radiometric_processing",
        "image_format",
        "crs_code",
    )

    def __init__(
        self,
        *,
        image_ids: Any,
        aoi: Any,
        product_type: str = "bundle",
        radiometric_processing: str = "REFLECTANCE",
        image_format: str = "image/jp2",
        crs_code: str = "urn:ogc:def:crs:EPSG::4326",
        kind: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.image_ids = image_ids
        self.aoi = aoi
        self.product_type = product_type
        self.radiometric_processing = radiometric_processing
        self.image_format = image_format
        self.crs_code = crs_code
        self.kind = kind
        # Options are checked at parse time when they are plain values (no geometry library needed).
        for field, value, choices in (
            ("product_type", product_type, query.PRODUCT_TYPES),
            ("image_format", image_format, query.IMAGE_FORMATS),
            ("kind", kind, ORDER_KINDS),
        ):
            if value is not None and not is_templated(value) and value not in choices:
                raise ValidationError(field, f"unknown value {value!r}", ", ".join(choices))
        if (
            not is_templated(radiometric_processing)
            and str(radiometric_processing).upper() not in query.RADIOMETRIC_PROCESSINGS
        ):
            raise ValidationError(
                "radiometric_processing",
                f"unknown value {radiometric_processing!r}",
                ", ".join(query.RADIOMETRIC_PROCESSINGS),
            )
        if not is_templated(crs_code) and (not isinstance(crs_code, str) or not query.CRS_RE.match(crs_code.strip())):
            raise ValidationError("crs_code", f"unknown value {crs_code!r}", query.CRS_ACCEPTED)
        if not is_templated(image_ids):
            image_ids_of(image_ids)

    def products(self) -> list[query.ProductSpec]:
        return [
            query.ProductSpec(
                item_id=item_id,
                aoi=self.aoi,
                product_type=self.product_type,
                radiometric_processing=self.radiometric_processing,
                image_format=self.image_format,
                crs_code=self.crs_code,
            )
            for item_id in image_ids_of(self.image_ids)
        ]


class OneAtlasPriceOperator(_ProductOperator):
    """Prices one or more images over an AOI.

    :param image_ids: an image id, a list of ids, or the search operator's result (templated).
    :param aoi: the area to cut from each image (any AOI form; templated).
    :param product_type: ``bundle`` (default), ``pansharpened``, ``bundle-fs``, ``pansharpened-fs``.
    :param radiometric_processing: ``REFLECTANCE`` (default), ``DISPLAY``, ``BASIC16``.
    :param image_format: ``image/jp2`` (default) or ``image/geotiff``.
    :param crs_code: ``urn:ogc:def:crs:EPSG::4326`` (default) or a UTM code.
    :param kind: the order kind; default: the one the subscription requires.

    Returns ``{"credits", "area_km2", "orderable", "feasibility", "deliveries", "image_ids"}``.
    """

    template_fields: Sequence[str] = (*_ProductOperator._product_fields, "kind")
    template_fields_renderers = {"aoi": "json"}
    ui_color = "#ffd27f"

    def execute(self, context: Context) -> dict[str, Any]:
        products = self.products()
        price = self.hook.get_price(products, kind=self.kind)
        self.log.info("OneAtlas price: %g credits for %.2f km2", price.credits, price.area_km2)
        return price.to_dict() | {"image_ids": [p.item_id for p in products]}


class OneAtlasOrderOperator(_ProductOperator):
    """Orders images within a budget, exactly once, and can wait for the delivery.

    Before ordering it prices the order, and refuses (failing the task without retries) when the
    price exceeds ``max_credits`` or the contract's balance. A task that is retried never orders the
    same work twice: every order carries a ``customerRef`` unique to this task instance, and an order
    already placed under it (by an earlier try that died after posting) is taken up instead.

    :param image_ids: an image id, a list of ids, or the search operator's result (templated).
    :param aoi: the area to cut from each image (templated).
    :param product_type: see ``OneAtlasPriceOperator``; so are ``radiometric_processing``,
        ``image_format``, ``crs_code`` and ``kind``.
    :param max_credits: the budget: the most this order may cost (templated). None: only the balance.
    :param customer_ref: the order's reference; default ``airflow:<dag>:<task>:<run>[:<map index>]``.
        Orders are looked up by it before posting (templated).
    :param tags: order tags, letters only (default ``["airflow"]``; templated).
    :param wait_for_completion: wait until the order is delivered (default False).
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    :param poll_interval: seconds between status checks while waiting.
    :param wait_timeout: seconds to wait for the delivery before failing (None: no limit).

    Returns ``{"order_id", "status", "price", "customer_ref", "kind", "image_ids", "deliveries"}``
    and pushes ``order_id`` under its own XCom key too.
    """

    template_fields: Sequence[str] = (*_ProductOperator._product_fields, "kind", "max_credits", "customer_ref", "tags")
    template_fields_renderers = {"aoi": "json"}
    operator_extra_links = (OneAtlasOrderLink(),)
    ui_color = "#ffb35c"

    def __init__(
        self,
        *,
        max_credits: Any = None,
        customer_ref: str | None = None,
        tags: Sequence[str] | None = ("airflow",),
        wait_for_completion: bool = False,
        deferrable: bool | None = None,
        poll_interval: float = 30.0,
        wait_timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.max_credits = max_credits
        self.customer_ref = customer_ref
        # A bare string is one tag, not a list of letters; a template renders later.
        self.tags: Any = [tags] if isinstance(tags, str) and not is_templated(tags) else (tags if tags else [])
        self.wait_for_completion = wait_for_completion
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout
        self.oneatlas_order_url: str | None = None
        if not is_templated(max_credits):
            as_number(max_credits, "max_credits", lower=0, upper=1e12)
        if not is_templated(self.tags):
            self.tags = query.check_tags(self.tags)
        if customer_ref is not None and not is_templated(customer_ref):
            query.check_customer_ref(customer_ref)

    def _customer_ref(self, context: Context) -> str:
        if self.customer_ref is not None:
            ref = query.check_customer_ref(self.customer_ref)
            assert ref is not None
            return ref
        ti = context["ti"]
        parts = ["airflow", ti.dag_id, ti.task_id, ti.run_id]
        if getattr(ti, "map_index", -1) not in (-1, None):
            parts.append(str(ti.map_index))
        ref = ":".join(parts)
        if len(ref) > 256:  # keep it unique but within the API's limit
            ref = ref[:200] + ":" + hashlib.sha256(ref.encode()).hexdigest()[:32]
        return ref

    def execute(self, context: Context) -> Any:
        self.tags = query.check_tags(self.tags)  # a rendered template may be a string: one tag
        products = self.products()  # every input checked before any request
        budget = as_number(self.max_credits, "max_credits", lower=0, upper=1e12)
        ref = self._customer_ref(context)
        # Built (and so checked) before any request; without a kind, the subscription decides it later.
        body = query.order_body(self.kind or ORDER_KINDS[0], products, customer_ref=ref, tags=self.tags)
        client = self.hook.client

        existing = client.find_orders(customer_ref=ref)
        if existing:
            order = existing[0]
            self.log.info(
                "Order %s (%s) was already placed under customerRef %r by an earlier try: not ordering again",
                order.id,
                order.status,
                ref,
            )
        else:
            order = self._place(client, body, budget, ref)
        self._remember(context, order)
        image_ids = [p.item_id for p in products]
        if not self.wait_for_completion or delivered_or_raise(order):
            return self._result(order.to_dict(), image_ids)
        if self.deferrable:
            end_time = time.time() + self.wait_timeout if self.wait_timeout else None
            self.defer(
                trigger=OneAtlasOrderTrigger(
                    order_ids=[order.id],
                    oneatlas_conn_id=self.oneatlas_conn_id,
                    poll_interval=self.poll_interval,
                    end_time=end_time,
                ),
                method_name="execute_complete",
                kwargs={"image_ids": image_ids, "order_url": self.oneatlas_order_url},
                timeout=timedelta(seconds=self.wait_timeout) if self.wait_timeout else None,
            )
        return self._result(self._poll(order.id).to_dict(), image_ids)

    def _place(self, client: OneAtlasClient, body: dict[str, Any], budget: float | None, ref: str) -> Order:
        # One read of the account serves both the order kind and the balance check.
        account = client.get_me()
        if self.kind is None:
            body = {**body, "kind": client.get_order_kind(account)}
        price = client.get_price(body=body)
        if not price.is_orderable:
            raise AirflowFailException(f"OneAtlas says the order is not orderable ({price.orderable})")
        if budget is not None and price.credits > budget:
            raise AirflowFailException(
                f"The order would cost {price.credits:g} credits, over the budget max_credits={budget:g}: not ordered"
            )
        if price.credits > account.balance:
            raise AirflowFailException(
                f"The order would cost {price.credits:g} credits, more than the balance of {account.balance:g}: "
                "not ordered"
            )
        self.log.info("Ordering for %g credits (%.2f km2), customerRef %r", price.credits, price.area_km2, ref)
        for attempt in range(1, ORDER_POST_ATTEMPTS + 1):
            try:
                return client.create_order(body=body)
            except (TransportError, ServerError) as exc:
                # The POST may have reached OneAtlas even though the answer was lost: look first.
                found = client.find_orders(customer_ref=ref)
                if found:
                    self.log.warning("The order answer was lost but order %s exists: using it", found[0].id)
                    return found[0]
                if attempt == ORDER_POST_ATTEMPTS:
                    raise
                # Proven absent: posting again cannot make a second order.
                self.log.warning("Ordering failed (%s) and no order exists under %r: posting again", exc, ref)
                time.sleep(min(2.0**attempt, 30.0))
        raise AssertionError("unreachable")

    def _remember(self, context: Context, order: Order) -> None:
        self.oneatlas_order_url = order.url
        context["ti"].xcom_push(key="order_id", value=order.id)

    def _poll(self, order_id: str) -> Order:
        deadline = time.monotonic() + self.wait_timeout if self.wait_timeout else None
        while True:
            order = self.hook.get_order(order_id)
            if delivered_or_raise(order):
                return order
            if deadline is not None and time.monotonic() > deadline:
                raise AirflowFailException(f"OneAtlas order {order_id} not delivered after {self.wait_timeout}s")
            time.sleep(self.poll_interval)

    @staticmethod
    def _result(order: dict[str, Any], image_ids: Sequence[str]) -> dict[str, Any]:
        """The task's XCom, from an order as ``Order.to_dict()`` gives it (also the trigger's event)."""
        return {
            "order_id": order["id"],
            "status": order["status"],
            "price": order["price"],
            "customer_ref": order["customer_ref"],
            "kind": order["kind"],
            "image_ids": list(image_ids),
            "deliveries": order["deliveries"],
        }

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None, image_ids: Any = None, order_url: str | None = None
    ) -> Any:
        orders = handle_trigger_event(event)
        order = orders[0]
        # A resumed task is a new operator object: restore the link. The event carries it too, for
        # Airflow 3.1's dag.test(), which resumes with the event alone and drops the defer kwargs.
        self.oneatlas_order_url = order_url or order.get("url")
        return self._result(order, image_ids or order["product_ids"])
