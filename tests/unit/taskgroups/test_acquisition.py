"""taskgroups/acquisition.py: one call builds a field's acquisition with the defaults an unattended
acquisition wants; what cannot work is refused when the DAG is parsed. (It runs end to end in
tests/e2e/test_fields_dag.py.)"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
import pytest
from airflow.sdk import DAG

from airflow_provider_oneatlas import version_compat
from airflow_provider_oneatlas.client.errors import ValidationError
from airflow_provider_oneatlas.taskgroups.acquisition import DAY_FOLDER, oneatlas_acquisition_group
from airflow_provider_oneatlas.version_compat import AIRFLOW_V_3_1_PLUS
from tests.conftest import TOULOUSE_FIELD


def build(**kwargs: Any) -> DAG:
    with DAG("fields_test", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
        oneatlas_acquisition_group("north", TOULOUSE_FIELD, "s3://aws_default@bucket/imagery/", **kwargs)
    return dag


def test_without_approval_search_order_wait_download() -> None:
    dag = build(max_credits=5000)
    assert set(dag.task_ids) == {f"north.{step}" for step in ("search", "order", "wait", "download")}
    search, order = dag.get_task("north.search"), dag.get_task("north.order")
    wait, download = dag.get_task("north.wait"), dag.get_task("north.download")
    # The defaults: new SENSOR images only, nothing new skips the rest, a deferrable wait.
    assert search.published_since_previous_run is True and search.processing_level == "SENSOR"
    assert search.skip_if_empty is True and search.limit == 1
    assert order.upstream_task_ids == {"north.search"} and order.max_credits == 5000
    assert order.destination == "s3://aws_default@bucket/imagery/"  # probed before ordering
    assert order.pool == "default_pool" and order.approved_quote is None
    assert wait.deferrable is True and wait.upstream_task_ids == {"north.order"}
    assert download.upstream_task_ids == {"north.order", "north.wait"}
    assert download.destination == "s3://aws_default@bucket/imagery/" + DAY_FOLDER


def test_a_run_budget_needs_the_order_pool() -> None:
    with pytest.raises(ValidationError) as error:
        build(run_budget=20000)
    assert error.value.field == "run_budget"
    order = build(run_budget=20000, order_pool="oneatlas_orders").get_task("north.order")
    assert order.pool == "oneatlas_orders" and order.run_budget == 20000


def test_a_destination_must_be_a_url() -> None:
    start = pendulum.datetime(2024, 1, 1, tz="UTC")
    with DAG("bad_destination", schedule=None, start_date=start), pytest.raises(ValidationError) as error:
        oneatlas_acquisition_group("north", TOULOUSE_FIELD, 42)  # type: ignore[arg-type]
    assert error.value.field == "destination"


def test_with_approval_quote_and_approve_come_before_the_order() -> None:
    if not AIRFLOW_V_3_1_PLUS:  # Airflow 3.0: the parse-time error, naming the version needed
        with pytest.raises(version_compat.AirflowVersionError, match=r"3\.1\.0 or newer"):
            build(approval_above=1000)
        return
    dag = build(approval_above=1000, approval_timeout=timedelta(hours=2), period_budget={"credits": 9, "period": "day"})
    assert "north.quote" in dag.task_ids and "north.approve" in dag.task_ids
    quote, approve, order = (dag.get_task(f"north.{step}") for step in ("quote", "approve", "order"))
    assert quote.upstream_task_ids == {"north.search"} and approve.upstream_task_ids == {"north.quote"}
    assert order.upstream_task_ids == {"north.search", "north.approve"}
    assert approve.response_timeout == timedelta(hours=2) and approve.defaults == ["Reject"]
    assert quote.destination == order.destination and quote.period_budget == order.period_budget
    assert order.approved_quote is not None  # the approval's result: exactly what was approved is ordered


def test_an_older_airflow_refuses_approval_when_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(version_compat, "AIRFLOW_VERSION", (3, 0, 6))
    with pytest.raises(version_compat.AirflowVersionError, match=r"3\.1\.0 or newer; this is Airflow 3\.0\.6"):
        build(approval_above=0)
