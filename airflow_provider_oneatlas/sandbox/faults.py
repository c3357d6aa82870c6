"""The request middleware: request log, correlation id, latency and fault injection.

A raw ASGI middleware (not ``BaseHTTPMiddleware``) so that multi-gigabyte download bodies pass through
untouched and a download cut on purpose (``drop_rate``) becomes a closed connection.

On API paths (everything but ``/_sandbox/*`` and the order pages ``/orders/*``), in this order:

1. ``latency`` seconds of sleep;
2. with probability ``error_rate``: a 503 OneAtlas error;
3. else with probability ``rate_limit_rate``: a 429 OneAtlas error with ``Retry-After`` (whole seconds,
   ``retry_after`` rounded up, at least 1).

The dice are ``state.rng`` (``random.Random(seed)``), so a single client sees a reproducible sequence.
Every request, admin ones included, is appended to ``state.request_log`` with method, path, query
string (secrets redacted), status, start time, duration, body bytes sent and the fault injected, if any.
Headers are never logged: neither the Authorization header nor the API key can end up in the log.
"""

from __future__ import annotations

import math
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlencode

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airflow_provider_oneatlas.sandbox.admin import ADMIN_PREFIX
from airflow_provider_oneatlas.sandbox.downloads import LOG_ENTRY_KEY, DownloadDropped
from airflow_provider_oneatlas.sandbox.errors import CORRELATION_HEADER, current_correlation_id, oneatlas_error
from airflow_provider_oneatlas.sandbox.pages import is_page
from airflow_provider_oneatlas.sandbox.state import SandboxState

SECRET_PARAMETERS = frozenset({"apikey", "api_key", "access_token", "token", "password", "key", "secret"})


def redact_query(query: str) -> str:
    """The query string with the values of secret-looking parameters replaced by ``***``."""
    if not query:
        return ""
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, "***" if k.lower() in SECRET_PARAMETERS else v) for k, v in pairs])


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


class SandboxMiddleware:
    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = self.state
        path: str = scope.get("path", "")
        query = scope.get("query_string", b"").decode("latin-1")
        started = time.time()
        entry: dict[str, Any] = {
            "method": scope.get("method", ""),
            "path": path,
            "query": redact_query(query),
            "status": None,
            "time": started,
            "duration": None,
            "bytes": 0,
            "fault": None,
        }
        scope[LOG_ENTRY_KEY] = entry
        correlation_id = _header(scope, CORRELATION_HEADER.lower().encode()) or str(uuid.uuid4())
        token = current_correlation_id.set(correlation_id)
        response_started = False
        logged = False

        def finish() -> None:
            nonlocal logged
            if not logged:
                logged = True
                entry["duration"] = round(time.time() - started, 6)
                state.log_request(entry)

        async def logging_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                entry["status"] = message["status"]
            elif message["type"] == "http.response.body":
                entry["bytes"] += len(message.get("body", b""))
                if not message.get("more_body", False):
                    # Logged before the last bytes leave: a client that has its answer finds it in the log.
                    finish()
            await send(message)

        try:
            if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/") or is_page(path):
                await self.app(scope, receive, logging_send)
                return
            config = state.config
            if config.latency > 0:
                await anyio.sleep(config.latency)
            if state.roll(config.error_rate):
                entry["fault"] = "503"
                state.count_fault("503")
                response = oneatlas_error(
                    503,
                    "Service temporarily unavailable",
                    hint="Retry later",
                    internal_code="SERVICE_UNAVAILABLE",
                )
                await response(scope, receive, logging_send)
                return
            if state.roll(config.rate_limit_rate):
                entry["fault"] = "429"
                state.count_fault("429")
                seconds = retry_after_header(config.retry_after)
                response = oneatlas_error(
                    429,
                    "Too many requests",
                    hint=f"Retry after {seconds} seconds",
                    internal_code="TOO_MANY_REQUESTS",
                    headers={"Retry-After": seconds},
                )
                await response(scope, receive, logging_send)
                return
            state.advance_orders()
            await self.app(scope, receive, logging_send)
        except DownloadDropped:
            # Returning without finishing the body makes the server close the connection: the client
            # sees fewer bytes than Content-Length promised.
            if not response_started:
                raise
        finally:
            current_correlation_id.reset(token)
            finish()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            decoded: str = value.decode("latin-1").strip()
            return decoded or None
    return None
