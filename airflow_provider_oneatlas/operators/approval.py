"""Approval before spending: a quote a person can decide on, and an approval step on Airflow's
human-in-the-loop operators (Airflow 3.1+).

``OneAtlasQuoteOperator`` prices the images found, stores their quicklooks beside the imagery, and
reads the balance and what each budget has left: everything a person needs to decide.
``OneAtlasApprovalOperator`` asks for approval when the quote is above a threshold (below it, it
approves on its own, without waiting), and returns the quote marked approved; the order operator,
given it as ``approved_quote``, orders exactly those images at that price or less. Reject or
timeout (whose default is Reject): the downstream order is skipped, nothing is ordered.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import Context

from airflow_provider_oneatlas.client import query
from airflow_provider_oneatlas.operators.base import OneAtlasProductOperator
from airflow_provider_oneatlas.storage.destination import prepare_destination, staged
from airflow_provider_oneatlas.utils import spend
from airflow_provider_oneatlas.utils.arguments import is_templated
from airflow_provider_oneatlas.version_compat import AIRFLOW_V_3_1_PLUS, BaseOperator, require_airflow

#: The first Airflow with the human-in-the-loop operators.
HITL_MIN_AIRFLOW = (3, 1, 0)
#: What :func:`require_airflow` names when approval is asked for on an older Airflow.
APPROVAL_FEATURE = "Approval before ordering (approval_above; Airflow's human-in-the-loop operators)"

_ApprovalBase: Any
if AIRFLOW_V_3_1_PLUS:
    import warnings

    # The standard provider's home for the HITL operators on 3.1 to 3.3. On 3.1 that module imports
    # BranchMixIn through common-compat's deprecated path and warns: Airflow's own import, which a
    # DAG author can do nothing about, so it is not shown (3.2 and 3.3.2 do not warn).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"The `airflow\.operators\.branch\.")
        from airflow.providers.standard.operators.hitl import ApprovalOperator as _ApprovalBase
else:  # the class still exists, so that DAG files import; building one is the parse-time error
    _ApprovalBase = BaseOperator


class OneAtlasQuoteOperator(OneAtlasProductOperator):
    """Prices the images and gathers what a person needs to approve the purchase.

    :param destination: folder where the quicklooks are stored (``<destination>/quicklooks/``); templated.
    :param period_budget: and ``run_budget``: as for ``OneAtlasOrderOperator``: their remaining credits are shown.

    Returns ``{"image_ids", "credits", "area_km2", "balance", "budgets", "images"}``; each image with its
    ``acquisition_date``, ``cloud_cover``, ``coverage`` and stored ``quicklook``.
    """

    template_fields: Sequence[str] = (
        *OneAtlasProductOperator._product_fields,
        "kind",
        "destination",
        "period_budget",
        "run_budget",
    )
    template_fields_renderers = {"aoi": "json"}
    ui_color = "#ffe0a3"

    def __init__(
        self, *, destination: Any = None, period_budget: Any = None, run_budget: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.destination = destination
        self.period_budget = period_budget
        self.run_budget = run_budget

    def execute(self, context: Context) -> dict[str, Any]:
        products = self.products()
        ti = context["ti"]
        budgets = spend.budgets_for(self.period_budget, self.run_budget, dag_id=ti.dag_id, run_id=ti.run_id)
        price = self.hook.get_price(products, kind=self.kind)
        balance = self.hook.get_balance()
        summaries = spend.image_summaries(self.image_ids)
        root = prepare_destination(self.destination) / "quicklooks" if self.destination is not None else None
        images = []
        for product in products:
            summary = summaries.get(product.item_id, {})
            quicklook = None
            if root is not None:
                data = self.hook.get_quicklook(product.item_id, 512, url=(summary.get("links") or {}).get("quicklook"))
                root.mkdir(parents=True, exist_ok=True)
                extension = ".png" if data[:4] == b"\x89PNG" else ".jpg"
                final = root / f"{product.item_id}_quicklook{extension}"
                with staged(final) as sink:
                    sink.write(data)
                quicklook = str(final)
            images.append(
                {
                    "id": product.item_id,
                    "acquisition_date": summary.get("acquisition_date"),
                    "cloud_cover": summary.get("cloud_cover"),
                    "coverage": summary.get("coverage"),
                    "constellation": summary.get("constellation"),
                    "quicklook": quicklook,
                }
            )
        statuses = self.hook.budget_statuses(budgets)
        quote = {
            "image_ids": [p.item_id for p in products],
            "credits": price.credits,
            "area_km2": price.area_km2,
            "balance": balance,
            "budgets": [
                {
                    "name": s.budget.label,
                    "tag": s.budget.tag,
                    "period": s.budget.period,
                    "credits": s.budget.credits,
                    "spent": s.spent,
                    "left": s.left,
                }
                for s in statuses
            ],
            "images": images,
        }
        self.log.info("Quote: %g credits for %s (balance %g)", price.credits, quote["image_ids"], balance)
        return quote


def quote_markdown(quote: dict[str, Any]) -> str:
    """The approval's body: the images (quicklook, date, cloud, coverage), the price, balance, budgets."""
    lines = [
        f"**Price: {quote['credits']:g} credits** for {quote['area_km2']:g} km2 ({len(quote['image_ids'])} image(s)).",
        f"Balance: {quote['balance']:g} credits; after this order: {quote['balance'] - quote['credits']:g}.",
    ]
    for budget in quote.get("budgets") or []:
        per = f" per {budget['period']}" if budget.get("period") else ""
        lines.append(
            f"Budget {budget['name']} ({budget['tag']}): {budget['credits']:g}{per}, spent {budget['spent']:g}, "
            f"left {budget['left']:g}; after this order: {budget['left'] - quote['credits']:g}."
        )
    lines += ["", "| image | acquired | cloud cover | coverage of the field | quicklook |", "|---|---|---|---|---|"]
    for image in quote["images"]:
        cloud = "?" if image.get("cloud_cover") is None else f"{image['cloud_cover']:g} %"
        coverage = "?" if image.get("coverage") is None else f"{100 * image['coverage']:.0f} %"
        look = f"[{image['quicklook']}]({image['quicklook']})" if image.get("quicklook") else "-"
        lines.append(f"| {image['id']} | {image.get('acquisition_date') or '?'} | {cloud} | {coverage} | {look} |")
    lines += ["", "Approve: exactly these images are ordered, at this price or less. Reject: nothing is ordered."]
    return "\n".join(lines)


