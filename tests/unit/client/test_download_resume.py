"""A single stream cut mid-body: resumed with HTTP Range when the server accepts ranges, started
over cleanly when it does not (or refused when the destination cannot start over)."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pytest
import requests

from airflow_provider_oneatlas.client.api import ProductSpec
from airflow_provider_oneatlas.client.client import OneAtlasClient
from airflow_provider_oneatlas.client.config import ClientConfig, RetryPolicy
from airflow_provider_oneatlas.client.errors import DownloadError
from tests.conftest import SANDBOX_KEY, TOULOUSE_FIELD


class Unseekable(io.RawIOBase):
    """A sink that only appends, like an object store's upload stream."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.data += bytes(b)
        return len(b)


def delivered_url(sandbox: Any) -> tuple[OneAtlasClient, str, dict[str, Any]]:
    client = OneAtlasClient(
        ClientConfig.for_base_url(SANDBOX_KEY, sandbox.base_url, retry=RetryPolicy(backoff_initial=0.01))
    )
    image = client.search(aoi=TOULOUSE_FIELD, processing_level="SENSOR", items_per_page=1).features[0]
    order = client.create_order([ProductSpec(item_id=image.id, aoi=TOULOUSE_FIELD)], kind="order.product")
    requests.post(f"{sandbox.base_url}/_sandbox/orders/{order.id}/status", json={"status": "delivered"}, timeout=10)
    delivery = client.get_order(order.id).deliveries[0]
    assert delivery.download_url
    truth = requests.get(f"{sandbox.base_url}/_sandbox/items/{delivery.item_id}/file", timeout=10).json()
    return client, delivery.download_url, truth


def cut_every_download(sandbox: Any, ranges: bool) -> None:
    requests.patch(
        f"{sandbox.base_url}/_sandbox/config", json={"drop_rate": 0.6, "ranges": ranges, "seed": 3}, timeout=10
    ).raise_for_status()


@pytest.mark.parametrize("sandbox_config", [{"download_size": 2 * 1024 * 1024}])
def test_cut_stream_resumes_from_where_it_stopped(sandbox: Any) -> None:
    client, url, truth = delivered_url(sandbox)
    cut_every_download(sandbox, ranges=True)
    resumed = 0
    for _ in range(5):
        sink = io.BytesIO()
        result = client.download_item(sink, url=url, connections=1)
        assert hashlib.md5(sink.getvalue()).hexdigest() == truth["md5"] == result.md5
        resumed += result.resumed_bytes
    assert resumed > 0  # some attempts continued mid-file rather than starting over
    log = requests.get(f"{sandbox.base_url}/_sandbox/requests", timeout=10).json()["requests"]
    assert any("download" in r["path"] and r["status"] == 206 for r in log)


@pytest.mark.parametrize("sandbox_config", [{"download_size": 2 * 1024 * 1024}])
def test_without_ranges_a_cut_stream_starts_over_cleanly(sandbox: Any) -> None:
    client, url, truth = delivered_url(sandbox)
    cut_every_download(sandbox, ranges=False)
    restarts = 0
    for _ in range(5):
        sink = io.BytesIO()
        result = client.download_item(sink, url=url, connections=1)
        # Started over: the sink holds exactly one copy, not a cut copy followed by a full one.
        assert len(sink.getvalue()) == truth["size"] and hashlib.md5(sink.getvalue()).hexdigest() == truth["md5"]
        assert result.resumed_bytes == 0
        restarts += result.attempts - 1
    assert restarts > 0


@pytest.mark.parametrize("sandbox_config", [{"download_size": 2 * 1024 * 1024}])
def test_without_ranges_an_append_only_sink_is_refused_not_corrupted(sandbox: Any) -> None:
    client, url, _ = delivered_url(sandbox)
    requests.patch(f"{sandbox.base_url}/_sandbox/config", json={"drop_rate": 1.0, "ranges": False}, timeout=10)
    with pytest.raises(DownloadError, match=r"cannot restart|gave up"):
        client.download_item(Unseekable(), url=url, connections=1)
