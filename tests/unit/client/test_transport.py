"""Token life cycle, retries and Retry-After, error bodies, and where the token may go."""

from __future__ import annotations

import pickle

import pytest
import requests
import requests_mock

from airflow_provider_oneatlas.client import api
from airflow_provider_oneatlas.client.client import OneAtlasClient
from airflow_provider_oneatlas.client.config import DEFAULT_SERVICE_URLS, ClientConfig, RetryPolicy
from airflow_provider_oneatlas.client.errors import (
    ApiError,
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    TransportError,
    UntrustedUrlError,
)
from airflow_provider_oneatlas.client.transport import TOKEN_CACHE, SyncTransport
from tests.conftest import tutorial

AUTH = DEFAULT_SERVICE_URLS["auth"] + api.TOKEN_PATH
DATA = DEFAULT_SERVICE_URLS["data"]
ME = DATA + "/api/v1/me"
KEY = "secret-api-key-xyz"
ERROR_BODY = {
    "correlationId": "c0ffee00-1111-2222-3333-444455556666",
    "hint": "retry later",
    "internalCode": "E-503",
    "message": "Service temporarily unavailable",
    "timestamp": 1700000000,
}


def make_client(**retry: float) -> tuple[OneAtlasClient, list[float]]:
    sleeps: list[float] = []
    config = ClientConfig(api_key=KEY, retry=RetryPolicy(**retry) if retry else RetryPolicy())
    transport = SyncTransport(config, sleep=sleeps.append)
    return OneAtlasClient(config, transport=transport), sleeps


def token_answer(token: str = "tok-1", expires_in: int = 3600) -> dict[str, object]:
    return {"access_token": token, "expires_in": expires_in, "refresh_expires_in": 0, "token_type": "bearer"}


def test_token_is_cached_across_clients_and_renewed_before_expiry() -> None:
    with requests_mock.Mocker() as m:
        m.post(AUTH, [{"json": token_answer("tok-1", 3600)}, {"json": token_answer("tok-2", 3600)}])
        m.get(ME, json=tutorial("me.json"))
        a, _ = make_client()
        b, _ = make_client()
        a.get_me()
        b.get_me()
        assert [r.url for r in m.request_history].count(AUTH) == 1
        # Pretend the token is about to expire: it is renewed before use, not after a 401.
        cached = TOKEN_CACHE.get(a.config.cache_key, 0)
        assert cached is not None
        assert cached.expires_within(60, now=cached.obtained_at + 3590)
        object.__setattr__(cached, "obtained_at", cached.obtained_at - 3590)
        a.get_me()
        assert [r.url for r in m.request_history].count(AUTH) == 2
        assert m.request_history[-1].headers["Authorization"] == "Bearer tok-2"


def test_401_renews_the_token_once_and_repeats_the_call() -> None:
    with requests_mock.Mocker() as m:
        m.post(AUTH, [{"json": token_answer("old")}, {"json": token_answer("new")}])
        m.get(ME, [{"status_code": 401, "json": {"message": "token expired"}}, {"json": tutorial("me.json")}])
        client, _ = make_client()
        assert client.get_me().balance == 1341
        assert [r.headers.get("Authorization") for r in m.request_history if r.url == ME] == [
            "Bearer old",
            "Bearer new",
        ]


def test_401_twice_is_an_auth_error() -> None:
    with requests_mock.Mocker() as m:
        m.post(AUTH, json=token_answer())
        m.get(ME, status_code=401, json={"message": "invalid token"})
        client, _ = make_client()
        with pytest.raises(AuthenticationError) as err:
            client.get_me()
        assert err.value.status_code == 401 and "invalid token" in str(err.value)
        assert m.call_count == 4  # token, me, token, me


def test_refused_api_key_is_not_echoed() -> None:
    with requests_mock.Mocker() as m:
        m.post(AUTH, status_code=401, json={"error": "invalid_grant", "error_description": "Invalid API key"})
        client, _ = make_client()
        with pytest.raises(AuthenticationError) as err:
            client.get_me()
        assert "API key was refused" in str(err.value) and "password field" in str(err.value)
        assert KEY not in str(err.value) and KEY not in repr(err.value)
        assert m.call_count == 1


@pytest.mark.parametrize("status", [502, 503, 504])
def test_5xx_are_retried_with_backoff(status: int) -> None:
    with requests_mock.Mocker() as m:
        m.post(AUTH, json=token_answer())
        m.get(
            ME,
            [
                {"status_code": status, "json": ERROR_BODY},
                {"status_code": status, "json": ERROR_BODY},
                {"json": tutorial("me.json")},
            ],
        )
        client, sleeps = make_client(backoff_initial=1.0)
        assert client.get_me().balance == 1341
        assert len(sleeps) == 2
        assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0  # full jitter within the doubling cap
        assert client.transport.stats["retries"] == 2


def test_429_honours_retry_after() -> None:
    with requests_mock.Mocker() as m:
        m.post(AUTH, json=token_answer())
        m.get(
            ME,
            [{"status_code": 429, "headers": {"Retry-After": "7"}, "json": ERROR_BODY}, {"json": tutorial("me.json")}],
        )
        client, sleeps = make_client(backoff_initial=0.1)
        client.get_me()
        assert sleeps == [7.0]