class OneAtlasApprovalOperator(_ApprovalBase):  # type: ignore[misc]
    """An approval task for a quote (``OneAtlasQuoteOperator``'s result), on ``ApprovalOperator``.

    Above ``approval_above`` credits a person must approve in Airflow's UI or REST API within
    ``response_timeout`` (default 24 h); a timeout counts as Reject. At or below it, it approves by
    itself. Its result (for ``OneAtlasOrderOperator(approved_quote=...)``) is the quote with
    ``"approved"`` and ``"approved_by"``. On Airflow older than 3.1 it raises when the DAG is parsed.
    """

    template_fields: Sequence[str] = (*getattr(_ApprovalBase, "template_fields", ()), "quote", "approval_above")
    ui_color = "#ff9f9f"

    def __init__(
        self,
        *,
        quote: Any,
        approval_above: Any = 0,
        response_timeout: timedelta | None = timedelta(hours=24),
        **kwargs: Any,
    ) -> None:
        require_airflow(HITL_MIN_AIRFLOW, APPROVAL_FEATURE)  # at parse time: the DAG shows the error
        kwargs.setdefault("subject", "Approve the OneAtlas order?")
        kwargs.setdefault("defaults", "Reject")  # a timeout orders nothing
        super().__init__(response_timeout=response_timeout, **kwargs)
        self.quote = quote
        self.approval_above = approval_above
        if not is_templated(approval_above):
            query.check_number(approval_above, "approval_above", lower=0, upper=1e12)

    def execute(self, context: Context) -> Any:
        quote = dict(self.quote)
        threshold = query.check_number(self.approval_above, "approval_above", lower=0, upper=1e12) or 0.0
        if quote["credits"] <= threshold:
            self.log.info("Quote of %g credits is within %g: approved without asking", quote["credits"], threshold)
            return quote | {"approved": True, "approved_by": None}
        count = len(quote["image_ids"])
        self.subject = f"Approve ordering {count} OneAtlas image(s) for {quote['credits']:g} credits?"
        self.body = quote_markdown(quote)
        return super().execute(context)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        answer = super().execute_complete(context, event)
        approved = list(answer["chosen_options"]) == [self.APPROVE]
        by = answer.get("responded_by_user") or {}
        self.log.info("Quote %s by %s", "approved" if approved else "rejected", by.get("name"))
        return dict(self.quote) | {"approved": approved, "approved_by": by.get("name")}
