"""Downloads of delivered items (``airflow_provider_oneatlas.sandbox.downloads``): zip, md5, HEAD, ranges, drops,
bandwidth."""

from __future__ import annotations

import hashlib
import io
import time
import zipfile

import httpx
import pytest
import requests

from airflow_provider_oneatlas.sandbox.server import SandboxServer
from tests.sandbox.conftest import (
    TUTORIAL_PRICE_ITEM,
    Api,
    MakeApi,
    MakeSandbox,
)
from tests.sandbox.http import assert_error

PUBLIC_ITEM = "e459d653-468f-471b-8d6e-90b13b14c655"  # first feature of the tutorial's search sample


def test_download_zip_headers_md5_and_content(api: Api, sandbox: SandboxServer) -> None:
    item_id, url = api.delivered_item()
    answer = api.get(url)
    assert answer.status_code == 200
    body = answer.content
    truth = api.admin("GET", f"/items/{item_id}/file").json()
    assert truth == {"md5": hashlib.md5(body).hexdigest(), "size": len(body)}
    assert len(body) == sandbox.state.config.download_size
    headers = answer.headers
    assert headers["Content-Type"] == "application/zip"
    assert headers["Content-Length"] == str(len(body))
    assert headers["Content-Disposition"] == f'attachment; filename="{item_id}.zip"'
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["X-Ads-Checksum-Method"] == "md5"
    assert headers["X-Ads-Checksum-Value"] == truth["md5"]
    assert headers["ETag"] == f'"{truth["md5"]}"'
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        names = archive.namelist()
        assert names == [f"{item_id}/DIM_{item_id}.XML", f"{item_id}/IMG_{item_id}_R1C1.JP2"]
        assert archive.testzip() is None
        assert all(info.compress_type == zipfile.ZIP_STORED for info in archive.infolist())
    # Deterministic: the same bytes again (served from the cache).
    assert hashlib.md5(api.get(url).content).hexdigest() == truth["md5"]


def test_download_head_and_ranges(api: Api) -> None:
    _, url = api.delivered_item()
    full = api.get(url).content
    size = len(full)
    head = api.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == str(size)
    assert head.headers["X-Ads-Checksum-Value"] == hashlib.md5(full).hexdigest()

    part = api.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 100-199/{size}"
    assert part.content == full[100:200]
    assert part.headers["X-Ads-Checksum-Value"] == hashlib.md5(full).hexdigest()  # of the whole file

    # Resuming: what a client already has + the rest = the whole file.
    rest = api.get(url, headers={"Range": f"bytes={size // 3}-"})
    assert rest.status_code == 206 and full[: size // 3] + rest.content == full
    suffix = api.get(url, headers={"Range": "bytes=-10"})
    assert suffix.status_code == 206 and suffix.content == full[-10:]
    beyond_end = api.get(url, headers={"Range": f"bytes={size - 5}-{size + 100}"})
    assert beyond_end.status_code == 206 and beyond_end.content == full[-5:]

    unsatisfiable = api.get(url, headers={"Range": f"bytes={size}-"})
    assert_error(unsatisfiable, 416)
    assert unsatisfiable.headers["Content-Range"] == f"bytes */{size}"
    # Several ranges or a stale If-Range: the whole file.
    assert api.get(url, headers={"Range": "bytes=0-1,5-6"}).status_code == 200
    stale = api.get(url, headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert stale.status_code == 200 and len(stale.content) == size


def test_download_ignores_range_when_ranges_are_off(make_sandbox: MakeSandbox, make_api: MakeApi) -> None:
    api = make_api(make_sandbox(ranges=False, download_size=64 * 1024))
    _, url = api.delivered_item()
    answer = api.get(url, headers={"Range": "bytes=0-9"})
    assert answer.status_code == 200
    assert len(answer.content) == 64 * 1024
    assert "Accept-Ranges" not in answer.headers and "Content-Range" not in answer.headers


def test_download_of_a_public_or_unknown_item_is_permission_denied(api: Api) -> None:
    for item_id in (PUBLIC_ITEM, TUTORIAL_PRICE_ITEM, "no-such-item"):
        for method in (api.get, api.head):
            answer = method(f"/api/v1/items/{item_id}/download")
            assert answer.status_code == 403
        assert_error(api.get(f"/api/v1/items/{item_id}/download"), 403, "permission denied")
    assert_error(api.http.get(f"/api/v1/items/{PUBLIC_ITEM}/download"), 401)


def test_drop_rate_cuts_the_body(make_sandbox: MakeSandbox, make_api: MakeApi) -> None:
    server = make_sandbox(drop_rate=1.0)
    api = make_api(server)
    item_id, url = api.delivered_item()
    size = api.admin("GET", f"/items/{item_id}/file").json()["size"]
    with pytest.raises(httpx.RemoteProtocolError):
        api.get(url)
    session = requests.Session()
    session.trust_env = False
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        session.get(url, headers=api.auth).content
    # The bytes that did arrive are the right ones.
    received = bytearray()
    with (
        pytest.raises(httpx.RemoteProtocolError),
        api.http.stream("GET", url, headers=api.auth) as stream,
    ):
        for chunk in stream.iter_bytes():
            received.extend(chunk)
    assert 0 < len(received) < size
    api.admin("PATCH", "/config", json={"drop_rate": 0})
    assert api.get(url).content[: len(received)] == bytes(received)
    state = api.admin("GET", "/state").json()
    assert state["fault_counts"]["drop"] == 3
    drops = [e for e in api.admin("GET", "/requests").json()["requests"] if e["fault"] == "drop"]
    assert len(drops) == 3 and all(e["bytes"] < size for e in drops)


def test_bandwidth_caps_each_download(make_sandbox: MakeSandbox, make_api: MakeApi) -> None:
    api = make_api(make_sandbox(bandwidth=1_000_000, download_size=500_000))
    _, url = api.delivered_item()
    api.head(url)  # build the zip first
    started = time.monotonic()
    assert len(api.get(url).content) == 500_000
    assert time.monotonic() - started >= 0.45
