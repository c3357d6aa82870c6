"""Search windows of scheduled runs (``utils/windows.py``): contiguous, covering pauses, never empty."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from typing import Any

import lazy_object_proxy
import pendulum
import pytest

from airflow_provider_oneatlas.client.errors import ValidationError
from airflow_provider_oneatlas.client.query import SearchQuery
from airflow_provider_oneatlas.utils.windows import (
    as_timedelta,
    publication_window,
    run_window_end,
    window_since_previous_run,
)

DAY = timedelta(days=1)
D = datetime(2026, 11, 20, tzinfo=timezone.utc)


class DagRunStandIn:
    def __init__(self, run_after: datetime) -> None:
        self.run_after = run_after


def trigger_context(logical: datetime, previous_end: datetime | None) -> dict[str, Any]:
    """The context of a run of ``schedule="@daily"`` on Airflow 3 (CronTriggerTimetable): a
    zero-length data interval at the logical date; the previous success as Airflow hands it (lazily)."""
    at = pendulum.instance(logical)
    return {
        "logical_date": at,
        "data_interval_start": at,
        "data_interval_end": at,
        "dag_run": DagRunStandIn(logical),
        "prev_data_interval_end_success": lazy_object_proxy.Proxy(
            lambda: None if previous_end is None else pendulum.instance(previous_end)
        ),
    }


def test_first_run_looks_back() -> None:
    assert publication_window(trigger_context(D, None), first_run_lookback=3 * DAY) == (D - 3 * DAY, D)


def test_consecutive_daily_runs_are_contiguous_half_open_windows() -> None:
    windows = []
    previous = None
    for k in range(7):
        day = D + k * DAY
        windows.append(publication_window(trigger_context(day, previous)))
        previous = day
    for (_, end), (start, _) in itertools.pairwise(windows):
        assert end == start  # no gap, no overlap: [start, end) then [end, next)
    assert windows[1] == (D, D + DAY)


def test_day_boundaries_with_a_real_data_interval() -> None:
    # CronDataIntervalTimetable: the run of [D, D+1) ends at D+1, its data interval's end.
    context = {
        "logical_date": pendulum.instance(D),
        "data_interval_start": pendulum.instance(D),
        "data_interval_end": pendulum.instance(D + DAY),
        "prev_data_interval_end_success": pendulum.instance(D),
    }
    assert run_window_end(context) == D + DAY
    assert publication_window(context) == (D, D + DAY)


def test_a_run_after_a_pause_covers_the_whole_pause() -> None:
    # The scheduler was down three days (catch-up off): the next run starts where the last success ended.
    assert publication_window(trigger_context(D + 4 * DAY, D)) == (D, D + 4 * DAY)


def test_a_rerun_of_a_past_day_searches_the_same_window() -> None:
    # Airflow gives the previous success *before this run's logical date*, whatever ran since.
    first = publication_window(trigger_context(D + 2 * DAY, D + DAY))
    again = publication_window(trigger_context(D + 2 * DAY, D + DAY))
    assert first == again == (D + DAY, D + 2 * DAY)


def test_a_manual_run_without_a_logical_date_ends_when_triggered() -> None:
    triggered = D + timedelta(hours=7, minutes=3)
    context = {"dag_run": DagRunStandIn(triggered)}
    assert publication_window(context, first_run_lookback=DAY) == (triggered - DAY, triggered)


def test_an_empty_window_is_refused_with_the_fix() -> None:
    with pytest.raises(ValidationError) as error:
        window_since_previous_run(D, D)
    assert "publication_date" in str(error.value)
    assert "schedule" in str(error.value)
    with pytest.raises(ValidationError, match="after this run's end"):
        window_since_previous_run(D, D + DAY)


def test_the_zero_length_data_interval_pattern_is_refused_before_any_request() -> None:
    # The pattern of the old docs: acquisition_date=(data_interval_start, data_interval_end) with
    # @daily on Airflow 3 gives (t, t). It says how to fix the schedule instead of finding nothing.
    with pytest.raises(ValidationError) as error:
        SearchQuery(acquisition_date=(D, D)).to_body()
    message = str(error.value)
    assert "acquisition_date" in message and "it is empty" in message
    assert "published_since_previous_run" in message and "CronDataIntervalTimetable" in message
    with pytest.raises(ValidationError, match="publication_date"):
        SearchQuery(publication_date=(D, D)).to_body()


def test_publication_window_goes_into_the_search_body_half_open() -> None:
    body = SearchQuery(publication_date=(D, D + DAY)).to_body()
    assert body["publicationDate"] == "[2026-11-20T00:00:00Z,2026-11-21T00:00:00Z)"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(7, timedelta(days=7)), ("1.5", timedelta(hours=36)), (timedelta(hours=6), timedelta(hours=6)), (None, None)],
)
def test_durations(value: Any, expected: timedelta | None) -> None:
    assert as_timedelta(value, "max_image_age") == expected


@pytest.mark.parametrize("value", [0, -1, "soon", float("nan")])
def test_bad_durations_name_the_field(value: Any) -> None:
    with pytest.raises(ValidationError, match="max_image_age"):
        as_timedelta(value, "max_image_age")
