"""OneAtlasSearchOperator against the sandbox: what it validates, filters and returns."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_oneatlas.client.errors import ValidationError
from airflow_provider_oneatlas.operators.search import OneAtlasSearchOperator
from airflow_provider_oneatlas.version_compat import AirflowSkipException
from tests.helpers import api_requests, search


def test_search_filters_and_summaries(oneatlas_conn: str, context: dict[str, Any]) -> None:
    images = search(
        context, acquisition_date=("2018-01-01", "2026-12-31"), max_cloud_cover=20, min_coverage=0.9, limit=5
    )
    assert 0 < len(images) <= 5
    for image in images:
        assert image["cloud_cover"] <= 20 and image["coverage"] >= 0.9 and image["processing_level"] == "SENSOR"
    dates = [i["acquisition_date"] for i in images]
    assert dates == sorted(dates, reverse=True)  # newest first
    json.dumps(images)  # XCom-safe
    assert set(images[0]) >= {
        "id",
        "acquisition_date",
        "cloud_cover",
        "constellation",
        "coverage",
        "footprint",
        "links",
    }


def test_search_skips_cleanly_when_nothing_is_new(oneatlas_conn: str, context: dict[str, Any]) -> None:
    with pytest.raises(AirflowSkipException):
        search(context, acquisition_date=("2030-01-01", "2030-01-02"), skip_if_empty=True)
    assert search(context, acquisition_date=("2030-01-01", "2030-01-02")) == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_cloud_cover": 130}, "max_cloud_cover"),
        ({"min_coverage": 1.5}, "min_coverage"),
        ({"limit": 0}, "limit"),
        ({"cloud_cover": (50, 10)}, "cloud_cover"),
        ({"constellation": "LANDSAT"}, "constellation"),
        ({"acquisition_date": ("2024-13-01", None)}, "acquisition_date"),
    ],
)
def test_search_rejects_bad_input_at_parse_time(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        OneAtlasSearchOperator(task_id="s", **kwargs)
    assert err.value.field == field


def test_templated_values_are_checked_when_rendered(oneatlas_conn: str, context: dict[str, Any], sandbox: Any) -> None:
    op = OneAtlasSearchOperator(task_id="s", aoi="{{ params.aoi }}", max_cloud_cover="{{ params.cloud }}")
    op.aoi, op.max_cloud_cover = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}, "20"
    before = len(api_requests(sandbox))
    with pytest.raises(ValidationError, match="Self-intersection"):
        op.execute(context)
    assert len(api_requests(sandbox)) == before  # rejected before any request


def test_search_with_a_point_has_no_coverage(oneatlas_conn: str, context: dict[str, Any]) -> None:
    op = OneAtlasSearchOperator(task_id="s", aoi={"type": "Point", "coordinates": [1.35, 43.6]}, limit=3)
    images = op.execute(context)
    assert images and all("coverage" not in i for i in images)
    with pytest.raises(ValidationError, match="min_coverage"):
        OneAtlasSearchOperator(
            task_id="s", aoi={"type": "Point", "coordinates": [1.35, 43.6]}, min_coverage=0.5
        ).execute(context)


def test_rendered_range_strings_are_numbers(oneatlas_conn: str, context: dict[str, Any]) -> None:
    # Without render_template_as_native_obj, "{{ params.max_cloud }}" renders to the string "20".
    images = search(context, cloud_cover=("0", "20"), limit=3)
    assert images and all(i["cloud_cover"] <= 20 for i in images)
    with pytest.raises(ValidationError, match="cloud_cover"):
        search(context, cloud_cover=("0", "twenty"))
