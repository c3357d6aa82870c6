"""The search operator as a scheduled run uses it: a publication window since the previous run, a
maximum image age, and a log that says what was searched (against the live sandbox catalogue)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_oneatlas.operators.search import OneAtlasSearchOperator
from tests.conftest import TOULOUSE_FIELD
from tests.unit.utils.test_windows import trigger_context

TODAY = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


def logged(capsys: pytest.CaptureFixture[str]) -> str:
    """What the operators logged (Airflow 3 task logging writes to stdout outside a task runner)."""
    captured = capsys.readouterr()
    return captured.out + captured.err


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.removesuffix("Z")[:26]).replace(tzinfo=timezone.utc)


def scheduled(context: dict[str, Any], logical: datetime, previous_end: datetime | None) -> dict[str, Any]:
    return {**context, **trigger_context(logical, previous_end)}


def test_scheduled_search_finds_what_was_published_in_its_window(
    oneatlas_conn: str, context: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    op = OneAtlasSearchOperator(
        task_id="search",
        aoi=TOULOUSE_FIELD,
        published_since_previous_run=True,
        max_image_age=20,
        processing_level="SENSOR",
        max_cloud_cover=50,
        min_coverage=0.2,
        limit=100,
    )
    start = TODAY - timedelta(days=10)
    images = op.execute(scheduled(context, TODAY, start))
    assert images, "the live catalogue published nothing over the field in 10 days"
    for image in images:
        assert start <= parse(image["publication_date"]) < TODAY
        assert parse(image["acquisition_date"]) >= TODAY - timedelta(days=20)
        assert image["cloud_cover"] <= 50 and image["coverage"] >= 0.2
    text = logged(capsys)
    # The log states the window, the AOI's bounding box, the filters and what each filter removed.
    assert f"published [{start:%Y-%m-%dT%H:%M:%S}Z,{TODAY:%Y-%m-%dT%H:%M:%S}Z)" in text
    assert f"acquired [{TODAY - timedelta(days=20):%Y-%m-%dT%H:%M:%S}Z,]" in text
    assert "AOI Polygon bbox lon 1.30000..1.40000, lat 43.55000..43.62000" in text
    assert "processingLevel=SENSOR" in text
    assert "by max_cloud_cover" in text and "by min_coverage" in text

    # The next day's run starts where this one ended: nothing is found twice.
    tomorrow = op.execute(scheduled(context, TODAY + timedelta(days=1), TODAY))
    assert not {i["id"] for i in tomorrow} & {i["id"] for i in images}


def test_a_swapped_field_does_not_look_like_no_new_image(
    oneatlas_conn: str, context: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    swapped = {"type": "Polygon", "coordinates": [[[lat, lon] for lon, lat in TOULOUSE_FIELD["coordinates"][0]]]}
    op = OneAtlasSearchOperator(task_id="search", aoi=swapped, published_since_previous_run=True)
    assert op.execute(scheduled(context, TODAY, TODAY - timedelta(days=10))) == []
    text = logged(capsys)
    assert "AOI Polygon bbox lon 43.55000..43.62000, lat 1.30000..1.40000" in text
    assert "the catalogue holds no image over this AOI at any date" in text
    assert "[longitude, latitude]" in text


def test_an_explicit_window_wins_over_the_schedule(
    oneatlas_conn: str, context: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    op = OneAtlasSearchOperator(
        task_id="search",
        aoi=TOULOUSE_FIELD,
        published_since_previous_run=True,
        max_image_age=7,
        acquisition_date=("2024-01-01", "2024-12-31"),
        limit=3,
    )
    images = op.execute(scheduled(context, TODAY, TODAY - timedelta(days=1)))
    assert images and all(i["acquisition_date"].startswith("2024-") for i in images)
    assert "published [" not in logged(capsys)


def test_unset_params_count_as_no_window(oneatlas_conn: str, context: dict[str, Any]) -> None:
    # ("{{ params.start }}", "{{ params.end }}") with both Params empty renders to (None, None).
    op = OneAtlasSearchOperator(
        task_id="search",
        aoi=TOULOUSE_FIELD,
        published_since_previous_run=True,
        acquisition_date=(None, None),
        limit=50,
    )
    images = op.execute(scheduled(context, TODAY, TODAY - timedelta(days=10)))
    assert all(TODAY - timedelta(days=10) <= parse(i["publication_date"]) < TODAY for i in images)
