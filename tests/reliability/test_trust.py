"""Where the token may go, over real HTTP: only to the configured OneAtlas services, and only over
verified TLS (a custom CA through ``ca_bundle``, never ``verify: false``)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oneatlas.client.errors import ConfigurationError, TransportError, UntrustedUrlError
from airflow_provider_oneatlas.hooks.oneatlas import OneAtlasHook
from airflow_provider_oneatlas.operators.download import OneAtlasDownloadOperator
from airflow_provider_oneatlas.operators.quicklook import OneAtlasQuicklookOperator
from airflow_provider_oneatlas.operators.search import OneAtlasSearchOperator
from tests.conftest import TOULOUSE_FIELD
from tests.reliability.conftest import ITEM_ID, ORDER_ID, assert_nothing_stored, set_connection
from tests.reliability.hostile_server import (
    HostileServer,
    TlsFiles,
    file_answer,
    json_answer,
    make_tls_files,
    md5_of,
    redirect,
)

DOWNLOAD_PATH = f"/api/v1/items/{ITEM_ID}/download"
ME = {"id": "u-1", "contract": {"id": "c-123", "balance": 10, "workspaceId": "ws-123"}}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def a_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("IMG_PHR1A_P_001/DIM_PHR1A_P_001.XML", "<Dimap_Document/>" * 40)
    return buffer.getvalue()


def bearer_tokens_in(server: HostileServer) -> list[str]:
    return [r.headers["authorization"] for r in server.requests if "authorization" in r.headers]


# --------------------------------------------------------------------------------------------------
# Redirects to storage elsewhere
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_to_another_host_is_followed_without_the_token(
    hostile: HostileServer, storage: HostileServer, hostile_conn: str, status: int
) -> None:
    body = a_zip()
    signed = "/bucket/imagery.zip?X-Amz-Signature=abc123&X-Amz-Expires=300"
    hostile.route("GET", DOWNLOAD_PATH, redirect(storage.url(signed), status=status))
    storage.route("GET", "/bucket/imagery.zip", file_answer(body))
    sink = io.BytesIO()
    result = OneAtlasHook().download_item(sink, ITEM_ID)
    assert sink.getvalue() == body and result.md5 == md5_of(body)
    api_call = hostile.requests_to(DOWNLOAD_PATH)[0]
    assert api_call.headers.get("authorization", "").startswith("Bearer ")  # the API did get it
    fetched = storage.requests_to("/bucket/imagery.zip")
    assert fetched and fetched[0].query == signed.split("?", 1)[1]
    assert all("authorization" not in r.headers for r in storage.requests), storage.requests
    token = api_call.headers["authorization"].removeprefix("Bearer ")
    assert not any(token in str(r.headers) or token in r.query for r in storage.requests)


def test_download_operator_follows_the_redirect_without_the_token(
    hostile: HostileServer, storage: HostileServer, hostile_conn: str, context: Any, tmp_path: Path
) -> None:
    body = a_zip()
    order = {
        "id": ORDER_ID,
        "status": "delivered",
        "deliveries": [
            {"id": "d-1", "status": "delivered", "_links": {"download": {"href": hostile.url(DOWNLOAD_PATH)}}}
        ],
    }
    hostile.route("GET", f"/api/v1/orders/{ORDER_ID}", json_answer(order))
    hostile.route("GET", DOWNLOAD_PATH, redirect(storage.url("/bucket/imagery.zip?sig=1")))
    storage.route("GET", "/bucket/imagery.zip", file_answer(body))
    stored = OneAtlasDownloadOperator(task_id="d", order_id=ORDER_ID, destination=str(tmp_path)).execute(context)
    assert (tmp_path / f"{ITEM_ID}.zip").read_bytes() == body and stored[0]["md5"] == md5_of(body)
    assert storage.requests and not bearer_tokens_in(storage)


def test_a_redirect_to_a_trusted_origin_keeps_the_token(
    hostile: HostileServer, storage: HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control: with the storage origin in ``trusted_origins`` the token does go there, so the
    tests above would see it if it leaked."""
    set_connection(monkeypatch, hostile.base_url, trusted_origins=storage.base_url)
    hostile.route("GET", DOWNLOAD_PATH, redirect(storage.url("/bucket/imagery.zip")))
    storage.route("GET", "/bucket/imagery.zip", file_answer(a_zip()))
    OneAtlasHook().download_item(io.BytesIO(), ITEM_ID)
    assert bearer_tokens_in(storage) == [f"Bearer {hostile.tokens[-1]}"]


