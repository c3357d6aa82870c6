"""Errors a new user meets first name what failed and say what to change: the exact texts."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from pathlib import Path
from typing import Any

import pytest
from airflow.exceptions import AirflowNotFoundException

from airflow_provider_oneatlas.client.errors import TransportError, ValidationError
from airflow_provider_oneatlas.hooks.oneatlas import OneAtlasHook
from airflow_provider_oneatlas.operators.download import OneAtlasDownloadOperator
from airflow_provider_oneatlas.operators.search import OneAtlasSearchOperator
from airflow_provider_oneatlas.triggers.oneatlas import OneAtlasOrderTrigger, orders_from_event
from tests.conftest import SANDBOX_KEY


def free_port() -> int:
    """A port nothing listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def dead_conn(monkeypatch: pytest.MonkeyPatch) -> str:
    """A connection whose host has nothing listening, with one attempt per request."""
    port = free_port()
    conn = {
        "conn_type": "oneatlas",
        "host": f"http://127.0.0.1:{port}",
        "password": SANDBOX_KEY,
        "extra": {"max_attempts": 1},
    }
    monkeypatch.setenv("AIRFLOW_CONN_ONEATLAS_DEAD", json.dumps(conn))
    return f"http://127.0.0.1:{port}"


def test_nothing_listening_names_the_host_and_the_connection(dead_conn: str) -> None:
    with pytest.raises(TransportError) as caught:
        OneAtlasHook("oneatlas_dead").get_me()
    assert str(caught.value) == (
        f"POST {dead_conn}/auth/realms/IDP/protocol/openid-connect/token failed: ConnectionError "
        f"(ConnectionError, after 1 attempts). Nothing answers at {dead_conn}: check the Host (and any *_url "
        "extras) of the Airflow connection 'oneatlas_dead', and that the server there is running (for the "
        "sandbox: oneatlas-sandbox --port <port>)"
    )


def test_a_wait_that_gives_up_names_the_orders_and_how_long(dead_conn: str) -> None:
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
        + re.escape(dead_conn)
        + r"/auth/realms/IDP/protocol/openid-connect/token failed: ConnectError \(.*\)\. Nothing answers at "
        + re.escape(dead_conn)
        + r": .*\)\. The orders may still be delivered: retry the task to resume waiting \(no new order is placed\)"
    )
    assert re.fullmatch(pattern, message), message


def test_no_connection_says_how_to_create_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_ONEATLAS_NOWHERE", raising=False)
    with pytest.raises(AirflowNotFoundException) as caught:
        _ = OneAtlasHook("oneatlas_nowhere").config
    assert str(caught.value) == (
        "The OneAtlas connection 'oneatlas_nowhere' is not defined. Create it with connection type 'oneatlas' "
        "and your API key as the password: in the UI (Admin > Connections > Add, type 'OneAtlas'), with "
        "`airflow connections add oneatlas_nowhere --conn-type oneatlas --conn-password <API key>`, or as an "
        'environment variable: AIRFLOW_CONN_ONEATLAS_NOWHERE=\'{"conn_type": "oneatlas", "password": '
        "\"<API key>\"}'. See docs/connection.md (the Connection page of the provider's docs)"
    )


def test_an_aoi_rendered_as_text_hints_at_native_rendering(oneatlas_conn: str, context: dict[str, Any]) -> None:
    # What "{{ params.aoi }}" renders to without render_template_as_native_obj: Python's repr.
    rendered = str({"type": "Polygon", "coordinates": [[[1.3, 43.5], [1.4, 43.5], [1.4, 43.6], [1.3, 43.5]]]})
    with pytest.raises(ValidationError) as caught:
        OneAtlasSearchOperator(task_id="search", aoi=rendered).execute(context)
    message = str(caught.value)
    assert message.startswith(
        "aoi: not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1); a "
        "templated AOI rendered as text gives Python's repr, not JSON: set render_template_as_native_obj=True on "
        "the DAG, or render the value as JSON with '| tojson' (e.g. \"{{ params.aoi | tojson }}\")"
    ), message


def test_a_destination_that_is_a_file_says_so(tmp_path: Path) -> None:
    blocker = tmp_path / "imagery"
    blocker.write_text("a file where a folder should be")
    op = OneAtlasDownloadOperator(task_id="d", order_id="abc-123", destination=str(blocker / "2024"))
    from airflow_provider_oneatlas.storage.destination import prepare_destination

    with pytest.raises(ValidationError) as caught:
        prepare_destination(op.destination)
    assert str(caught.value) == (
        f"destination: file://{blocker}/2024 cannot be a folder: {blocker} is a file, not a directory "
        "(accepted: a folder the worker can create and write to, on local disk or in an object store)"
    )


def test_the_wait_logs_how_long_it_waited_with_each_status(
    oneatlas_conn: str, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from airflow_provider_oneatlas.client import ordering
    from airflow_provider_oneatlas.client.api import ProductSpec
    from tests.conftest import TOULOUSE_FIELD

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
    import logging

    from tests.operators.test_trigger import first_event, place_order

    order_id = place_order(oneatlas_conn, ref="trigger-wait-log")
    caplog.set_level(logging.INFO)
    capfd.readouterr()
    assert first_event(OneAtlasOrderTrigger([order_id], oneatlas_conn, poll_interval=0.05))["status"] == "success"
    out = capfd.readouterr()
    text = out.out + out.err + "\n".join(r.getMessage() for r in caplog.records)
    statuses = re.findall(rf"OneAtlas order {order_id} is (\w+) \(waited (\d+) s\)", text)
    assert statuses and statuses[-1][0] == "delivered", text[-2000:]
    assert [s for s, _ in statuses] == list(dict.fromkeys(s for s, _ in statuses))  # once per change
