"""Signed-in HTTP sessions on a sandbox, shared by the search, filter, catalog and view tests."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import httpx
import numpy as np
import requests

from airflow_provider_oneatlas.client.api import TOKEN_PATH
from airflow_provider_oneatlas.sandbox.catalog import Catalog
from airflow_provider_oneatlas.sandbox.server import SandboxServer
from tests.conftest import SANDBOX_KEY

#: The keys of every sandbox error document.
ERROR_KEYS = {"correlationId", "hint", "internalCode", "message", "timestamp"}


class SandboxSession:
    """A ``requests`` session holding a sandbox token, and the live catalogue for ground truth."""

    def __init__(self, server: SandboxServer) -> None:
        self.server = server
        self.base = server.base_url
        self.session = requests.Session()
        self.session.trust_env = False
        answer = self.session.post(
            self.base + TOKEN_PATH, data={"apikey": SANDBOX_KEY, "grant_type": "api_key", "client_id": "IDP"}
        )
        answer.raise_for_status()
        self.session.headers["Authorization"] = "Bearer " + answer.json()["access_token"]

    @property
    def catalog(self) -> Catalog:
        catalog: Catalog = self.server.state.catalog
        return catalog


class SearchClient(SandboxSession):
    """A search session: raw answers, documents, every id over all pages, errors, ground truth."""

    def raw(self, params: dict[str, Any], *, method: str = "POST", version: int = 1) -> requests.Response:
        url = f"{self.base}/api/v{version}/opensearch"
        if method == "POST":
            return self.session.post(url, json=params)
        return self.session.get(url, params=params)

    def search(self, params: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        answer = self.raw(params, **kwargs)
        assert answer.status_code == 200, answer.text
        doc: dict[str, Any] = answer.json()
        return doc

    def all_ids(self, params: dict[str, Any], **kwargs: Any) -> list[str]:
        """Every result id, in order, paging through with the largest pages."""
        ids: list[str] = []
        page = 1
        while True:
            doc = self.search({**params, "itemsPerPage": 500, "startPage": page}, **kwargs)
            ids += [f["properties"]["id"] for f in doc["features"]]
            if len(ids) >= doc["totalResults"] or not doc["features"]:
                assert len(ids) == doc["totalResults"]
                return ids
            page += 1

    def error(self, params: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        answer = self.raw(params, **kwargs)
        assert answer.status_code == 400, answer.text
        doc: dict[str, Any] = answer.json()
        assert set(doc) == ERROR_KEYS
        return doc

    def expected(self, keep: Callable[[dict[str, Any]], bool]) -> set[str]:
        return {f["properties"]["id"] for f in self.catalog.all() if keep(f)}


#: The archive alone, all of it published: no live stream, the clock stopped after the archive's end.
ARCHIVE_ONLY: dict[str, Any] = {"live_stream": False, "clock_start": "2030-01-01T00:00:00Z", "clock_speed": 0}


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


#: A stopped clock for the shared search sandboxes: what is published does not change during a test.
PINNED: dict[str, Any] = {"clock_start": "2026-06-01T00:00:00Z", "clock_speed": 0}


def assert_error(answer: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    shown = answer.text[:500] if "json" in answer.headers.get("content-type", "") else answer.headers
    assert answer.status_code == status, shown
    body: dict[str, Any] = answer.json()
    assert set(body) == ERROR_KEYS
    assert answer.headers["X-Ads-Correlation-Id"] == body["correlationId"]
    for word in words:
        assert word in body["message"], body
    return body


def token_form(**overrides: str) -> dict[str, str]:
    return {"apikey": SANDBOX_KEY, "grant_type": "api_key", "client_id": "IDP", **overrides}


def decode_png(data: bytes) -> tuple[int, int, int, np.ndarray[Any, Any]]:
    """(width, height, colour type, pixels) of an 8-bit, non-interlaced PNG using filter type 0."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, []
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, kind
        chunks.append((kind, body))
        position += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, compression, filtering, interlace) == (8, 0, 0, 0)
    channels = {0: 1, 2: 3, 6: 4}[colour]
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    assert len(raw) == height * (width * channels + 1)
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, width * channels + 1)
    assert (rows[:, 0] == 0).all()
    return width, height, colour, rows[:, 1:].reshape(height, width, channels)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def z(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


DAY = 86_400


START = "2024-05-01T00:00:00Z"
