"""Helpers shared by test modules: the sandbox's request log and state, a search through the operator,
an order brought to delivery, a trigger run to its first event, and what a task or trigger logged."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import requests

from tests.conftest import TOULOUSE_FIELD


def api_requests(sandbox: Any) -> list[dict[str, Any]]:
    """The API requests the sandbox received (its own ``/_sandbox`` admin calls left out)."""
    log = requests.get(f"{sandbox.base_url}/_sandbox/requests", timeout=10).json()["requests"]
    return [r for r in log if not r["path"].startswith("/_sandbox")]


def sandbox_state(sandbox: Any) -> dict[str, Any]:
    return requests.get(f"{sandbox.base_url}/_sandbox/state", timeout=10).json()


def search(context: dict[str, Any], **kwargs: Any) -> list[dict[str, Any]]:
    """Images over ``TOULOUSE_FIELD`` found by the search operator, as a DAG's next task receives them."""
    from airflow_provider_oneatlas.operators.search import OneAtlasSearchOperator

    op = OneAtlasSearchOperator(task_id="search", aoi=TOULOUSE_FIELD, processing_level="SENSOR", **kwargs)
    return op.execute(context)


def wait_delivered(sandbox: Any, order_id: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        orders = {o["id"]: o for o in sandbox_state(sandbox)["orders"]}
        if orders[order_id]["status"] == "delivered":
            return
        time.sleep(0.1)
    raise AssertionError("order not delivered")


def delivered_order(context: dict[str, Any], sandbox: Any) -> dict[str, Any]:
    """An order placed by the order operator and delivered by the sandbox."""
    from airflow_provider_oneatlas.operators.order import OneAtlasOrderOperator

    images = search(context, limit=1)
    order = OneAtlasOrderOperator(task_id="order", image_ids=images, aoi=TOULOUSE_FIELD).execute(context)
    wait_delivered(sandbox, order["order_id"])
    return order


def first_event(trigger: Any, timeout: float = 30) -> dict[str, Any]:
    """Run ``trigger`` (as the triggerer does) until its first event, and return the event's payload."""

    async def run() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(asyncio.wait_for(run(), timeout))


#: A structlog console line: ``<time> [<level>] <message> [<logger>] key=value...``.
_STRUCTLOG_LINE = re.compile(r"^\S+ \[\w+\s*\] (.*?) \[[\w.]+\]")


def logged_messages(capfd: Any, caplog: Any, starts: str | tuple[str, ...] = "") -> list[str]:
    """The messages starting with ``starts`` that a task or trigger logged, each once, whichever way
    this Airflow routes them: stdlib records (Airflow 3.0, seen by ``caplog``) or structlog lines on
    stdout/stderr (3.1+). One source is read, never both, so a line logged twice shows twice."""
    captured = capfd.readouterr()
    records = [r.getMessage() for r in caplog.records if r.getMessage().startswith(starts)]
    if records:
        return records
    lines = (captured.out + captured.err).splitlines()
    return [m.group(1) for line in lines if (m := _STRUCTLOG_LINE.match(line)) and m.group(1).startswith(starts)]