# --------------------------------------------------------------------------------------------------
# Links in API answers that point elsewhere
# --------------------------------------------------------------------------------------------------

UNTRUSTED_LINKS = {
    "other-port": "{storage}/ql.png",
    "userinfo-trick": "http://{api_hostport}@{storage_hostport}/ql.png",
    "https-instead-of-http": "https://{api_hostport}/ql.png",
    "localhost-alias": "http://localhost:{storage_port}/ql.png",
    "look-alike-host": "https://data.api.oneatlas.airbus.com.evil.example/ql.png",
}


def _link(template: str, hostile: HostileServer, storage: HostileServer) -> str:
    return template.format(
        storage=storage.base_url,
        storage_hostport=f"127.0.0.1:{storage.port}",
        storage_port=storage.port,
        api_hostport=f"127.0.0.1:{hostile.port}",
    )


def _search_answer(quicklook: str) -> dict[str, Any]:
    feature = {
        "type": "Feature",
        "geometry": TOULOUSE_FIELD,
        "properties": {"id": ITEM_ID, "acquisitionDate": "2024-05-02T10:00:00Z", "cloudCover": 1.0},
        "_links": {"quicklook": {"href": quicklook}},
    }
    return {"type": "FeatureCollection", "features": [feature], "totalResults": 1, "itemsPerPage": 500}


def test_a_quicklook_link_to_another_host_is_refused_by_the_operators(
    hostile: HostileServer, storage: HostileServer, hostile_conn: str, context: Any, tmp_path: Path
) -> None:
    hostile.route("POST", "/api/v1/opensearch", json_answer(_search_answer(storage.url("/ql.png"))))
    storage.route("GET", "/ql.png", file_answer(PNG, content_type="image/png"))
    images = OneAtlasSearchOperator(task_id="s", aoi=TOULOUSE_FIELD).execute(context)
    assert images[0]["links"]["quicklook"] == storage.url("/ql.png")
    op = OneAtlasQuicklookOperator(task_id="q", image_ids=images, destination=str(tmp_path / "previews"))
    with pytest.raises(UntrustedUrlError) as error:
        op.execute(context)
    assert f"127.0.0.1:{storage.port}" in str(error.value) and "trusted_origins" in str(error.value)
    assert storage.requests == [], "something was sent to the untrusted host"
    assert_nothing_stored(tmp_path / "previews")


@pytest.mark.parametrize("template", list(UNTRUSTED_LINKS.values()), ids=list(UNTRUSTED_LINKS))
def test_an_untrusted_link_gets_nothing(
    hostile: HostileServer, storage: HostileServer, hostile_conn: str, http_log: list[tuple[str, str]], template: str
) -> None:
    url = _link(template, hostile, storage)
    hook = OneAtlasHook()
    for call in (
        lambda: hook.client.get_quicklook(ITEM_ID, url=url),
        lambda: hook.client.get_thumbnail(ITEM_ID, url=url),
        lambda: hook.client.get_wmts_capabilities(ITEM_ID, url=url),
        lambda: hook.client.download_item(io.BytesIO(), url=url),
        lambda: hook.client.head_item(url=url),
    ):
        with pytest.raises(UntrustedUrlError):
            call()
    assert storage.requests == [] and hostile.requests == []
    assert http_log == [], f"requests were sent: {http_log}"


