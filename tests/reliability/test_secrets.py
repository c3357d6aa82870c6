"""The API key and the bearer tokens never show: not in logs (every logger at DEBUG), not in
exception messages, not in what operators return (XCom), not in object reprs, and the token is
registered with Airflow's secret masker so task logs redact it."""

from __future__ import annotations

import http.client
import io
import json
import logging
import secrets
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_oneatlas.client.api import ProductSpec
from airflow_provider_oneatlas.client.errors import AuthenticationError, OneAtlasError
from airflow_provider_oneatlas.client.transport import TOKEN_CACHE
from airflow_provider_oneatlas.hooks.oneatlas import OneAtlasHook
from airflow_provider_oneatlas.operators.download import OneAtlasDownloadOperator
from airflow_provider_oneatlas.operators.order import OneAtlasOrderOperator
from airflow_provider_oneatlas.operators.price import OneAtlasPriceOperator
from airflow_provider_oneatlas.operators.quicklook import OneAtlasQuicklookOperator
from airflow_provider_oneatlas.operators.search import OneAtlasSearchOperator
from airflow_provider_oneatlas.sandbox.server import SandboxServer
from airflow_provider_oneatlas.sensors.oneatlas import OneAtlasOrderSensor
from tests.conftest import SANDBOX_KEY, TOULOUSE_FIELD
from tests.reliability.conftest import HOSTILE_KEY, set_connection
from tests.reliability.hostile_server import TOKEN_PATH, HostileServer, json_answer

LOGGERS = ("", "airflow", "airflow.task", "airflow_provider_oneatlas", "urllib3", "requests", "httpx", "httpcore")


class Collector(logging.Handler):
    """Keeps every record, formatted with its exception and stack, from the root logger down."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
            self.lines.append(repr(record.args))
        except Exception as exc:  # a record that cannot be formatted is a finding too
            self.lines.append(f"unformattable record {record.msg!r}: {exc!r}")


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[Collector]:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name or None)
    collector = Collector()
    root = logging.getLogger()
    root.addHandler(collector)
    try:
        yield collector
    finally:
        root.removeHandler(collector)


@pytest.fixture
def sandbox_config() -> dict[str, Any]:
    # Tokens that live 3 s: the flow below renews them, so several tokens are issued and checked.
    return {"token_lifetime": 3}


class Evidence:
    """Everything a secret could leak into."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}

    def add(self, where: str, value: Any) -> None:
        text = value if isinstance(value, str) else repr(value)
        self.texts[f"{where}#{len(self.texts)}"] = text

    def error(self, where: str, exc: BaseException) -> None:
        self.add(f"{where}: str", str(exc))
        self.add(f"{where}: repr", repr(exc))
        self.add(f"{where}: traceback", "".join(traceback.format_exception(exc)))
        self.add(f"{where}: attributes", vars(exc))

    def expect_error(self, where: str, action: Callable[[], Any], kind: type[BaseException] = OneAtlasError) -> None:
        try:
            action()
        except kind as exc:
            self.error(where, exc)
        else:
            pytest.fail(f"{where}: expected {kind.__name__}")

    def xcom(self, where: str, value: Any) -> Any:
        self.add(f"{where}: xcom", json.dumps(value, default=str))
        return value

    def leaks(self, secret_groups: dict[str, list[str]]) -> list[str]:
        """One line per (secret, place) found, showing the longest form found; at most 12 lines."""
        found = []
        for where, text in self.texts.items():
            for name, forms in secret_groups.items():
                hit = next((form for form in forms if form and form in text), None)
                if hit is not None:
                    at = text.index(hit)
                    found.append(f"{name} in {where}: ...{text[max(0, at - 60) : at + len(hit) + 20]!r}...")
        return found[:12] + ([f"... and {len(found) - 12} more"] if len(found) > 12 else [])


def secrets_of(tokens: list[str], *keys: str) -> dict[str, list[str]]:
    """Each secret with the forms it may leak in, longest first ('Bearer <token>', a truncated token)."""
    groups = {f"api key {i}": [key] for i, key in enumerate(keys)}
    for i, token in enumerate(tokens):
        groups[f"token {i}"] = [f"Bearer {token}", token, token[:16]]
    return groups


def issued_tokens(sandbox: SandboxServer) -> list[str]:
    with sandbox.state.lock:
        return list(sandbox.state.tokens)


