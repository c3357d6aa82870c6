"""Ordering once across runs: an image bought for a field with given options is never bought again
for them, by another run or another DAG, and the skip names the order that bought it."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_oneatlas.client.ordering import acquisition_tag
from airflow_provider_oneatlas.client.query import ProductSpec
from airflow_provider_oneatlas.operators.order import OneAtlasOrderOperator
from airflow_provider_oneatlas.operators.search import OneAtlasSearchOperator
from airflow_provider_oneatlas.version_compat import AirflowSkipException
from tests.conftest import TOULOUSE_FIELD
from tests.e2e.conftest import sandbox_get
from tests.standins import TaskInstanceStandIn

SHIFTED_FIELD = {
    "type": "Polygon",
    "coordinates": [[[1.31, 43.55], [1.41, 43.55], [1.41, 43.62], [1.31, 43.62], [1.31, 43.55]]],
}


def logged(capsys: pytest.CaptureFixture[str]) -> str:
    """What the operators logged (Airflow 3 task logging writes to stdout outside a task runner)."""
    captured = capsys.readouterr()
    return captured.out + captured.err


def run_context(run_id: str, dag_id: str = "dag_a") -> dict[str, Any]:
    return {"ti": TaskInstanceStandIn(dag_id=dag_id, run_id=run_id)}


def images(context: dict[str, Any], limit: int = 2) -> list[dict[str, Any]]:
    return OneAtlasSearchOperator(
        task_id="search",
        aoi=TOULOUSE_FIELD,
        acquisition_date=("2024-01-01", "2024-12-31"),
        processing_level="SENSOR",
        limit=limit,
    ).execute(context)


def test_a_rerun_or_another_dag_buys_nothing_twice(
    oneatlas_conn: str, sandbox: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    found = images(run_context("r1"))
    first = OneAtlasOrderOperator(task_id="order", image_ids=found[:1], aoi=TOULOUSE_FIELD).execute(run_context("r1"))
    assert f"Placed order {first['order_id']} for " in logged(capsys)

    # The same day cleared and re-run (a new customerRef: another run id), and another DAG.
    for context in (run_context("r1-cleared"), run_context("r9", dag_id="dag_b")):
        with pytest.raises(AirflowSkipException) as skipped:
            OneAtlasOrderOperator(task_id="order", image_ids=found[:1], aoi=TOULOUSE_FIELD).execute(context)
        assert f"{found[0]['id']} by order {first['order_id']}" in str(skipped.value)
    assert f"was already bought for this AOI and these options by order {first['order_id']}" in logged(capsys)

    # Overlapping windows: the new image is bought, the old one left out.
    second = OneAtlasOrderOperator(task_id="order", image_ids=found[:2], aoi=TOULOUSE_FIELD).execute(
        run_context("r2")
    )
    assert second["image_ids"] == [found[1]["id"]]

    state = sandbox_get(sandbox.base_url, "/_sandbox/state")
    bought = [p for order in state["orders"] for p in order["productIds"]]
    assert sorted(bought) == sorted([found[0]["id"], found[1]["id"]])
    assert len(state["debits"]) == 2


def test_another_field_or_other_options_are_another_purchase(oneatlas_conn: str, sandbox: Any) -> None:
    found = images(run_context("r1"), limit=1)
    OneAtlasOrderOperator(task_id="order", image_ids=found, aoi=TOULOUSE_FIELD).execute(run_context("r1"))
    OneAtlasOrderOperator(task_id="order", image_ids=found, aoi=SHIFTED_FIELD).execute(run_context("r2"))
    OneAtlasOrderOperator(
        task_id="order", image_ids=found, aoi=TOULOUSE_FIELD, radiometric_processing="DISPLAY"
    ).execute(run_context("r3"))
    assert len(sandbox_get(sandbox.base_url, "/_sandbox/state")["orders"]) == 3


def test_the_tag_names_the_field_and_options_not_the_image_or_float_noise() -> None:
    product = ProductSpec(item_id="abc-123", aoi=TOULOUSE_FIELD)
    tag = acquisition_tag(product)
    assert tag.isalpha() and tag.startswith("acq") and len(tag) == 27
    assert acquisition_tag(ProductSpec(item_id="def-456", aoi=TOULOUSE_FIELD)) == tag
    noisy = {"type": "Polygon", "coordinates": [[[x + 1e-12, y] for x, y in TOULOUSE_FIELD["coordinates"][0]]]}
    assert acquisition_tag(ProductSpec(item_id="abc-123", aoi=noisy)) == tag
    assert acquisition_tag(ProductSpec(item_id="abc-123", aoi=SHIFTED_FIELD)) != tag
    assert acquisition_tag(ProductSpec(item_id="abc-123", aoi=TOULOUSE_FIELD, product_type="pansharpened")) != tag


def test_opting_out_orders_again(oneatlas_conn: str, sandbox: Any) -> None:
    found = images(run_context("r1"), limit=1)
    for run in ("r1", "r2"):
        OneAtlasOrderOperator(
            task_id="order", image_ids=found, aoi=TOULOUSE_FIELD, skip_already_ordered=False
        ).execute(run_context(run))
    assert len(sandbox_get(sandbox.base_url, "/_sandbox/state")["orders"]) == 2
