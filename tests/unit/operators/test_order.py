"""OneAtlasOrderOperator against the sandbox: what it validates and sends, exactly once within a budget,
and its waits (synchronous and deferred)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from airflow_provider_oneatlas.client.errors import ValidationError
from airflow_provider_oneatlas.operators.order import OneAtlasOrderOperator
from airflow_provider_oneatlas.triggers.oneatlas import OneAtlasOrderTrigger
from airflow_provider_oneatlas.version_compat import AirflowFailException, TaskDeferred
from tests.conftest import TOULOUSE_FIELD, connection_json
from tests.helpers import first_event, sandbox_state, search


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"product_type": "bundel"}, "product_type"),
        ({"radiometric_processing": "REFLECTANSE"}, "radiometric_processing"),
        ({"image_format": "image/png"}, "image_format"),
        ({"kind": "productOrder"}, "kind"),
        ({"max_credits": -5}, "max_credits"),
        ({"tags": ["farm-2024"]}, "tags"),
        ({"image_ids": ["not an id!"]}, "image_ids"),
    ],
)
def test_order_rejects_bad_input_at_parse_time(kwargs: dict[str, Any], field: str) -> None:
    args = {"task_id": "o", "image_ids": ["e459d653-468f-471b-8d6e-90b13b14c655"], "aoi": TOULOUSE_FIELD} | kwargs
    with pytest.raises(ValidationError) as err:
        OneAtlasOrderOperator(**args)
    assert err.value.field == field


def test_order_within_budget_exactly_once_across_retries(
    oneatlas_conn: str, context: dict[str, Any], sandbox: Any
) -> None:
    images = search(context, limit=1)
    balance = sandbox_state(sandbox)["balance"]
    op = OneAtlasOrderOperator(task_id="order", image_ids=images, aoi=TOULOUSE_FIELD, max_credits=100_000)
    first = op.execute(context)
    assert (
        first["status"] == "ordered"
        and first["customer_ref"] == "airflow:oneatlas_test:order:manual__2024-05-01T00:00:00+00:00"
    )
    assert context["ti"].xcoms["order_id"] == first["order_id"]
    assert op.oneatlas_order_url and first["order_id"] in op.oneatlas_order_url
    # The task is retried (same task instance): it takes up its order instead of buying again.
    again = OneAtlasOrderOperator(task_id="order", image_ids=images, aoi=TOULOUSE_FIELD, max_credits=100_000).execute(
        context
    )
    assert again["order_id"] == first["order_id"]
    state = sandbox_state(sandbox)
    assert len(state["orders"]) == 1 and state["balance"] == balance - first["price"]


def test_order_over_budget_or_balance_is_refused(oneatlas_conn: str, context: dict[str, Any], sandbox: Any) -> None:
    images = search(context, limit=1)
    with pytest.raises(AirflowFailException, match="over the budget max_credits=1"):
        OneAtlasOrderOperator(task_id="order", image_ids=images, aoi=TOULOUSE_FIELD, max_credits=1).execute(context)
    requests.patch(f"{sandbox.base_url}/_sandbox/config", json={"balance": 3}, timeout=10).raise_for_status()
    requests.post(f"{sandbox.base_url}/_sandbox/reset", timeout=10).raise_for_status()
    with pytest.raises(AirflowFailException, match="more than the balance of 3"):
        OneAtlasOrderOperator(task_id="order", image_ids=images, aoi=TOULOUSE_FIELD).execute(context)
    assert sandbox_state(sandbox)["orders"] == []


@pytest.mark.parametrize("sandbox_config", [{"order_response_delay": 2.0}])
def test_lost_order_answer_is_found_not_repeated(
    sandbox: Any, context: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = connection_json(sandbox.base_url, {"read_timeout": 0.5, "backoff_initial": 0.05})
    monkeypatch.setenv("AIRFLOW_CONN_ONEATLAS_DEFAULT", conn)
    images = search(context, limit=1)
    result = OneAtlasOrderOperator(task_id="order", image_ids=images, aoi=TOULOUSE_FIELD).execute(context)
    state = sandbox_state(sandbox)
    assert [o["id"] for o in state["orders"]] == [result["order_id"]]


def test_order_deferrable_wait(oneatlas_conn: str, context: dict[str, Any]) -> None:
    images = search(context, limit=1)
    op = OneAtlasOrderOperator(
        task_id="order",
        image_ids=images,
        aoi=TOULOUSE_FIELD,
        wait_for_completion=True,
        deferrable=True,
        poll_interval=0.1,
        wait_timeout=30,
    )
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, OneAtlasOrderTrigger) and deferred.value.method_name == "execute_complete"

    event = first_event(trigger)
    order_url = deferred.value.kwargs["order_url"]
    # A page a browser can open (the sandbox's order page), not the API's JSON URL (401 without a token).
    assert order_url and order_url.endswith(f"/orders/{event['orders'][0]['id']}") and "/api/" not in order_url

    # The resumed task is a fresh operator: the link comes back from the defer kwargs...
    resumed = op.__class__(**_order_kwargs(images))
    result = resumed.execute_complete(context, event, **deferred.value.kwargs)
    assert result["status"] == "delivered" and result["deliveries"][0]["download_url"]
    assert resumed.oneatlas_order_url == order_url
    # ...or, where Airflow resumes with the event alone (3.1's dag.test()), from the event's order.
    resumed = op.__class__(**_order_kwargs(images))
    assert resumed.execute_complete(context, event)["order_id"] == result["order_id"]
    assert resumed.oneatlas_order_url == order_url


def _order_kwargs(images: Any) -> dict[str, Any]:
    return {"task_id": "order", "image_ids": images, "aoi": TOULOUSE_FIELD, "wait_for_completion": True}


def test_order_synchronous_wait(oneatlas_conn: str, context: dict[str, Any]) -> None:
    images = search(context, limit=1)
    op = OneAtlasOrderOperator(
        task_id="order",
        image_ids=images,
        aoi=TOULOUSE_FIELD,
        wait_for_completion=True,
        deferrable=False,
        poll_interval=0.1,
    )
    assert op.execute(context)["status"] == "delivered"


def test_a_bare_tag_is_one_tag() -> None:
    op = OneAtlasOrderOperator(task_id="o", image_ids=["abc-123"], aoi=TOULOUSE_FIELD, tags="flood")
    assert op.tags == ["flood"]
    templated = OneAtlasOrderOperator(task_id="o", image_ids=["abc-123"], aoi=TOULOUSE_FIELD, tags="{{ params.tag }}")
    assert templated.tags == "{{ params.tag }}"  # checked once rendered


def test_failed_post_is_repeated_only_when_proven_absent(
    oneatlas_conn: str, context: dict[str, Any], sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_oneatlas.client.client import OneAtlasClient
    from airflow_provider_oneatlas.client.errors import ServerError

    images = search(context, limit=1)
    original = OneAtlasClient.create_order
    calls = {"n": 0}

    def flaky(self: OneAtlasClient, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:  # refused before anything was recorded, like a 503 from a gateway
            raise ServerError(503, "Service temporarily unavailable")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(OneAtlasClient, "create_order", flaky)
    monkeypatch.setattr("airflow_provider_oneatlas.operators.order.time.sleep", lambda s: None)
    result = OneAtlasOrderOperator(task_id="order", image_ids=images, aoi=TOULOUSE_FIELD).execute(context)
    state = sandbox_state(sandbox)
    assert calls["n"] == 2 and [o["id"] for o in state["orders"]] == [result["order_id"]]
