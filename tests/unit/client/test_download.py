"""Parallel ranged downloads against the real sandbox over HTTP (no mocks): byte-identical results,
fallback to one stream, resumed cuts, a bounded reorder buffer and md5 checks."""

from __future__ import annotations

import hashlib
import io
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_oneatlas.client import api, download
from airflow_provider_oneatlas.client.client import OneAtlasClient
from airflow_provider_oneatlas.client.config import ClientConfig, RetryPolicy
from airflow_provider_oneatlas.client.errors import ChecksumMismatchError, DownloadError, ValidationError
from airflow_provider_oneatlas.client.models import DownloadResult
from tests.conftest import SANDBOX_KEY, TOULOUSE_FIELD

KIB = 1024
MIB = 1024 * KIB
PART = 256 * KIB
FAST_ORDERS = {"processing_after": 0.0, "delivered_after": 0.0}


def make_client(sandbox: Any) -> OneAtlasClient:
    retry = RetryPolicy(backoff_initial=0.01, backoff_max=0.1)
    return OneAtlasClient(ClientConfig.for_base_url(SANDBOX_KEY, sandbox.base_url, retry=retry))


def delivered_item(client: OneAtlasClient) -> tuple[str, str]:
    """Order an image and return (item id, download URL) of its delivery."""
    image = client.search(aoi=TOULOUSE_FIELD, processing_level="SENSOR", items_per_page=1).features[0]
    order = client.create_order([api.ProductSpec(item_id=image.id, aoi=TOULOUSE_FIELD)])
    deadline = time.monotonic() + 10
    while not (order := client.get_order(order.id)).is_terminal and time.monotonic() < deadline:
        time.sleep(0.05)
    assert order.is_delivered and order.deliveries[0].download_url and order.deliveries[0].item_id
    return order.deliveries[0].item_id, order.deliveries[0].download_url


def ground_truth(sandbox: Any, item_id: str) -> tuple[dict[str, Any], bytes]:
    """The sandbox's md5/size for the item, and the bytes of the zip it serves."""
    truth = requests.get(f"{sandbox.base_url}/_sandbox/items/{item_id}/file", timeout=30).json()
    path = next(path for (item, _), (path, _, _) in sandbox.state.files.items() if item == item_id)
    return truth, Path(path).read_bytes()


def fetch(client: OneAtlasClient, url: str, sink: Any, stats: download.DownloadStats, **kwargs: Any) -> DownloadResult:
    options: dict[str, Any] = {"connections": 4, "part_size": PART, "parallel_threshold": MIB} | kwargs
    return download.download_to(client.transport, api.download_call(url=url), sink, stats=stats, **options)


def download_requests(sandbox: Any, since: int = 0) -> list[dict[str, Any]]:
    return [e for e in sandbox.state.requests_since(since) if e["path"].endswith("/download")]