def test_an_order_link_to_another_host_is_refused(
    hostile: HostileServer, storage: HostileServer, hostile_conn: str, context: Any, tmp_path: Path
) -> None:
    link = storage.url(f"/api/v1/items/{ITEM_ID}/download")
    order = {
        "id": ORDER_ID,
        "status": "delivered",
        "deliveries": [{"id": "d-1", "status": "delivered", "_links": {"download": {"href": link}}}],
    }
    hostile.route("GET", f"/api/v1/orders/{ORDER_ID}", json_answer(order))
    storage.route("GET", "*", file_answer(a_zip()))
    op = OneAtlasDownloadOperator(task_id="d", order_id=ORDER_ID, destination=str(tmp_path / "dest"))
    with pytest.raises(UntrustedUrlError):
        op.execute(context)
    assert storage.requests == []
    assert_nothing_stored(tmp_path / "dest")


# --------------------------------------------------------------------------------------------------
# TLS
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_server(tls_files: TlsFiles) -> Iterator[HostileServer]:
    with HostileServer(ssl_context=tls_files.server_context()) as server:
        server.route("GET", "/api/v1/me", json_answer(ME))
        yield server


def test_tls_with_the_ca_bundle_works(
    tls_server: HostileServer, tls_files: TlsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert tls_server.base_url.startswith("https://127.0.0.1:")
    set_connection(monkeypatch, tls_server.base_url, ca_bundle=str(tls_files.ca_cert))
    assert OneAtlasHook().get_me().workspace_id == "ws-123"
    assert tls_server.requests_to("/api/v1/me")[0].headers["authorization"].startswith("Bearer ")


def test_tls_without_the_ca_bundle_fails_naming_the_certificate(
    tls_server: HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(monkeypatch, tls_server.base_url)
    with pytest.raises(TransportError) as error:
        OneAtlasHook().get_me()
    message = str(error.value).lower()
    assert "certificate" in message, f"the TLS failure does not say it is about the certificate: {error.value}"
    assert tls_server.requests == [], "a request was answered over unverified TLS"


def test_tls_with_a_certificate_for_another_name_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = make_tls_files(tmp_path / "tls", ip_names=(), dns_names=("oneatlas.example",))
    with HostileServer(ssl_context=files.server_context()) as server:
        server.route("GET", "/api/v1/me", json_answer(ME))
        set_connection(monkeypatch, server.base_url, ca_bundle=str(files.ca_cert))
        with pytest.raises(TransportError):
            OneAtlasHook().get_me()
        assert server.requests == []


@pytest.mark.parametrize(
    "extra",
    [
        {"verify": False},
        {"verify": "false"},
        {"verify": "False"},
        {"verify_ssl": False},
        {"insecure": True},
        {"disable_ssl": True},
    ],
    ids=["verify-false", "verify-string-false", "verify-string-False", "verify_ssl", "insecure", "disable_ssl"],
)
def test_turning_tls_verification_off_is_refused(
    tls_server: HostileServer, monkeypatch: pytest.MonkeyPatch, http_log: list[tuple[str, str]], extra: dict[str, Any]
) -> None:
    set_connection(monkeypatch, tls_server.base_url, **extra)
    with pytest.raises(ConfigurationError) as error:
        OneAtlasHook().get_me()
    assert "ca_bundle" in str(error.value)
    assert http_log == [] and tls_server.requests == []
    ok, message = OneAtlasHook().test_connection()
    assert not ok and "ca_bundle" in message


def test_a_missing_ca_bundle_is_a_configuration_error(
    tls_server: HostileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "no-such-ca.pem"
    set_connection(monkeypatch, tls_server.base_url, ca_bundle=str(missing))
    try:
        OneAtlasHook().get_me()
    except ConfigurationError as exc:
        assert "ca_bundle" in str(exc)
    except Exception as exc:
        pytest.fail(f"a ca_bundle that does not exist gives {type(exc).__name__}, not ConfigurationError: {exc}")
    else:
        pytest.fail("a ca_bundle that does not exist was accepted")
    assert tls_server.requests == []


def test_plain_http_to_a_remote_host_is_refused(
    monkeypatch: pytest.MonkeyPatch, http_log: list[tuple[str, str]]
) -> None:
    set_connection(monkeypatch, "http://oneatlas-proxy.example.com")
    with pytest.raises(ConfigurationError, match="https"):
        OneAtlasHook().get_me()
    assert http_log == []
