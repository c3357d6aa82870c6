"""``OneAtlasOrderOperator``: buys images exactly once within a budget, and can wait for them.

The guarantees live in the client (``client/ordering.py``) behind the hook; this operator reads its
arguments, names the order after the task instance, and waits in the worker or the triggerer.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import Context

from airflow_provider_oneatlas.client import query
from airflow_provider_oneatlas.client.order_pages import order_page_url
from airflow_provider_oneatlas.links import OneAtlasOrderLink
from airflow_provider_oneatlas.operators.base import OneAtlasProductOperator
from airflow_provider_oneatlas.storage.destination import probe_destination
from airflow_provider_oneatlas.triggers.oneatlas import OneAtlasOrderTrigger, orders_from_event
from airflow_provider_oneatlas.utils import spend
from airflow_provider_oneatlas.utils.arguments import default_deferrable, is_templated
from airflow_provider_oneatlas.utils.errors import airflow_errors
from airflow_provider_oneatlas.version_compat import AirflowFailException, AirflowSkipException

if TYPE_CHECKING:
    from airflow_provider_oneatlas.client.models import Order


class OneAtlasOrderOperator(OneAtlasProductOperator):
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
    :param skip_already_ordered: leave out images that an earlier order (any run, any DAG) bought for
        the same AOI and product options, found in the account through the order's acquisition tag;
        when every image was, the task is skipped and nothing is ordered (default True).
    :param destination: where the imagery will be stored (templated): proven writable (a probe object
        written and removed) before anything is priced or ordered.
    :param period_budget: a cap per UTC period over the account's order history, e.g.
        ``{"credits": 20000, "period": "month", "tag": "fieldsnorth"}`` (tag: letters only; default
        the DAG's own tag); templated. See ``docs/spend.md``.
    :param run_budget: credits for every order of this DAG run together (mapped fields); needs the
        order tasks serialised: a pool of one slot or ``max_active_tis_per_dagrun=1`` (templated).
    :param approved_quote: the approval task's result: exactly its images are ordered, and only at
        its price or less (templated).
    :param wait_for_completion: wait until the order is delivered (default False).
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    :param poll_interval: seconds between status checks while waiting.
    :param wait_timeout: seconds to wait for the delivery before failing (None: no limit).

    Returns ``{"order_id", "status", "price", "customer_ref", "kind", "image_ids", "deliveries"}``
    and pushes ``order_id`` under its own XCom key too.
    """

    template_fields: Sequence[str] = (
        *OneAtlasProductOperator._product_fields,
        "kind",
        "max_credits",
        "customer_ref",
        "tags",
        "destination",
        "period_budget",
        "run_budget",
        "approved_quote",
    )
    template_fields_renderers = {"aoi": "json"}
    operator_extra_links = (OneAtlasOrderLink(),)
    ui_color = "#ffb35c"

    def __init__(
        self,
        *,
        max_credits: Any = None,
        customer_ref: str | None = None,
        tags: Sequence[str] | None = ("airflow",),
        skip_already_ordered: bool = True,
        wait_for_completion: bool = False,
        deferrable: bool | None = None,
        poll_interval: float = 30.0,
        wait_timeout: float | None = None,
        destination: Any = None,
        period_budget: Any = None,
        run_budget: Any = None,
        approved_quote: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.destination = destination
        self.period_budget = period_budget
        self.run_budget = run_budget
        self.approved_quote = approved_quote
        if run_budget is not None:
            spend.check_run_budget_serialised(self.pool, self.max_active_tis_per_dagrun)
        self.max_credits = max_credits
        self.customer_ref = customer_ref
        # A bare string is one tag, not a list of letters; a template renders later.
        self.tags: Any = [tags] if isinstance(tags, str) and not is_templated(tags) else (tags if tags else [])
        self.skip_already_ordered = skip_already_ordered
        self.wait_for_completion = wait_for_completion
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout
        self.oneatlas_order_url: str | None = None
        if not is_templated(max_credits):
            query.check_number(max_credits, "max_credits", lower=0, upper=1e12)
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
        budget = query.check_number(self.max_credits, "max_credits", lower=0, upper=1e12)
        ti = context["ti"]
        budgets = spend.budgets_for(self.period_budget, self.run_budget, dag_id=ti.dag_id, run_id=ti.run_id)
        max_price = None
        if self.approved_quote is not None:  # exactly the approved images, at the approved price
            approved_ids, max_price = spend.approved_selection(self.approved_quote)
            products = [p for p in products if p.item_id in approved_ids]
            if [p.item_id for p in products] != approved_ids:
                raise AirflowFailException(f"approved_quote: images {approved_ids} are not all among image_ids")
        if self.destination is not None:
            probe_destination(self.destination)  # before any request: nothing is bought for nowhere
        with airflow_errors():
            placement = self.hook.place_order(
                products,
                customer_ref=self._customer_ref(context),
                kind=self.kind,
                tags=self.tags,
                budget=budget,
                skip_already_ordered=self.skip_already_ordered,
                budgets=budgets,
                max_price=max_price,
                images=spend.image_summaries(self.image_ids),
            )
        order = placement.order
        if order is None:
            bought = ", ".join(
                f"{image} by order {order_id}" for image, order_id in (placement.already_ordered or {}).items()
            )
            raise AirflowSkipException(
                f"Every image was already bought for this AOI and these options ({bought}): nothing to order"
            )
        if placement.price is not None:
            self.log.info(
                "Placed order %s for %g credits (budget %s, balance left %s)",
                order.id,
                placement.price.credits,
                "none" if budget is None else f"{budget:g}",
                "unknown" if placement.balance is None else f"{placement.balance - placement.price.credits:g}",
            )
        self._remember(context, order)
        skipped = placement.already_ordered or {}
        image_ids = [p.item_id for p in products if p.item_id not in skipped]
        with airflow_errors():
            if not self.wait_for_completion or self.hook.check_delivered(order):
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
        with airflow_errors():
            delivered = self.hook.wait_for_order(order.id, poll_interval=self.poll_interval, timeout=self.wait_timeout)
        return self._result(delivered.to_dict(), image_ids)

    def _remember(self, context: Context, order: Order) -> None:
        self.oneatlas_order_url = order_page_url(self.hook.config, order.id)
        context["ti"].xcom_push(key="order_id", value=order.id)

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
        with airflow_errors():
            order = orders_from_event(event)[0]
        # A resumed task is a new operator object: restore the link. The event carries it too, for
        # Airflow 3.1's dag.test(), which resumes with the event alone and drops the defer kwargs.
        self.oneatlas_order_url = order_url or order_page_url(self.hook.config, order["id"])
        return self._result(order, image_ids or order["product_ids"])
