"""Fixtures of the reliability and security tests: hostile servers, connections pointed at them,
a record of every HTTP request the provider sends, and checks that nothing was left on disk."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.reliability.hostile_server import HostileServer

HOSTILE_KEY = "hostile-test-api-key"
#: A well-formed item id that the hostile server serves downloads for.
ITEM_ID = "e459d653-468f-471b-8d6e-90b13b14c655"
ORDER_ID = "7c1b7a43-4a4b-4a33-9d7c-9e5a1d7f0c11"


def set_connection(
    monkeypatch: pytest.MonkeyPatch,
    host: str,
    *,
    password: str = HOSTILE_KEY,
    conn_id: str = "oneatlas_default",
    **extra: Any,
) -> str:
    """Point ``conn_id`` at ``host`` the way Airflow users do: an ``AIRFLOW_CONN_...`` variable.
    Retries are quick by default, so a hostile answer fails fast."""
    settings = {"backoff_initial": 0.01, "backoff_max": 0.05, "max_attempts": 2} | extra
    conn = {"conn_type": "oneatlas", "host": host, "password": password, "extra": settings}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    # Proxies or CA bundles from the environment must not change what these tests exercise.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    return conn_id


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with HostileServer() as server:
        yield server


@pytest.fixture
def storage() -> Iterator[HostileServer]:
    """A second server on another port: another origin, e.g. a signed-URL object store."""
    with HostileServer() as server:
        yield server


@pytest.fixture
def hostile_conn(hostile: HostileServer, monkeypatch: pytest.MonkeyPatch) -> str:
    return set_connection(monkeypatch, hostile.base_url)


@pytest.fixture
def http_log(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every request ``requests`` sends during the test, wherever it goes: ``(method, url)``."""
    sent: list[tuple[str, str]] = []
    original = requests.Session.send

    def recording_send(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> Any:
        sent.append((str(request.method), str(request.url)))
        return original(self, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", recording_send)
    return sent


def leftovers(root: Path) -> list[Path]:
    """Every file under ``root`` (recursively)."""
    return sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink())


def assert_nothing_stored(destination: Path, *, item_id: str = ITEM_ID) -> None:
    """Neither the final object, its md5 sidecar, extracted files nor ``.partial`` leftovers."""
    if not destination.exists():
        return
    found = leftovers(destination)
    assert not found, f"files left in the destination after a refused download: {found}"
    assert not (destination / f"{item_id}.zip").exists()
    assert not list(destination.rglob("*.partial"))
