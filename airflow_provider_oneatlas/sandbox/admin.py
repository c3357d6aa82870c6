"""Sandbox control routes under ``/_sandbox/`` (no token needed, never faulted, not part of OneAtlas):

- ``GET  /_sandbox/health``                 ``{"status": "ok"}``
- ``GET  /_sandbox/state``                  balance, orders with status, debits, fault counts, request count
- ``POST /_sandbox/reset``                  fresh account, catalog, orders, log and counters; same config
- ``GET  /_sandbox/config``                 the current config
- ``PATCH /_sandbox/config``                partial JSON update, e.g. ``{"error_rate": 0.2}``
- ``GET  /_sandbox/requests?since=N``       the request log from index N
- ``POST /_sandbox/orders/{id}/status``     ``{"status": "failed", "message": "..."}``: force a status
- ``GET  /_sandbox/items/{id}/file``        ``{"md5", "size"}`` of the item's zip (ground truth for tests)
- ``GET  /_sandbox/clock``                  ``{"now": "2024-05-01T00:00:00.000000Z", "epoch": ..., "speed": 1.0}``
- ``POST /_sandbox/clock``                  ``{"now": "<ISO date-time>"}`` sets the clock, ``{"advance": seconds}``
                                            moves it forward, ``{"speed": x}`` changes its pace; answers as GET
"""

from __future__ import annotations

import json
import math
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from airflow_provider_oneatlas.sandbox.auth import get_state
from airflow_provider_oneatlas.sandbox.clock import LATEST, MAX_ADVANCE, MAX_SPEED, ClockError, parse_instant
from airflow_provider_oneatlas.sandbox.config import ConfigError
from airflow_provider_oneatlas.sandbox.downloads import file_info
from airflow_provider_oneatlas.sandbox.errors import OneAtlasHTTPError
from airflow_provider_oneatlas.sandbox.state import ORDER_STATUSES

ADMIN_PREFIX = "/_sandbox"

router = APIRouter(prefix=ADMIN_PREFIX)


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise OneAtlasHTTPError(400, "Request body is not valid JSON", internal_code="INVALID_BODY") from None
    if not isinstance(body, dict):
        raise OneAtlasHTTPError(400, "Request body must be a JSON object", internal_code="INVALID_BODY")
    return body


@router.get("/health")
async def health() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/state")
async def state_view(request: Request) -> JSONResponse:
    return JSONResponse(get_state(request).snapshot())


@router.post("/reset")
async def reset(request: Request) -> JSONResponse:
    state = get_state(request)
    await anyio.to_thread.run_sync(state.reset)
    return JSONResponse({"status": "reset", "balance": state.balance})


@router.get("/config")
async def get_config(request: Request) -> JSONResponse:
    return JSONResponse(get_state(request).config.to_dict())


@router.patch("/config")
async def patch_config(request: Request) -> JSONResponse:
    changes = await _json_object(request)
    state = get_state(request)
    try:
        config = await anyio.to_thread.run_sync(state.update_config, changes)
    except ConfigError as exc:
        raise OneAtlasHTTPError(400, str(exc), internal_code="INVALID_CONFIG") from None
    return JSONResponse(config.to_dict())


@router.get("/requests")
async def requests_view(request: Request) -> JSONResponse:
    raw = request.query_params.get("since", "0")
    try:
        since = max(0, int(raw))
    except ValueError:
        raise OneAtlasHTTPError(400, f"since: not an integer: {raw!r}", internal_code="INVALID_PARAMETER") from None
    state = get_state(request)
    with state.lock:
        entries = state.requests_since(since)
        total = state.request_count
    return JSONResponse({"requests": entries, "since": since, "next": total})


@router.post("/orders/{order_id}/status")
async def force_status(order_id: str, request: Request) -> JSONResponse:
    body = await _json_object(request)
    status = body.get("status")
    if status not in ORDER_STATUSES:
        raise OneAtlasHTTPError(
            400,
            f"status: invalid value {status!r}",
            hint="one of " + ", ".join(ORDER_STATUSES),
            internal_code="INVALID_PARAMETER",
        )
    message = body.get("message")
    if message is not None and not isinstance(message, str):
        raise OneAtlasHTTPError(400, "message: must be a string", internal_code="INVALID_PARAMETER")
    state = get_state(request)
    order = state.force_status(order_id, status, message)
    if order is None:
        raise OneAtlasHTTPError(404, f"Order {order_id} not found", internal_code="ORDER_NOT_FOUND")
    with state.lock:
        document = order.to_json(str(request.base_url))
    return JSONResponse(document)


@router.get("/items/{item_id}/file")
async def item_file(item_id: str, request: Request) -> JSONResponse:
    state = get_state(request)
    state.advance_orders()
    info = await anyio.to_thread.run_sync(file_info, state, item_id)
    if info is None:
        raise OneAtlasHTTPError(404, f"Item {item_id} not found", internal_code="ITEM_NOT_FOUND")
    return JSONResponse({"md5": info.md5, "size": info.size})


CLOCK_FIELDS = ("now", "advance", "speed")


def _number(field: str, value: Any, what: str, maximum: float) -> float:
    """A finite JSON number from 0 to ``maximum``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ClockError(field, f"expected a non-negative number {what}, got {value!r}")
    if value > maximum:
        raise ClockError(field, f"{value!r} is too large (at most {maximum:g} {what})")
    return float(value)


@router.get("/clock")
async def get_clock(request: Request) -> JSONResponse:
    return JSONResponse(get_state(request).clock.to_json())


@router.post("/clock")
async def set_clock(request: Request) -> JSONResponse:
    body = await _json_object(request)
    state = get_state(request)
    try:
        unknown = sorted(set(body) - set(CLOCK_FIELDS))
        if unknown:
            raise ClockError(unknown[0], "unknown field (known: now, advance, speed)")
        if not body:
            raise ClockError("now", "give 'now' (an ISO date-time), 'advance' (seconds) or 'speed'")
        if "now" in body and "advance" in body:
            raise ClockError("advance", "give either 'now' or 'advance', not both")
        # Check everything before changing anything.
        now = parse_instant("now", body["now"]) if "now" in body else None
        advance = _number("advance", body["advance"], "of seconds", MAX_ADVANCE) if "advance" in body else None
        speed = (
            _number("speed", body["speed"], "of simulated seconds per second", MAX_SPEED) if "speed" in body else None
        )
        if advance is not None and state.clock.now() + advance > LATEST:
            raise ClockError("advance", "that would take the clock past the year 9999")
    except ClockError as exc:
        raise OneAtlasHTTPError(
            400,
            str(exc),
            hint='e.g. {"now": "2024-05-01T00:00:00Z"}, {"advance": 86400} or {"speed": 60}',
            internal_code="INVALID_PARAMETER",
        ) from None
    with state.lock:
        if speed is not None:
            state.clock.set_speed(speed)
        if now is not None:
            state.clock.set(now)
        if advance is not None:
            state.clock.advance(advance)
    # Orders due on the new time change status now, not at the next API call.
    state.advance_orders()
    return JSONResponse(state.clock.to_json())
