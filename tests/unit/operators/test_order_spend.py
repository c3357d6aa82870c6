"""The order operator's spend controls on a live sandbox: the destination is proven writable before
any order request, period and run budgets refuse with the figures, and an approved quote is ordered
exactly (images and price) or refused."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_oneatlas.client.budgets import dag_tag, run_tag
from airflow_provider_oneatlas.client.errors import ValidationError
from airflow_provider_oneatlas.operators.order import OneAtlasOrderOperator
from airflow_provider_oneatlas.operators.search import OneAtlasSearchOperator
from airflow_provider_oneatlas.version_compat import AirflowFailException
from tests.conftest import TOULOUSE_FIELD
from tests.standins import TaskInstanceStandIn
from tests.unit.client.helpers import ledger, order_posts


def run_context(run_id: str = "r1", map_index: int = -1) -> dict[str, Any]:
    return {"ti": TaskInstanceStandIn(dag_id="fields", run_id=run_id, map_index=map_index)}


def found(limit: int = 3) -> list[dict[str, Any]]:
    return OneAtlasSearchOperator(
        task_id="search",
        aoi=TOULOUSE_FIELD,
        acquisition_date=("2024-01-01", "2024-12-31"),
        processing_level="SENSOR",
        constellation=["SPOT", "PHR"],
        limit=limit,
    ).execute(run_context())


def test_an_unwritable_destination_fails_before_any_order_request(oneatlas_conn: str, sandbox: Any) -> None:
    images = found(1)
    order = OneAtlasOrderOperator(task_id="order", image_ids=images, aoi=TOULOUSE_FIELD, destination="file:///proc/")
    with pytest.raises(ValidationError, match=r"destination: .* is not writable"):
        order.execute(run_context())
    state = ledger(sandbox)
    assert order_posts(sandbox) == [] and state["orders"] == [] and state["debits"] == []


def test_a_writable_destination_lets_the_order_through(oneatlas_conn: str, sandbox: Any, tmp_path: Any) -> None:
    images = found(1)
    result = OneAtlasOrderOperator(
        task_id="order", image_ids=images, aoi=TOULOUSE_FIELD, destination=str(tmp_path / "imagery")
    ).execute(run_context())
    assert result["order_id"] and list((tmp_path / "imagery").iterdir()) == []
    assert len(order_posts(sandbox)) == 1


def test_a_period_budget_refuses_with_spent_cap_and_cost(oneatlas_conn: str, sandbox: Any) -> None:
    images = found(2)
    budget = {"credits": 700, "period": "month"}  # the DAG's own tag: no tag given
    first = OneAtlasOrderOperator(task_id="order", image_ids=images[:1], aoi=TOULOUSE_FIELD, period_budget=budget)
    placed = first.execute(run_context("r1"))
    second = OneAtlasOrderOperator(task_id="order", image_ids=images[1:], aoi=TOULOUSE_FIELD, period_budget=budget)
    with pytest.raises(AirflowFailException) as refused:
        second.execute(run_context("r2"))
    assert f"{placed['price']:g} already spent this month" in str(refused.value)
    assert "period_budget of 700 credits per month" in str(refused.value)
    assert ledger(sandbox)["orders"][0]["tags"][:2] == ["airflow", dag_tag("fields")]


def test_a_run_budget_needs_serialised_order_tasks() -> None:
    with pytest.raises(ValidationError, match=r"run_budget: .*pool of one slot"):
        OneAtlasOrderOperator(task_id="order", image_ids=["img-1"], aoi=TOULOUSE_FIELD, run_budget=1000)
    OneAtlasOrderOperator(
        task_id="o1", image_ids=["img-1"], aoi=TOULOUSE_FIELD, run_budget=1000, pool="oneatlas_orders"
    )
    OneAtlasOrderOperator(
        task_id="o2", image_ids=["img-1"], aoi=TOULOUSE_FIELD, run_budget=1000, max_active_tis_per_dagrun=1
    )


def test_a_run_budget_spans_the_mapped_fields_of_one_run(oneatlas_conn: str, sandbox: Any) -> None:
    images = found(3)
    outcomes: list[Any] = []
    for index, image in enumerate(images):
        operator = OneAtlasOrderOperator(
            task_id="order", image_ids=[image], aoi=TOULOUSE_FIELD, run_budget=1000, pool="oneatlas_orders"
        )
        try:
            outcomes.append(operator.execute(run_context("r1", map_index=index)))
        except AirflowFailException as exc:
            outcomes.append(exc)
    assert any(isinstance(o, AirflowFailException) and "run_budget of 1000" in str(o) for o in outcomes)
    orders = ledger(sandbox)["orders"]
    assert sum(o["price"] for o in orders if run_tag("fields", "r1") in o["tags"]) <= 1000
    # Another run has its own total: the image refused in this run is bought in the next.
    refused = next(i for i, o in enumerate(outcomes) if isinstance(o, AirflowFailException))
    OneAtlasOrderOperator(
        task_id="order", image_ids=[images[refused]], aoi=TOULOUSE_FIELD, run_budget=1000, pool="oneatlas_orders"
    ).execute(run_context("r2"))


def test_an_approved_quote_is_ordered_exactly_or_refused(oneatlas_conn: str, sandbox: Any) -> None:
    images = found(3)
    quote = {"approved": True, "image_ids": [images[0]["id"]], "credits": 10_000}
    result = OneAtlasOrderOperator(task_id="order", image_ids=images, aoi=TOULOUSE_FIELD, approved_quote=quote).execute(
        run_context("r1")
    )
    assert result["image_ids"] == [images[0]["id"]]
    # The price now is over what was approved: refused, nothing ordered.
    cheap = {"approved": True, "image_ids": [images[1]["id"]], "credits": 1}
    with pytest.raises(AirflowFailException, match="more than the 1 credits approved"):
        OneAtlasOrderOperator(task_id="order", image_ids=images, aoi=TOULOUSE_FIELD, approved_quote=cheap).execute(
            run_context("r2")
        )
    assert [o["productIds"] for o in ledger(sandbox)["orders"]] == [[images[0]["id"]]]
