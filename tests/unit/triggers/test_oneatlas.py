"""OneAtlasOrderTrigger: serialisation, each terminal status, timeout, passing errors."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import requests

from airflow_provider_oneatlas.client.api import ProductSpec
from airflow_provider_oneatlas.hooks.oneatlas import OneAtlasHook
from airflow_provider_oneatlas.triggers.oneatlas import OneAtlasOrderTrigger
from airflow_provider_oneatlas.version_compat import AirflowNotFoundException
from tests.conftest import TOULOUSE_FIELD
from tests.helpers import first_event


def place_order(conn_id: str, ref: str = "trigger-test") -> str:
    hook = OneAtlasHook(conn_id)
    image = hook.search(aoi=TOULOUSE_FIELD, processing_level="SENSOR", items_per_page=1).features[0]
    return hook.create_order([ProductSpec(item_id=image.id, aoi=TOULOUSE_FIELD)], customer_ref=ref).id


def test_serialisation_round_trip() -> None:
    trigger = OneAtlasOrderTrigger(["order-1", "order-2"], "conn", poll_interval=2, end_time=123.0)
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_oneatlas.triggers.oneatlas.OneAtlasOrderTrigger"
    again = OneAtlasOrderTrigger(**kwargs)
    assert again.serialize() == (path, kwargs)
    assert kwargs["order_ids"] == ["order-1", "order-2"] and kwargs["end_time"] == 123.0


def test_bad_order_id_is_refused() -> None:
    with pytest.raises(ValueError, match="order_id"):
        OneAtlasOrderTrigger(["../../etc"], "conn")


def test_delivered(oneatlas_conn: str) -> None:
    order_id = place_order(oneatlas_conn)
    event = first_event(OneAtlasOrderTrigger([order_id], oneatlas_conn, poll_interval=0.1))
    assert event["status"] == "success"
    assert event["orders"][0]["id"] == order_id and event["orders"][0]["status"] == "delivered"
    assert event["orders"][0]["deliveries"][0]["download_url"]


@pytest.mark.parametrize("status", ["failed", "error", "rejected"])
def test_terminal_failures_carry_the_message(oneatlas_conn: str, sandbox: Any, status: str) -> None:
    order_id = place_order(oneatlas_conn)
    requests.post(
        f"{sandbox.base_url}/_sandbox/orders/{order_id}/status",
        json={"status": status, "message": f"Order {status}: test reason"},
        timeout=10,
    ).raise_for_status()
    event = first_event(OneAtlasOrderTrigger([order_id], oneatlas_conn, poll_interval=0.1))
    assert event["status"] == "failed" and event["order_status"] == status
    assert event["message"] == f"Order {status}: test reason"


@pytest.mark.parametrize("sandbox_config", [{"processing_after": 60, "delivered_after": 120}])
def test_timeout(oneatlas_conn: str) -> None:
    order_id = place_order(oneatlas_conn)
    started = time.monotonic()
    event = first_event(OneAtlasOrderTrigger([order_id], oneatlas_conn, poll_interval=0.2, end_time=time.time() + 1))
    assert event["status"] == "timeout" and order_id in event["message"]
    assert time.monotonic() - started < 5


def test_passing_errors_are_retried(oneatlas_conn: str, sandbox: Any) -> None:
    order_id = place_order(oneatlas_conn)
    # Every answer fails for a while: the connection's own retries give up, the trigger keeps going.
    requests.patch(f"{sandbox.base_url}/_sandbox/config", json={"error_rate": 1.0}, timeout=10).raise_for_status()

    async def heal() -> None:
        await asyncio.sleep(1.0)
        await asyncio.to_thread(
            requests.patch, f"{sandbox.base_url}/_sandbox/config", json={"error_rate": 0.0}, timeout=10
        )

    async def run() -> dict[str, Any]:
        healer = asyncio.create_task(heal())
        trigger = OneAtlasOrderTrigger([order_id], oneatlas_conn, poll_interval=0.1, max_consecutive_errors=50)
        async for event in trigger.run():
            await healer
            return dict(event.payload)
        raise AssertionError("no event")

    event = asyncio.run(asyncio.wait_for(run(), 60))
    assert event["status"] == "success"
    state = requests.get(f"{sandbox.base_url}/_sandbox/state", timeout=10).json()
    assert sum(state["fault_counts"].values()) > 0  # the errors really happened


def test_too_many_errors_end_the_wait(oneatlas_conn: str, sandbox: Any) -> None:
    order_id = place_order(oneatlas_conn)
    requests.patch(f"{sandbox.base_url}/_sandbox/config", json={"error_rate": 1.0}, timeout=10).raise_for_status()
    event = first_event(OneAtlasOrderTrigger([order_id], oneatlas_conn, poll_interval=0.05, max_consecutive_errors=1))
    assert event["status"] == "error" and "503" in event["message"]


def test_unknown_order_ends_with_an_error(oneatlas_conn: str) -> None:
    event = first_event(
        OneAtlasOrderTrigger(["00000000-0000-0000-0000-000000000000"], oneatlas_conn, poll_interval=0.1)
    )
    assert event["status"] == "error" and "404" in event["message"]


def test_running_twice_is_safe(oneatlas_conn: str, sandbox: Any) -> None:
    order_id = place_order(oneatlas_conn)
    trigger = OneAtlasOrderTrigger([order_id], oneatlas_conn, poll_interval=0.1)
    assert first_event(trigger)["status"] == "success"
    assert first_event(OneAtlasOrderTrigger(**trigger.serialize()[1]))["status"] == "success"
    state = requests.get(f"{sandbox.base_url}/_sandbox/state", timeout=10).json()
    assert len(state["orders"]) == 1


@pytest.mark.parametrize("sandbox_config", [{"processing_after": 0.5, "delivered_after": 1.5}])
def test_waits_sharing_a_connection_share_one_poll(oneatlas_conn: str, sandbox: Any) -> None:
    hook = OneAtlasHook(oneatlas_conn)
    image = hook.search(aoi=TOULOUSE_FIELD, processing_level="SENSOR", items_per_page=1).features[0]
    product = ProductSpec(item_id=image.id, aoi=TOULOUSE_FIELD)
    order_ids = [hook.create_order([product], kind="order.product", customer_ref=f"shared-{i}").id for i in range(40)]
    log_start = len(requests.get(f"{sandbox.base_url}/_sandbox/requests", timeout=10).json()["requests"])

    async def wait_all() -> list[dict[str, Any]]:
        async def one(order_id: str) -> dict[str, Any]:
            async for event in OneAtlasOrderTrigger([order_id], oneatlas_conn, poll_interval=0.2).run():
                return dict(event.payload)
            raise AssertionError("no event")

        return await asyncio.gather(*(one(i) for i in order_ids))

    events = asyncio.run(asyncio.wait_for(wait_all(), 60))
    assert [e["status"] for e in events] == ["success"] * 40
    log = requests.get(f"{sandbox.base_url}/_sandbox/requests", timeout=10).json()["requests"][log_start:]
    listings = [r for r in log if r["method"] == "GET" and r["path"] == "/api/v1/orders"]
    single_reads = [r for r in log if r["method"] == "GET" and r["path"].startswith("/api/v1/orders/")]
    # Nobody polled its own order: each was read once, when it left the pending statuses.
    assert sorted(r["path"].rsplit("/", 1)[1] for r in single_reads) == sorted(order_ids)
    # Every cycle is one listing of the pending orders for all 40 waits (about 1.5 s / 0.2 s cycles).
    assert 1 <= len(listings) <= 15


def test_a_connection_the_async_lookup_misses_is_read_synchronously(
    oneatlas_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Airflow 3.1's dag.test() runs triggers on comms without async send: ``aget_connection`` misses
    connections kept in the metadata DB. The trigger then reads it the sync way and still waits."""

    async def async_lookup_misses(conn_id: str) -> Any:
        raise AirflowNotFoundException(f"The conn_id `{conn_id}` isn't defined")

    # raising=False: Airflow 3.0 has no aget_connection; the trigger then takes the sync path anyway.
    monkeypatch.setattr(OneAtlasHook, "aget_connection", async_lookup_misses, raising=False)
    order_id = place_order(oneatlas_conn)
    event = first_event(OneAtlasOrderTrigger([order_id], oneatlas_conn, poll_interval=0.1))
    assert event["status"] == "success" and event["orders"][0]["id"] == order_id
    assert event["orders"][0]["url"].endswith(f"/api/v1/orders/{order_id}")


def test_a_connection_missing_everywhere_ends_the_wait_with_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_NO_SUCH_ONEATLAS", raising=False)
    with pytest.raises(AirflowNotFoundException, match="no_such_oneatlas"):
        first_event(OneAtlasOrderTrigger(["b0d5b4f6-0000-4000-8000-000000000000"], "no_such_oneatlas"))
