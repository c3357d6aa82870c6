"""client/waiting.py: a wait says how long it has waited, in its log lines and in the error that ends a
wait the API never answered (which orders, how long, the last error, what to do)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
from typing import Any

import pytest

from airflow_provider_oneatlas.client.waiting import wait_gave_up, waited
from airflow_provider_oneatlas.hooks.oneatlas import OneAtlasHook
from airflow_provider_oneatlas.triggers.oneatlas import OneAtlasOrderTrigger, orders_from_event
from tests.conftest import SANDBOX_KEY, TOULOUSE_FIELD
from tests.helpers import first_event, logged_messages
from tests.unit.triggers.test_oneatlas import place_order


def test_waited_reads_the_clock() -> None:
    assert waited(100.0, clock=lambda: 100.4) == "0 s"
    assert waited(100.0, clock=lambda: 300.0) == "3 min 20 s"


def test_wait_gave_up_names_one_order_or_several() -> None:
    error = RuntimeError("GET http://x/api/v1/orders failed")
    one = wait_gave_up(["o-1"], 0.0, 4, error, clock=lambda: 65.0)
    assert one == (
        "gave up waiting for OneAtlas order o-1 after 1 min 05 s: the API stayed unreachable (4 polls failed in a "
        "row; last: GET http://x/api/v1/orders failed). The order may still be delivered: retry the task to "
        "resume waiting (no new order is placed)"
    )
    assert wait_gave_up(["o-1", "o-2"], 0.0, 4, error, clock=lambda: 5.0).startswith(
        "gave up waiting for OneAtlas orders o-1, o-2 after 5 s"
    )


def test_a_wait_that_gives_up_names_the_orders_and_how_long(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:  # a port nothing listens on (bound then released)
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    conn = {"conn_type": "oneatlas", "host": dead, "password": SANDBOX_KEY, "extra": {"max_attempts": 1}}
    monkeypatch.setenv("AIRFLOW_CONN_ONEATLAS_DEAD", json.dumps(conn))
    trigger = OneAtlasOrderTrigger(
        ["order-1", "order-2"], "oneatlas_dead", poll_interval=0.05, max_consecutive_errors=2
    )

    async def run() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    event = asyncio.run(asyncio.wait_for(run(), 60))
    with pytest.raises(Exception) as caught:
        orders_from_event(event)
    message = str(caught.value)
    pattern = (
        r"OneAtlas order wait failed: gave up waiting for OneAtlas orders order-1, order-2 after \d+ s: the API "
        r"stayed unreachable \(3 polls failed in a row; last: POST "
        + re.escape(dead)
        + r"/auth/realms/IDP/protocol/openid-connect/token failed: ConnectError \(.*\)\. Nothing answers at "
        + re.escape(dead)
        + r": .*\)\. The orders may still be delivered: retry the task to resume waiting \(no new order is placed\)"
    )
    assert re.fullmatch(pattern, message), message


def test_the_wait_logs_how_long_it_waited_with_each_status(
    oneatlas_conn: str, caplog: pytest.LogCaptureFixture
) -> None:
    from airflow_provider_oneatlas.client import ordering
    from airflow_provider_oneatlas.client.api import ProductSpec

    hook = OneAtlasHook()
    image = hook.search(aoi=TOULOUSE_FIELD, processing_level="SENSOR", items_per_page=1).features[0]
    order = hook.create_order([ProductSpec(item_id=image.id, aoi=TOULOUSE_FIELD)], customer_ref="wait-log")
    caplog.set_level(logging.INFO, logger="airflow_provider_oneatlas.client.ordering")
    ordering.wait_for_order(hook.client, order.id, poll_interval=0.05, timeout=30)
    lines = [r.getMessage() for r in caplog.records if r.name == "airflow_provider_oneatlas.client.ordering"]
    assert re.fullmatch(rf"OneAtlas order {order.id} is delivered \(waited \d s\)", lines[-1]), lines
    assert re.fullmatch(rf"OneAtlas order {order.id} is \w+ \(waited 0 s\)", lines[0]), lines
    assert len(lines) == len({line.split(" (")[0] for line in lines})  # one line per status change


def test_the_trigger_logs_how_long_it_waited_with_each_status(
    oneatlas_conn: str, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    order_id = place_order(oneatlas_conn, ref="trigger-wait-log")
    caplog.set_level(logging.INFO)
    capfd.readouterr()
    caplog.clear()
    assert first_event(OneAtlasOrderTrigger([order_id], oneatlas_conn, poll_interval=0.05))["status"] == "success"
    lines = logged_messages(capfd, caplog, f"OneAtlas order {order_id} is ")
    pattern = rf"OneAtlas order {order_id} is (\w+) \(waited \d+ s\)"
    assert lines and all(re.fullmatch(pattern, line) for line in lines), lines
    statuses = [re.sub(pattern, r"\1", line) for line in lines]
    assert statuses[-1] == "delivered", lines
    assert len(statuses) == len(set(statuses)), lines  # once per status change
