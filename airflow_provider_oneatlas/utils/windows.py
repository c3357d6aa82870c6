"""Search windows of scheduled runs: "published since the previous run", contiguous from run to run.

An image appears in the catalogue at its ``publicationDate``, hours to days after its acquisition. A
run that searches "acquired yesterday" misses every image published after it ran, so a scheduled
acquisition searches by *publication* date: from where the previous successful run's window ended
to where this run's ends. Windows are half-open ``[start, end)``, so consecutive runs neither overlap
nor leave a gap, and a run after a pause (catch-up off, the scheduler down for days) covers the
whole pause. The acquisition date only bounds how old an image may be (``max_image_age``).

Airflow 3's ``schedule="@daily"`` uses a trigger timetable whose data intervals have zero length;
the window's end is then the run's logical date (or, for a manual run, when it was triggered).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_oneatlas.client.errors import ValidationError
from airflow_provider_oneatlas.client.query import format_datetime, to_utc_datetime

#: What a first run searches when there is no previous successful run.
DEFAULT_FIRST_RUN_LOOKBACK = timedelta(days=1)


def as_timedelta(value: Any, field_name: str) -> timedelta | None:
    """A duration from a ``timedelta`` or a number of days (a rendered template may be a string)."""
    if value is None or value == "":
        return None
    if isinstance(value, timedelta):
        days = value.total_seconds() / 86400
    else:
        try:
            days = float(value)
        except (TypeError, ValueError):
            raise ValidationError(
                field_name, f"{value!r} is not a duration", "a number of days (e.g. 7) or a timedelta"
            ) from None
    if not days > 0 or days != days or days > 36500:
        raise ValidationError(field_name, f"{value!r} is not a positive duration", "a number of days above 0")
    return timedelta(days=days)


def _instant(value: Any) -> datetime | None:
    # Airflow hands some of these as lazy proxies, which are never ``is None``: test truthiness.
    if not value:
        return None
    return to_utc_datetime(value, "window")


def run_window_end(context: Mapping[str, Any]) -> datetime:
    """Where this run's window ends: its data interval's end when the interval is real, else its
    logical date, else (a manual run without one) when it was triggered."""
    start = _instant(context.get("data_interval_start"))
    end = _instant(context.get("data_interval_end"))
    if start is not None and end is not None and end > start:
        return end
    dag_run = context.get("dag_run")
    for candidate in (context.get("logical_date"), end, getattr(dag_run, "run_after", None)):
        instant = _instant(candidate)
        if instant is not None:
            return instant
    return datetime.now(timezone.utc)


def previous_window_end(context: Mapping[str, Any]) -> datetime | None:
    """Where the previous successful run's window ended (None on a first run).

    Airflow gives the previous successful run's data interval; for a zero-length interval its end is
    that run's logical date, which is also where :func:`run_window_end` ended that run's window.
    """
    return _instant(context.get("prev_data_interval_end_success"))


def window_since_previous_run(
    end: datetime,
    previous_end: datetime | None,
    *,
    first_run_lookback: timedelta = DEFAULT_FIRST_RUN_LOOKBACK,
) -> tuple[datetime, datetime]:
    """``[start, end)`` from the previous run's end (or ``first_run_lookback`` before ``end``).

    Refuses an empty or inverted window with an error that says how to fix the schedule.
    """
    start = previous_end if previous_end is not None else end - first_run_lookback
    if start >= end:
        raise ValidationError(
            "publication_date",
            f"the window since the previous run is empty ({format_datetime(start)} to {format_datetime(end)}): "
            "the previous successful run ended at or after this run's end",
            "a schedule whose runs move forward in time (a timetable with real data intervals, or a cron "
            "trigger); to search a fixed period, give publication_date=(start, end) instead",
        )
    return start, end


def publication_window(
    context: Mapping[str, Any], *, first_run_lookback: timedelta = DEFAULT_FIRST_RUN_LOOKBACK
) -> tuple[datetime, datetime]:
    """This run's "published since the previous run" window, from the task context."""
    return window_since_previous_run(
        run_window_end(context), previous_window_end(context), first_run_lookback=first_run_lookback
    )
