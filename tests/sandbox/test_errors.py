"""The OneAtlas error document (``airflow_provider_oneatlas.sandbox.errors``)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from airflow_provider_oneatlas.sandbox.errors import (
    CORRELATION_HEADER,
    OneAtlasHTTPError,
    current_correlation_id,
    error_body,
    oneatlas_error,
)
from tests.sandbox.http import ERROR_KEYS


def test_error_body_has_the_five_keys_and_default_codes() -> None:
    body = error_body(404, "Order x not found")
    assert set(body) == ERROR_KEYS
    assert (body["message"], body["hint"], body["internalCode"]) == ("Order x not found", "", "NOT_FOUND")
    assert uuid.UUID(body["correlationId"])
    assert datetime.fromisoformat(body["timestamp"]).utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert error_body(418, "teapot")["internalCode"] == "HTTP_418"
    assert error_body(400, "x", internal_code="INVALID_PARAMETER")["internalCode"] == "INVALID_PARAMETER"


def test_the_callers_correlation_id_is_echoed() -> None:
    token = current_correlation_id.set("abc-123")
    try:
        response = oneatlas_error(503, "Service temporarily unavailable", hint="Retry later")
    finally:
        current_correlation_id.reset(token)
    body = json.loads(bytes(response.body))
    assert body["correlationId"] == "abc-123" and response.headers[CORRELATION_HEADER] == "abc-123"
    assert response.status_code == 503 and body["hint"] == "Retry later"


def test_oneatlas_http_error_answers_with_its_status_and_headers() -> None:
    error = OneAtlasHTTPError(429, "Too many requests", internal_code="TOO_MANY_REQUESTS", headers={"Retry-After": "2"})
    assert str(error) == "Too many requests"
    response = error.response()
    body = json.loads(bytes(response.body))
    assert response.status_code == 429 and response.headers["Retry-After"] == "2"
    assert body["internalCode"] == "TOO_MANY_REQUESTS" and response.headers[CORRELATION_HEADER] == body["correlationId"]
