"""The progress reporter: its pace (every interval or every step of an item), its lines (bytes,
percent, MB/s, time left, per item and in total), on a fake clock so that nothing waits."""

from __future__ import annotations

import io
import logging

import pytest

from airflow_provider_oneatlas.client.progress import TransferProgress, counting, duration

MB = 1_000_000


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "test.progress"]


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> logging.Logger:
    caplog.set_level(logging.INFO, logger="test.progress")
    return logging.getLogger("test.progress")


def test_a_line_every_tenth_of_an_item_with_rate_and_time_left(
    log: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    progress = TransferProgress(log, items=1, clock=clock)
    progress.begin("S2_1", 100 * MB)
    for _ in range(100):  # 1 MB per 0.1 s: 10 MB/s
        clock.now += 0.1
        progress.advance(MB)
    progress.end()
    got = lines(caplog)
    assert got[0] == "Downloading S2_1 (item 1 of 1): 10.0 MB of 100.0 MB (10%), 10.0 MB/s, about 9 s left"
    assert got[4] == "Downloading S2_1 (item 1 of 1): 50.0 MB of 100.0 MB (50%), 10.0 MB/s, about 5 s left"
    assert len(got) == 10  # 10 %, 20 %, ... 90 %, then the closing line (never a "100 %" progress line)
    assert got[-1] == "Downloaded S2_1 (item 1 of 1): 100.0 MB in 10 s (10.0 MB/s)"


def test_a_line_every_interval_when_an_item_moves_slowly(log: logging.Logger, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    progress = TransferProgress(log, verb="Uploading", items=1, interval=30, clock=clock)
    progress.begin("S2_1 to s3://bucket/x", 1000 * MB)
    for _ in range(90):  # 1 MB/s: 10 % takes 100 s, so the 30 s interval paces the lines
        clock.now += 1
        progress.advance(MB)
    assert lines(caplog) == [
        "Uploading S2_1 to s3://bucket/x (item 1 of 1): 30.0 MB of 1000.0 MB (3%), 1.0 MB/s, about 16 min 10 s left",
        "Uploading S2_1 to s3://bucket/x (item 1 of 1): 60.0 MB of 1000.0 MB (6%), 1.0 MB/s, about 15 min 40 s left",
        "Uploading S2_1 to s3://bucket/x (item 1 of 1): 90.0 MB of 1000.0 MB (9%), 1.0 MB/s, about 15 min 10 s left",
    ]


def test_several_items_report_the_total(log: logging.Logger, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    progress = TransferProgress(log, items=2, clock=clock)
    for name in ("A", "B"):
        progress.begin(name)
        progress.sized(10 * MB)
        for _ in range(10):
            clock.now += 1
            progress.advance(MB)
        progress.end()
    got = lines(caplog)
    assert got[0] == (
        "Downloading A (item 1 of 2): 1.0 MB of 10.0 MB (10%), 1.0 MB/s, about 9 s left; "
        "in total 1.0 MB, 5% of 2 items, about 19 s left"
    )
    assert (
        "Downloaded A (item 1 of 2): 10.0 MB in 10 s (1.0 MB/s); in total 10.0 MB, 50% of 2 items, about 10 s left"
        in got
    )
    assert got[-1] == "Downloaded B (item 2 of 2): 10.0 MB in 10 s (1.0 MB/s); in total 20.0 MB, 100% of 2 items"
    assert (
        "Downloading B (item 2 of 2): 5.0 MB of 10.0 MB (50%), 1.0 MB/s, about 5 s left; "
        "in total 15.0 MB, 75% of 2 items, about 5 s left" in got
    )


def test_an_unknown_size_is_paced_by_the_interval(log: logging.Logger, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    progress = TransferProgress(log, interval=5, clock=clock)
    progress.begin("S2_1")
    for _ in range(10):
        clock.now += 1
        progress.advance(2 * MB)
    assert lines(caplog) == [
        "Downloading S2_1: 10.0 MB of an unknown size, 2.0 MB/s",
        "Downloading S2_1: 20.0 MB of an unknown size, 2.0 MB/s",
    ]


def test_a_counting_sink_reports_writes_and_a_restart(log: logging.Logger, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    progress = TransferProgress(log, items=1, clock=clock)
    progress.begin("S2_1", 10)
    target = io.BytesIO()
    sink = counting(target, progress)
    sink.write(b"12345")
    sink.seek(0)  # the transfer starts over: the 5 bytes no longer count
    sink.truncate()
    sink.write(b"0123456789")
    clock.now += 2
    progress.end()
    assert target.getvalue() == b"0123456789"
    assert lines(caplog)[-1] == "Downloaded S2_1 (item 1 of 1): 0.0 MB in 2 s (0.0 MB/s)"
    assert progress._finished_bytes == 10


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.4, "0 s"), (59, "59 s"), (61, "1 min 01 s"), (3599, "59 min 59 s"), (3720, "1 h 02 min")]
)
def test_durations_read_easily(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_bad_pace_is_refused(log: logging.Logger) -> None:
    with pytest.raises(ValueError, match="interval must be positive"):
        TransferProgress(log, interval=0)