@pytest.mark.parametrize("sandbox_config", [FAST_ORDERS | {"download_size": 3 * MIB + 12345}])
def test_parallel_download_is_byte_identical(sandbox: Any) -> None:
    client = make_client(sandbox)
    item_id, url = delivered_item(client)
    truth, data = ground_truth(sandbox, item_id)
    since = sandbox.state.request_count

    sink = io.BytesIO()
    stats = download.DownloadStats()
    result = fetch(client, url, sink, stats)

    assert sink.getvalue() == data
    assert result.verified and result.md5 == truth["md5"] == hashlib.md5(data).hexdigest()
    assert result.size == truth["size"] == len(data)
    assert (result.attempts, result.resumed_bytes, result.filename) == (1, 0, f"{item_id}.zip")
    parts = -(-len(data) // PART)
    assert (stats.mode, stats.connections, stats.parts, stats.requests) == ("parallel", 4, parts, parts)
    # The first answer (200) serves part 0; every other part is one 206 answer.
    statuses = sorted(e["status"] for e in download_requests(sandbox, since))
    assert statuses == [200] + [206] * (parts - 1)
    # The workers share the token of the calling transport: no extra token exchange.
    assert client.transport.stats["token_exchanges"] == 1
    assert client.transport.stats["requests"] >= parts


@pytest.mark.parametrize("sandbox_config", [FAST_ORDERS | {"download_size": 3 * MIB}])
def test_one_stream_and_parallel_give_the_same_bytes(sandbox: Any, tmp_path: Path) -> None:
    client = make_client(sandbox)
    item_id, url = delivered_item(client)
    truth, data = ground_truth(sandbox, item_id)
    for connections in (1, 2, 7):
        target = tmp_path / f"{connections}.zip"
        stats = download.DownloadStats()
        with target.open("wb") as sink:
            result = fetch(client, url, sink, stats, connections=connections)
        assert target.read_bytes() == data and result.md5 == truth["md5"]
        assert stats.mode == ("single" if connections == 1 else "parallel")
    # Small files stay on one stream whatever the number of connections.
    stats = download.DownloadStats()
    fetch(client, url, io.BytesIO(), stats, connections=8, parallel_threshold=len(data) + 1)
    assert stats.mode == "single"


@pytest.mark.parametrize("sandbox_config", [FAST_ORDERS | {"download_size": 3 * MIB, "ranges": False}])
def test_without_ranges_it_falls_back_to_one_stream(sandbox: Any) -> None:
    client = make_client(sandbox)
    item_id, url = delivered_item(client)
    truth, data = ground_truth(sandbox, item_id)
    since = sandbox.state.request_count
    sink = io.BytesIO()
    stats = download.DownloadStats()
    result = fetch(client, url, sink, stats, connections=8)
    assert sink.getvalue() == data and result.verified and result.md5 == truth["md5"]
    assert (stats.mode, stats.requests, stats.resumes) == ("single", 1, 0)
    assert 0 < stats.allocated_bytes <= stats.buffer_limit == 4 * download.CHUNK_SIZE
    assert [e["status"] for e in download_requests(sandbox, since)] == [200]


@pytest.mark.parametrize("sandbox_config", [FAST_ORDERS | {"download_size": 3 * MIB, "drop_rate": 0.4, "seed": 7}])
def test_cut_parts_are_resumed(sandbox: Any) -> None:
    client = make_client(sandbox)
    item_id, url = delivered_item(client)
    truth, data = ground_truth(sandbox, item_id)
    since = sandbox.state.request_count
    sink = io.BytesIO()
    stats = download.DownloadStats()
    result = fetch(client, url, sink, stats, part_size=128 * KIB, max_resumes=30)
    answers = download_requests(sandbox, since)
    # Every cut ranged answer is resumed; a cut of the first (whole-file) answer only matters when
    # it falls within part 0, the one part that answer serves.
    ranged_drops = [e for e in answers if e["fault"] == "drop" and e["status"] == 206]
    first_dropped = answers[0]["fault"] == "drop"
    assert ranged_drops and len(ranged_drops) <= stats.resumes <= len(ranged_drops) + first_dropped
    assert stats.requests == len(answers) == -(-len(data) // (128 * KIB)) + stats.resumes
    assert sink.getvalue() == data and result.verified and result.md5 == truth["md5"]
    assert result.attempts == 1 + stats.resumes and result.resumed_bytes > 0


@pytest.mark.parametrize("sandbox_config", [FAST_ORDERS | {"download_size": 2 * MIB, "drop_rate": 1.0}])
def test_a_part_cut_too_often_fails(sandbox: Any) -> None:
    client = make_client(sandbox)
    item_id, url = delivered_item(client)
    ground_truth(sandbox, item_id)
    with pytest.raises(DownloadError, match="gave up after 3 attempts"):
        fetch(client, url, io.BytesIO(), download.DownloadStats(), max_resumes=2)


class SlowSink(io.BytesIO):
    """A destination slower than the network, sampling the reorder buffer at every write."""

    def __init__(self, stats: download.DownloadStats) -> None:
        super().__init__()
        self.stats = stats
        self.seen: list[int] = []

    def write(self, data: Any) -> int:
        self.seen.append(self.stats.buffered_bytes)
        time.sleep(0.02)
        return super().write(data)


@pytest.mark.parametrize("sandbox_config", [FAST_ORDERS | {"download_size": 4 * MIB}])
def test_reorder_buffer_stays_bounded(sandbox: Any) -> None:
    client = make_client(sandbox)
    item_id, url = delivered_item(client)
    truth, data = ground_truth(sandbox, item_id)
    stats = download.DownloadStats()
    sink = SlowSink(stats)
    result = fetch(client, url, sink, stats, connections=3, part_size=128 * KIB, chunk_size=32 * KIB)
    assert sink.getvalue() == data and result.md5 == truth["md5"]
    limit = 3 * 128 * KIB
    assert stats.buffer_limit == limit
    # The writer is the bottleneck, so the connections run ahead until the buffer is full, and wait.
    assert stats.peak_buffered_bytes == limit and stats.window_waits > 0
    assert max(sink.seen) <= limit and stats.allocated_bytes <= limit and stats.buffered_bytes == 0


@pytest.mark.parametrize("sandbox_config", [FAST_ORDERS | {"download_size": 3 * MIB}])
@pytest.mark.parametrize("connections", [1, 4])
def test_md5_mismatch_is_detected(sandbox: Any, connections: int) -> None:
    client = make_client(sandbox)
    item_id, url = delivered_item(client)
    truth, data = ground_truth(sandbox, item_id)
    # Corrupt one byte of the zip the sandbox serves; it keeps announcing the md5 of the intact file.
    path = next(path for (item, _), (path, _, _) in sandbox.state.files.items() if item == item_id)
    with Path(path).open("r+b") as handle:
        handle.seek(len(data) // 2)
        handle.write(bytes([data[len(data) // 2] ^ 0xFF]))
    with pytest.raises(ChecksumMismatchError) as caught:
        fetch(client, url, io.BytesIO(), download.DownloadStats(), connections=connections)
    assert caught.value.expected == truth["md5"] and caught.value.actual != truth["md5"]
    # Without verification the (corrupt) bytes are delivered with their real md5.
    result = fetch(client, url, io.BytesIO(), download.DownloadStats(), connections=connections, verify_checksum=False)
    assert result.md5 == caught.value.actual and not result.verified


@pytest.mark.parametrize("sandbox_config", [FAST_ORDERS | {"download_size": 3 * MIB}])
def test_max_size_is_checked_before_downloading(sandbox: Any) -> None:
    client = make_client(sandbox)
    item_id, url = delivered_item(client)
    ground_truth(sandbox, item_id)
    since = sandbox.state.request_count
    with pytest.raises(DownloadError, match="larger than the limit"):
        fetch(client, url, io.BytesIO(), download.DownloadStats(), max_size=MIB)
    deadline = time.monotonic() + 5  # the sandbox logs an answer once it ends: here, when the client hangs up
    while not download_requests(sandbox, since) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(download_requests(sandbox, since)) == 1


@pytest.mark.parametrize("sandbox_config", [FAST_ORDERS | {"download_size": 33 * MIB}])
def test_client_and_hook_default_to_eight_connections(sandbox: Any, oneatlas_conn: str) -> None:
    from airflow_provider_oneatlas.hooks.oneatlas import OneAtlasHook

    client = make_client(sandbox)
    item_id, url = delivered_item(client)
    truth, _ = ground_truth(sandbox, item_id)
    since = sandbox.state.request_count
    sink = io.BytesIO()
    result = client.download_item(sink, url=url)
    assert result.md5 == truth["md5"] and len(sink.getvalue()) == truth["size"]
    ranged = [e for e in download_requests(sandbox, since) if e["status"] == 206]
    assert len(ranged) == -(-truth["size"] // download.PART_SIZE) - 1  # every part but the first
    del sink

    since = sandbox.state.request_count
    hook = OneAtlasHook(oneatlas_conn)
    result = hook.download_item(io.BytesIO(), url=url, connections=1)
    assert result.md5 == truth["md5"]
    assert [e["status"] for e in download_requests(sandbox, since)] == [200]


def test_operator_checks_connections() -> None:
    from airflow_provider_oneatlas.operators.download import OneAtlasDownloadOperator

    operator = OneAtlasDownloadOperator(task_id="d", destination="/tmp/x", item_ids=["a-1"], connections=3)
    assert operator.connections == 3
    with pytest.raises(ValidationError, match="connections"):
        OneAtlasDownloadOperator(task_id="e", destination="/tmp/x", item_ids=["a-1"], connections=0)
