"""utils/spend.py: the order operator's spend arguments turned into budgets, the search summaries
the preflight reuses, and the approved quote read back; every bad value names its field and fix."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_oneatlas.client.budgets import Budget, dag_tag, run_tag
from airflow_provider_oneatlas.client.errors import ValidationError
from airflow_provider_oneatlas.utils import spend


@pytest.mark.parametrize(
    ("pool", "per_run"),
    [("oneatlas_orders", None), ("oneatlas_orders", 4), ("default_pool", 1), (None, 1)],
)
def test_serialised_order_tasks_may_share_a_run_budget(pool: str | None, per_run: int | None) -> None:
    spend.check_run_budget_serialised(pool, per_run)


@pytest.mark.parametrize(("pool", "per_run"), [(None, None), ("default_pool", None), ("", 2)])
def test_concurrent_order_tasks_may_not(pool: str | None, per_run: int | None) -> None:
    with pytest.raises(ValidationError) as error:
        spend.check_run_budget_serialised(pool, per_run)
    assert error.value.field == "run_budget"
    message = str(error.value)
    assert "airflow pools set oneatlas_orders 1" in message and "max_active_tis_per_dagrun=1" in message


def test_budgets_for_a_dag_run() -> None:
    budgets = spend.budgets_for({"credits": "900", "period": "week"}, "1500", dag_id="fields", run_id="r1")
    assert budgets == [
        Budget(credits=900.0, tag=dag_tag("fields"), period="week", label="period_budget"),
        Budget(credits=1500.0, tag=run_tag("fields", "r1"), label="run_budget"),
    ]
    # A run's tag differs from another run's, a DAG's from another DAG's; a named tag is kept.
    assert run_tag("fields", "r1") != run_tag("fields", "r2") and dag_tag("fields") != dag_tag("other")
    (named,) = spend.budgets_for({"credits": 5, "period": "day", "tag": "team"}, None, dag_id="d", run_id="r")
    assert named.tag == "team" and named.period == "day"
    assert spend.budgets_for(None, None, dag_id="d", run_id="r") == []


@pytest.mark.parametrize(
    ("period_budget", "run_budget", "field"),
    [
        ({"credits": 10, "period": "year"}, None, "period_budget.period"),
        ({"credits": 10}, None, "period_budget"),
        ({"credits": 10, "period": "day", "tag": "has-dash"}, None, "period_budget.tag"),
        ({"credits": "lots", "period": "day"}, None, "period_budget.credits"),
        (None, -1, "run_budget"),
        (None, "much", "run_budget"),
    ],
)
def test_bad_budgets_name_their_field(period_budget: Any, run_budget: Any, field: str) -> None:
    with pytest.raises((ValidationError, ValueError)) as error:
        spend.budgets_for(period_budget, run_budget, dag_id="d", run_id="r")
    assert field in str(error.value)


def test_image_summaries_keep_only_full_search_results() -> None:
    found = [{"id": "a", "cloud_cover": 3.0}, {"id": "b"}, "c", {"no": "id"}]
    assert spend.image_summaries(found) == {"a": {"id": "a", "cloud_cover": 3.0}}
    assert spend.image_summaries("a") == {} and spend.image_summaries({"id": "a", "coverage": 1}) == {
        "a": {"id": "a", "coverage": 1}
    }


def test_an_approved_quote_gives_the_images_and_price() -> None:
    quote = {"approved": True, "image_ids": ["img-1", "img-2"], "credits": 630, "images": []}
    assert spend.approved_selection(quote) == (["img-1", "img-2"], 630.0)


@pytest.mark.parametrize(
    ("quote", "problem"),
    [
        (None, "is not an approved quote"),
        ({"approved": True, "credits": 1}, "is not an approved quote"),
        ({"approved": False, "image_ids": ["img-1"], "credits": 1}, "was not approved"),
        ({"image_ids": ["img-1"], "credits": 1}, "was not approved"),
        ({"approved": True, "image_ids": ["img-1"], "credits": -1}, "approved_quote.credits"),
    ],
)
def test_anything_else_is_refused(quote: Any, problem: str) -> None:
    with pytest.raises((ValidationError, ValueError)) as error:
        spend.approved_selection(quote)
    assert problem in str(error.value) and "approved_quote" in str(error.value)
