"""Fault injection and the request log middleware (``airflow_provider_oneatlas.sandbox.faults``)."""

from __future__ import annotations

import json
import time

from airflow_provider_oneatlas.client.api import TOKEN_PATH
from tests.conftest import SANDBOX_KEY
from tests.sandbox.conftest import Api, MakeApi, MakeSandbox
from tests.sandbox.http import assert_error, token_form


def test_injected_503_and_429(make_sandbox: MakeSandbox, make_api: MakeApi) -> None:
    server = make_sandbox(error_rate=1.0)
    api = make_api(server)
    answer = api.http.post(TOKEN_PATH, data=token_form())
    body = assert_error(answer, 503)
    assert body["internalCode"] == "SERVICE_UNAVAILABLE"
    assert api.admin("GET", "/health").status_code == 200  # admin paths are never faulted

    api.admin("PATCH", "/config", json={"error_rate": 0, "rate_limit_rate": 1, "retry_after": 0.2})
    limited = api.http.get("/api/v1/me")
    assert_error(limited, 429)
    assert limited.headers["Retry-After"] == "1"
    api.admin("PATCH", "/config", json={"retry_after": 2.5})
    assert api.http.get("/api/v1/me").headers["Retry-After"] == "3"
    assert api.admin("GET", "/state").json()["fault_counts"] == {"503": 1, "429": 2}

    api.admin("PATCH", "/config", json={"rate_limit_rate": 0})
    assert api.get("/api/v1/me").status_code == 200
    faults = [e["fault"] for e in api.admin("GET", "/requests").json()["requests"] if e["fault"]]
    assert faults == ["503", "429", "429"]


def test_fault_dice_are_seeded(make_sandbox: MakeSandbox, make_api: MakeApi) -> None:
    def statuses(seed: int) -> list[int]:
        api = make_api(make_sandbox(seed=seed, error_rate=0.5, catalog_size=10))
        return [api.http.get("/api/v1/me").status_code for _ in range(20)]

    first = statuses(7)
    assert first == statuses(7)
    assert set(first) == {401, 503}


def test_latency_is_added_to_api_answers(make_sandbox: MakeSandbox, make_api: MakeApi) -> None:
    api = make_api(make_sandbox(latency=0.3))
    started = time.monotonic()
    api.http.get("/api/v1/me")
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    api.admin("GET", "/health")
    assert time.monotonic() - started < 0.3


def test_request_log_has_no_secrets(api: Api) -> None:
    token = api.new_token()
    api.get("/api/v1/me", params={"apikey": SANDBOX_KEY, "page": "1"})
    api.order()
    api.http.get("/api/v1/me", headers={"X-Ads-Correlation-Id": "corr-123"})
    log = api.admin("GET", "/requests").json()
    text = json.dumps(log)
    assert SANDBOX_KEY not in text and token not in text and "Bearer" not in text
    entries = log["requests"]
    assert [e["index"] for e in entries] == list(range(len(entries)))
    me = next(e for e in entries if e["path"] == "/api/v1/me" and e["query"])
    assert me["query"] == "apikey=%2A%2A%2A&page=1"
    assert me["method"] == "GET" and me["status"] == 200 and me["bytes"] > 0 and me["fault"] is None
    assert {"method", "path", "query", "status", "time", "duration", "bytes", "fault"} <= set(me)
    since = api.admin("GET", "/requests", params={"since": log["next"]}).json()
    assert since["requests"] == [] or since["requests"][0]["index"] == log["next"]


def test_correlation_id_is_echoed(api: Api) -> None:
    answer = api.http.get("/api/v1/me", headers={"X-Ads-Correlation-Id": "my-corr-id"})
    assert answer.json()["correlationId"] == "my-corr-id"
    assert answer.headers["X-Ads-Correlation-Id"] == "my-corr-id"