def test_retries_give_up_with_the_oneatlas_error() -> None:
    with requests_mock.Mocker() as m:
        m.post(AUTH, json=token_answer())
        m.get(ME, status_code=503, json=ERROR_BODY)
        client, sleeps = make_client(max_attempts=3)
        with pytest.raises(ServerError) as err:
            client.get_me()
        assert len(sleeps) == 2
        e = err.value
        assert (e.status_code, e.message, e.hint, e.internal_code) == (
            503,
            ERROR_BODY["message"],
            "retry later",
            "E-503",
        )
        assert e.correlation_id == ERROR_BODY["correlationId"] and ERROR_BODY["correlationId"] in str(e)
        assert pickle.loads(pickle.dumps(e)).correlation_id == e.correlation_id


def test_retry_after_beyond_the_limit_gives_up_at_once() -> None:
    with requests_mock.Mocker() as m:
        m.post(AUTH, json=token_answer())
        m.get(ME, status_code=429, headers={"Retry-After": "3600"}, json=ERROR_BODY)
        client, sleeps = make_client()
        with pytest.raises(RateLimitedError) as err:
            client.get_me()
        assert sleeps == [] and err.value.retry_after == 3600


def test_connection_errors_are_retried_for_reads() -> None:
    with requests_mock.Mocker() as m:
        m.post(AUTH, json=token_answer())
        m.get(
            ME,
            [
                {"exc": requests.exceptions.ConnectTimeout},
                {"exc": requests.exceptions.ReadTimeout},
                {"json": tutorial("me.json")},
            ],
        )
        client, sleeps = make_client()
        assert client.get_me().balance == 1341 and len(sleeps) == 2
        m.get(ME, exc=requests.exceptions.ReadTimeout)
        with pytest.raises(TransportError, match="ReadTimeout"):
            client.get_me()


def _order_body() -> dict[str, object]:
    return {"kind": "order.product", "products": []}


@pytest.mark.parametrize(
    "answer",
    [
        {"status_code": 503, "json": ERROR_BODY},
        {"status_code": 502, "text": "bad gateway"},
        {"exc": requests.exceptions.ReadTimeout},
        {"exc": requests.exceptions.ConnectionError("Connection aborted.")},
    ],
)
def test_order_creation_is_never_repeated_blindly(answer: dict[str, object]) -> None:
    with requests_mock.Mocker() as m:
        m.post(AUTH, json=token_answer())
        m.post(DATA + "/api/v1/orders", [answer, {"status_code": 201, "json": tutorial("order.json")}])
        client, sleeps = make_client()
        with pytest.raises((ApiError, TransportError)):
            client.create_order(body=_order_body())
        assert [r.url for r in m.request_history].count(DATA + "/api/v1/orders") == 1
        assert sleeps == []


def test_order_creation_retried_when_the_request_never_left() -> None:
    with requests_mock.Mocker() as m:
        m.post(AUTH, json=token_answer())
        m.post(
            DATA + "/api/v1/orders",
            [
                {"exc": requests.exceptions.ConnectTimeout},
                {"status_code": 429, "headers": {"Retry-After": "1"}, "json": ERROR_BODY},
                {"status_code": 201, "json": tutorial("order.json")},
            ],
        )
        client, sleeps = make_client()
        assert client.create_order(body=_order_body()).status == "ordered"
        assert len(sleeps) == 2


def test_errors_map_to_classes() -> None:
    with requests_mock.Mocker() as m:
        m.post(AUTH, json=token_answer())
        m.get(DATA + "/api/v1/orders/abc-123", status_code=404, json={"message": "order not found"})
        client, _ = make_client()
        with pytest.raises(NotFoundError, match="order not found"):
            client.get_order("abc-123")


def test_token_never_goes_to_another_host() -> None:
    with requests_mock.Mocker() as m:
        m.post(AUTH, json=token_answer())
        client, _ = make_client()
        with pytest.raises(UntrustedUrlError, match=r"evil\.example\.com"):
            client.get_quicklook("e459d653-468f-471b-8d6e-90b13b14c655", url="https://evil.example.com/steal")
        assert m.call_count == 0


def test_redirect_to_storage_goes_without_the_token() -> None:
    storage = "https://storage.example.net/signed/abc.zip?sig=1"
    with requests_mock.Mocker() as m:
        m.post(AUTH, json=token_answer())
        m.get(DATA + "/api/v1/items/item-1/download", status_code=302, headers={"Location": storage})
        m.get(storage, content=b"zipbytes", headers={"Content-Length": "8"})
        client, _ = make_client()
        import io

        sink = io.BytesIO()
        client.download_item(sink, "item-1")
        assert sink.getvalue() == b"zipbytes"
        first, second = [r for r in m.request_history if r.url != AUTH]
        assert first.headers["Authorization"].startswith("Bearer ")
        assert "Authorization" not in second.headers


@pytest.mark.parametrize(
    "url",
    ["http://proxy.example.com", "ftp://x", "not a url at all://"],
)
def test_plain_http_is_only_for_loopback(url: str) -> None:
    with pytest.raises(ConfigurationError):
        ClientConfig.for_base_url(KEY, url)
    assert ClientConfig.for_base_url(KEY, "http://127.0.0.1:8765/").service_urls["data"] == "http://127.0.0.1:8765"


def test_api_key_is_not_in_repr() -> None:
    config = ClientConfig(api_key=KEY)
    assert KEY not in repr(config)
    with pytest.raises(ConfigurationError, match="password field"):
        ClientConfig(api_key="  ")
