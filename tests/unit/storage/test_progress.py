"""Progress lines of real downloads: the download operator against the sandbox over HTTP, with a
bandwidth cap so that the transfer takes a while, and a short pace so that the test does not wait."""

from __future__ import annotations

import io
import logging
import re
import time
from typing import Any

import pytest

from airflow_provider_oneatlas.client import api, download
from airflow_provider_oneatlas.client.progress import TransferProgress
from airflow_provider_oneatlas.hooks.oneatlas import OneAtlasHook
from airflow_provider_oneatlas.operators.download import OneAtlasDownloadOperator
from airflow_provider_oneatlas.operators.order import OneAtlasOrderOperator
from airflow_provider_oneatlas.operators.search import OneAtlasSearchOperator
from tests.conftest import TOULOUSE_FIELD
from tests.helpers import logged_messages

SIZE = 4 * 1024 * 1024
PROGRESS = re.compile(
    r"^Downloading (\S+) \(item 1 of 1\): ([\d.]+) MB of 4\.2 MB \((\d+)%\), ([\d.]+) MB/s, about \d+ s left$"
)


def delivered_order(context: dict[str, Any]) -> str:
    images = OneAtlasSearchOperator(task_id="search", aoi=TOULOUSE_FIELD, processing_level="SENSOR", limit=1).execute(
        context
    )
    order = OneAtlasOrderOperator(task_id="order", image_ids=images, aoi=TOULOUSE_FIELD).execute(context)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if (
            OneAtlasOrderOperator(task_id="x", image_ids=images, aoi=TOULOUSE_FIELD)
            .hook.get_order(order["order_id"])
            .is_delivered
        ):
            return str(order["order_id"])
        time.sleep(0.1)
    raise AssertionError("order not delivered")


@pytest.mark.parametrize("sandbox_config", [{"download_size": SIZE, "bandwidth": 2_000_000}])
def test_a_slow_download_logs_progress_at_a_steady_pace(
    oneatlas_conn: str,
    context: dict[str, Any],
    tmp_path: Any,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    order_id = delivered_order(context)
    op = OneAtlasDownloadOperator(task_id="download", order_id=order_id, destination=str(tmp_path))
    op.progress_interval = 0.1  # the 30 s pace, shortened
    caplog.set_level(logging.INFO)
    capfd.readouterr()
    caplog.clear()
    stored = op.execute(context)
    item = stored[0]["item_id"]
    lines = logged_messages(capfd, caplog, ("Downloading ", "Downloaded "))
    progress = [PROGRESS.match(line) for line in lines[:-1]]
    assert len(progress) >= 3 and all(progress), lines
    percents = [int(m.group(3)) for m in progress if m]
    assert percents == sorted(percents) and 0 < percents[0] < percents[-1] < 100
    assert all(m.group(1) == item and float(m.group(4)) > 0 for m in progress if m)
    assert re.fullmatch(rf"Downloaded {item} \(item 1 of 1\): 4\.2 MB in \d+ s \([\d.]+ MB/s\)", lines[-1]), lines


@pytest.mark.parametrize("sandbox_config", [{"download_size": SIZE, "bandwidth": 1_000_000}])
def test_a_parallel_download_logs_progress_in_order(
    sandbox: Any, caplog: pytest.LogCaptureFixture, context: dict[str, Any], oneatlas_conn: str
) -> None:
    """Four ranged connections: the reporter counts the bytes as they are written, in order."""
    order_id = delivered_order(context)
    hook = OneAtlasHook()
    url = hook.get_order(order_id).deliveries[0].download_url
    logger = logging.getLogger("test.parallel")
    caplog.set_level(logging.INFO, logger="test.parallel")
    progress = TransferProgress(logger, items=1, interval=0.1)
    progress.begin("item")
    stats = download.DownloadStats()
    download.download_to(
        hook.client.transport,
        api.download_call(url=url),
        io.BytesIO(),
        connections=4,
        part_size=256 * 1024,
        parallel_threshold=1024 * 1024,
        stats=stats,
        progress=progress,
    )
    progress.end()
    lines = [r.getMessage() for r in caplog.records if r.name == "test.parallel"]
    assert stats.mode == "parallel"
    assert len(lines) >= 4 and all(line.startswith("Downloading item (item 1 of 1): ") for line in lines[:-1]), lines
    assert lines[-1].startswith("Downloaded item (item 1 of 1): 4.2 MB in "), lines


@pytest.mark.parametrize("sandbox_config", [{"download_size": SIZE, "bandwidth": 4_000_000}])
def test_extraction_logs_its_own_progress(
    oneatlas_conn: str,
    context: dict[str, Any],
    tmp_path: Any,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    order_id = delivered_order(context)
    op = OneAtlasDownloadOperator(task_id="download", order_id=order_id, destination=str(tmp_path), extract=True)
    op.progress_interval = 0.1
    caplog.set_level(logging.INFO)
    capfd.readouterr()
    caplog.clear()
    stored = op.execute(context)
    item = stored[0]["item_id"]
    extracted = logged_messages(capfd, caplog, f"Extracted {item} into ")
    assert len(extracted) == 1 and re.search(r": [\d.]+ MB in \d+ s \([\d.]+ MB/s\)$", extracted[0]), extracted


def test_the_reporter_takes_any_logger() -> None:
    seen: list[str] = []

    class Log:
        def info(self, msg: str, *args: Any) -> None:
            seen.append(msg % args)

    progress = TransferProgress(Log(), verb="Uploading", interval=1e-9)
    progress.begin("S2_1 to s3://bucket/imagery/", 4_000_000)
    progress.advance(1_000_000)
    assert seen and seen[0].startswith("Uploading S2_1 to s3://bucket/imagery/: 1.0 MB of 4.0 MB (25%), ")