def run_everything(
    evidence: Evidence, sandbox: SandboxServer, context: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The hook and every operator against the sandbox, plus the failures a user meets. Returns the
    refused key it tried."""
    hook = OneAtlasHook()
    evidence.add("me", hook.get_me())
    evidence.add("subscriptions", hook.get_subscriptions())
    evidence.add("order kind", hook.get_order_kind())
    page = hook.search(aoi=TOULOUSE_FIELD, processing_level="SENSOR", items_per_page=5)
    evidence.add("search page", page)
    item = page.features[0].id
    evidence.add("quicklook", hook.get_quicklook(item, 32)[:16])
    evidence.add("wmts", hook.get_wmts_capabilities(item))
    evidence.add("price", hook.get_price([ProductSpec(item, TOULOUSE_FIELD)]))
    evidence.add("test_connection", hook.test_connection())

    images = evidence.xcom(
        "search op", OneAtlasSearchOperator(task_id="s", aoi=TOULOUSE_FIELD, limit=2).execute(context)
    )
    evidence.xcom(
        "price op", OneAtlasPriceOperator(task_id="p", image_ids=images[:1], aoi=TOULOUSE_FIELD).execute(context)
    )
    order_op = OneAtlasOrderOperator(
        task_id="order",
        image_ids=images[:1],
        aoi=TOULOUSE_FIELD,
        wait_for_completion=True,
        deferrable=False,
        poll_interval=0.2,
        wait_timeout=30,
    )
    order = evidence.xcom("order op", order_op.execute(context))
    evidence.add("order op vars", vars(order_op))
    sensor = OneAtlasOrderSensor(task_id="wait", order_id=order["order_id"], deferrable=False)
    evidence.xcom("sensor", getattr(sensor.poke(context), "xcom_value", None))
    evidence.xcom(
        "download op",
        OneAtlasDownloadOperator(task_id="d", order_id=order, destination=str(tmp_path / "zips")).execute(context),
    )
    evidence.xcom(
        "download op (extract)",
        OneAtlasDownloadOperator(
            task_id="x", order_id=order["order_id"], destination=str(tmp_path / "files"), extract=True
        ).execute(context),
    )
    evidence.xcom(
        "quicklook op",
        OneAtlasQuicklookOperator(task_id="q", image_ids=images, destination=str(tmp_path / "ql")).execute(context),
    )
    evidence.xcom("ti xcoms", context["ti"].xcoms)
    evidence.add("orders", hook.list_orders())
    evidence.add("find orders", hook.find_orders(customer_ref=order["customer_ref"]))
    sink = io.BytesIO()
    evidence.add("download", hook.download_item(sink, order["deliveries"][0]["item_id"]))

    # What users meet when things go wrong.
    evidence.expect_error("unknown order", lambda: hook.get_order("0000-no-such-order"))
    evidence.expect_error("untrusted link", lambda: hook.client.get_quicklook(item, url="http://127.0.0.1:9/x.png"))
    wrong_key = "wrong-" + secrets.token_urlsafe(16)
    set_connection(monkeypatch, sandbox.base_url, password=wrong_key, conn_id="oneatlas_wrong")
    evidence.expect_error("refused key", lambda: OneAtlasHook("oneatlas_wrong").get_me(), AuthenticationError)
    ok, message = OneAtlasHook("oneatlas_wrong").test_connection()
    assert not ok
    evidence.add("test_connection with a refused key", message)

    # The objects people print while debugging.
    for name, value in {
        "hook": hook,
        "hook vars": vars(hook),
        "client": hook.client,
        "config": hook.config,
        "transport": hook.client.transport,
        "transport vars": vars(hook.client.transport),
        "session headers": dict(hook.client.transport.session.headers),
        "session cookies": hook.client.transport.session.cookies,
        "token cache": TOKEN_CACHE._tokens,
    }.items():
        evidence.add(f"repr of {name}", value)
    return wrong_key


def test_no_secret_in_logs_errors_xcom_or_reprs(
    sandbox: SandboxServer,
    oneatlas_conn: str,
    context: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    debug_logs: Collector,
) -> None:
    evidence = Evidence()
    wrong_key = run_everything(evidence, sandbox, context, tmp_path, monkeypatch)
    tokens = issued_tokens(sandbox)
    assert len(tokens) >= 2, "the flow should have renewed its short-lived token at least once"
    out, err = capfd.readouterr()
    evidence.add("stdout", out)
    evidence.add("stderr", err)
    evidence.add("caplog", caplog.text)
    for record in caplog.records:
        evidence.add("caplog record", f"{record.getMessage()} {record.exc_text or ''} {record.args!r}")
    evidence.add("root handler", "\n".join(debug_logs.lines))
    assert any("urllib3" in line for line in debug_logs.lines), "DEBUG logging was not captured"
    assert "OneAtlas search:" in out + caplog.text + "".join(debug_logs.lines), "operator logs were not captured"
    leaks = evidence.leaks(secrets_of(tokens, SANDBOX_KEY, wrong_key))
    assert not leaks, "secrets leaked:\n" + "\n".join(leaks)


def test_wire_debugging_does_not_print_secrets(
    sandbox: SandboxServer,
    oneatlas_conn: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    debug_logs: Collector,
) -> None:
    """``http.client.HTTPConnection.debuglevel = 1`` (the classic way to debug requests) prints
    every header and form body sent on stdout."""
    monkeypatch.setattr(http.client.HTTPConnection, "debuglevel", 1)
    # Wire debugging really is on: a plain requests call prints its exchange.
    requests.get(f"{sandbox.base_url}/_sandbox/health", timeout=10)
    probe, _ = capfd.readouterr()
    assert "send:" in probe or "reply:" in probe, "wire debugging printed nothing: the check would prove nothing"
    hook = OneAtlasHook()
    hook.get_me()
    hook.search(aoi=TOULOUSE_FIELD, items_per_page=2)
    out, err = capfd.readouterr()
    evidence = Evidence()
    evidence.add("stdout", out)
    evidence.add("stderr", err)
    evidence.add("root handler", "\n".join(debug_logs.lines))
    leaks = evidence.leaks(secrets_of(issued_tokens(sandbox), SANDBOX_KEY))
    assert not leaks, "secrets printed with http.client debugging on:\n" + "\n".join(leaks)


def test_tokens_and_key_are_registered_with_the_secret_masker(sandbox: SandboxServer, oneatlas_conn: str) -> None:
    from tests.airflow_compat import redact

    hook = OneAtlasHook()
    hook.get_me()
    tokens = issued_tokens(sandbox)
    assert tokens
    for token in tokens:
        assert redact(token) == "***"
        line = f"GET /api/v1/me Authorization: Bearer {token} ok"
        assert token not in str(redact(line)) and "Bearer ***" in str(redact(line))
        assert token not in json.dumps(redact({"headers": {"Authorization": f"Bearer {token}"}}))
    assert redact(SANDBOX_KEY) == "***"


def test_a_renewed_token_is_registered_too(sandbox: SandboxServer, oneatlas_conn: str) -> None:
    from tests.airflow_compat import redact

    hook = OneAtlasHook()
    hook.get_me()
    TOKEN_CACHE.clear()  # as after an expiry or a 401
    hook.get_me()
    tokens = issued_tokens(sandbox)
    assert len(tokens) >= 2
    assert all(redact(token) == "***" for token in tokens)


# --------------------------------------------------------------------------------------------------
# A server that echoes what it was sent
# --------------------------------------------------------------------------------------------------


def _echo_key(exchange: Any) -> None:
    form = exchange.request.body.decode()
    body = {"error": "invalid_grant", "error_description": f"Invalid API key in request: {form}"}
    exchange.send(401, json.dumps(body).encode())


def _echo_authorization(exchange: Any) -> None:
    header = exchange.request.headers.get("authorization", "")
    body = {"message": f"Access token rejected: {header}", "hint": f"the header was {header!r}"}
    exchange.send(401, json.dumps(body).encode())


def _echo_authorization_400(exchange: Any) -> None:
    header = exchange.request.headers.get("authorization", "")
    exchange.send(400, f"<html>Bad request: Authorization: {header}</html>".encode(), content_type="text/html")


@pytest.mark.parametrize(
    ("route", "responder"),
    [
        pytest.param(("POST", TOKEN_PATH), _echo_key, id="token-endpoint-echoes-the-key"),
        pytest.param(("GET", "/api/v1/me"), _echo_authorization, id="api-401-echoes-the-bearer-token"),
        pytest.param(("GET", "/api/v1/me"), _echo_authorization_400, id="api-400-page-echoes-the-header"),
    ],
)
def test_errors_do_not_repeat_secrets_a_server_echoes(
    hostile: HostileServer,
    hostile_conn: str,
    capfd: pytest.CaptureFixture[str],
    debug_logs: Collector,
    route: tuple[str, str],
    responder: Any,
) -> None:
    hostile.route(*route, responder)
    evidence = Evidence()
    evidence.expect_error("call", lambda: OneAtlasHook().get_me())
    ok, message = OneAtlasHook().test_connection()
    assert not ok
    evidence.add("test_connection", message)
    out, err = capfd.readouterr()
    evidence.add("output", out + err)
    evidence.add("logs", "\n".join(debug_logs.lines))
    assert hostile.requests, "nothing reached the server"
    leaks = evidence.leaks(secrets_of(hostile.tokens, HOSTILE_KEY))
    assert not leaks, "secrets echoed by the server were passed on:\n" + "\n".join(leaks)


def test_on_token_sees_each_token_once(
    hostile: HostileServer, hostile_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hook hands every new token to the masker before using it."""
    from airflow_provider_oneatlas.hooks import oneatlas as hook_module

    seen: list[str] = []
    original = hook_module._mask

    def recording_mask(secret: str) -> None:
        seen.append(secret)
        original(secret)

    monkeypatch.setattr(hook_module, "_mask", recording_mask)
    hostile.route("GET", "/api/v1/me", json_answer({"contract": {"id": "c-1", "balance": 1, "workspaceId": "w-1"}}))
    hook = OneAtlasHook()
    hook.get_me()
    hook.get_me()
    assert seen == hostile.tokens and len(seen) == 1
    first_use = hostile.requests_to("/api/v1/me")[0]
    assert first_use.headers["authorization"] == f"Bearer {seen[0]}"
