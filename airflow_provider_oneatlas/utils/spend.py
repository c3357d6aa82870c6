"""What the order operator needs to control spend, kept out of the operator so that it stays thin:
budgets from the operator's arguments and the task instance, image summaries for the preflight,
and the approved quote.

The budgets' logic is in the client (``client/budgets.py``); here only the Airflow names are
turned into budget tags: the DAG's tag and the run's tag.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_oneatlas.client import query
from airflow_provider_oneatlas.client.budgets import Budget, check_period_budget, dag_tag, run_tag
from airflow_provider_oneatlas.client.errors import ValidationError

#: Run budgets are only correct when the check-and-order of the run's order tasks never overlap.
SERIALISED_HINT = (
    "put the run's order tasks in a pool of one slot (pool='oneatlas_orders', created with "
    "`airflow pools set oneatlas_orders 1 'OneAtlas orders'`), or map one order task with "
    "max_active_tis_per_dagrun=1"
)


def check_run_budget_serialised(pool: str | None, max_active_tis_per_dagrun: int | None) -> None:
    """At DAG parse time: a run budget needs its order tasks serialised (see ``docs/spend.md``)."""
    if (pool in (None, "", "default_pool")) and max_active_tis_per_dagrun != 1:
        raise ValidationError(
            "run_budget",
            "concurrent order tasks could each see room for the same last credits",
            SERIALISED_HINT,
        )


def budgets_for(period_budget: Any, run_budget: Any, *, dag_id: str, run_id: str) -> list[Budget]:
    budgets = []
    period = check_period_budget(period_budget, default_tag=dag_tag(dag_id))
    if period is not None:
        budgets.append(period)
    if run_budget is not None:
        credits = query.check_number(run_budget, "run_budget", lower=0, upper=1e12)
        assert credits is not None
        budgets.append(Budget(credits=credits, tag=run_tag(dag_id, run_id), label="run_budget"))
    return budgets


def image_summaries(image_ids: Any) -> dict[str, Any]:
    """The search summaries among ``image_ids`` (the search operator's result), by id: the preflight
    needs no lookup for those."""
    items = image_ids if isinstance(image_ids, (list, tuple)) else [image_ids]
    return {item["id"]: item for item in items if isinstance(item, Mapping) and "id" in item and len(item) > 1}


def approved_selection(quote: Any) -> tuple[list[str], float]:
    """The images and the price a person approved, from the approval task's result."""
    if not isinstance(quote, Mapping) or "image_ids" not in quote or "credits" not in quote:
        raise ValidationError(
            "approved_quote", f"{quote!r} is not an approved quote", "the approval task's output (its XComArg)"
        )
    if not quote.get("approved"):
        raise ValidationError("approved_quote", "the quote was not approved", "an approved quote")
    credits = query.check_number(quote["credits"], "approved_quote.credits", lower=0, upper=1e12)
    assert credits is not None
    return query.check_image_ids(quote["image_ids"], "approved_quote.image_ids"), credits
