"""The OneAtlas error document, used for every error the sandbox answers (except the token endpoint,
which answers in Keycloak's own shape, as the real identity provider does).

Body: ``{"correlationId", "hint", "internalCode", "message", "timestamp"}``; header
``X-Ads-Correlation-Id`` carries the same correlation id. When the request carried an
``X-Ads-Correlation-Id`` header, that id is echoed back.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import uuid
from collections.abc import Mapping

from fastapi.responses import JSONResponse

CORRELATION_HEADER = "X-Ads-Correlation-Id"

# Set by the request middleware to the caller's X-Ads-Correlation-Id (or a fresh one) for each request.
current_correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "oneatlas_sandbox_correlation_id", default=None
)

_DEFAULT_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    416: "RANGE_NOT_SATISFIABLE",
    422: "UNPROCESSABLE_ENTITY",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_SERVER_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


def utc_timestamp() -> str:
    """Now, as the API writes instants: ``2018-12-03T16:26:12.119065+00:00``."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


def error_body(status: int, message: str, hint: str = "", internal_code: str = "") -> dict[str, str]:
    return {
        "correlationId": current_correlation_id.get() or str(uuid.uuid4()),
        "hint": hint,
        "internalCode": internal_code or _DEFAULT_CODES.get(status, f"HTTP_{status}"),
        "message": message,
        "timestamp": utc_timestamp(),
    }


def oneatlas_error(
    status: int,
    message: str,
    hint: str = "",
    internal_code: str = "",
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A JSON error answer in the OneAtlas shape, with the ``X-Ads-Correlation-Id`` header."""
    body = error_body(status, message, hint, internal_code)
    all_headers = {CORRELATION_HEADER: body["correlationId"]}
    if headers:
        all_headers.update(headers)
    return JSONResponse(body, status_code=status, headers=all_headers)


class OneAtlasHTTPError(Exception):
    """Raise from anywhere inside a route to answer with :func:`oneatlas_error`.

    ``create_app`` installs the handler that turns it into the response.
    """

    def __init__(
        self,
        status: int,
        message: str,
        hint: str = "",
        internal_code: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.hint = hint
        self.internal_code = internal_code
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        return oneatlas_error(self.status, self.message, self.hint, self.internal_code, self.headers)
