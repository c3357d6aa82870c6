"""OneAtlasOrderSensor against the sandbox: poke, defer, and each way a wait ends."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from airflow.sdk import PokeReturnValue

from airflow_provider_oneatlas.operators.order import OneAtlasOrderOperator
from airflow_provider_oneatlas.sensors.oneatlas import OneAtlasOrderSensor
from airflow_provider_oneatlas.version_compat import AirflowFailException, TaskDeferred
from tests.conftest import TOULOUSE_FIELD
from tests.helpers import first_event, search, wait_delivered


def test_sensor_poke_and_failures(oneatlas_conn: str, context: dict[str, Any], sandbox: Any) -> None:
    images = search(context, limit=1)
    order = OneAtlasOrderOperator(task_id="order", image_ids=images, aoi=TOULOUSE_FIELD).execute(context)
    sensor = OneAtlasOrderSensor(task_id="wait", order_id=order["order_id"], deferrable=False)
    assert sensor.poke(context) is False
    wait_delivered(sandbox, order["order_id"])
    done = sensor.poke(context)
    assert isinstance(done, PokeReturnValue) and done.is_done and done.xcom_value["status"] == "delivered"
    requests.post(
        f"{sandbox.base_url}/_sandbox/orders/{order['order_id']}/status",
        json={"status": "rejected", "message": "image no longer available"},
        timeout=10,
    )
    with pytest.raises(AirflowFailException, match="image no longer available"):
        sensor.poke(context)


def test_sensor_defers_and_completes(oneatlas_conn: str, context: dict[str, Any]) -> None:
    images = search(context, limit=1)
    order = OneAtlasOrderOperator(task_id="order", image_ids=images, aoi=TOULOUSE_FIELD).execute(context)
    sensor = OneAtlasOrderSensor(
        task_id="wait", order_id=order["order_id"], deferrable=True, poll_interval=0.1, timeout=60
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context)

    result = sensor.execute_complete(context, first_event(deferred.value.trigger))
    assert result["status"] == "delivered"
    with pytest.raises(AirflowFailException, match="rejected"):
        sensor.execute_complete(
            context, {"status": "failed", "order_id": "x", "order_status": "rejected", "message": "m"}
        )
    with pytest.raises(AirflowFailException, match="timed out"):
        sensor.execute_complete(context, {"status": "timeout", "message": "late"})


def test_sensor_default_deferrable_follows_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    assert OneAtlasOrderSensor(task_id="w", order_id="abc-123").deferrable is True
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "False")
    assert OneAtlasOrderSensor(task_id="w", order_id="abc-123").deferrable is False
