"""client/query.py: the input checks and the search/order bodies, as pure functions (no request)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_oneatlas.client import query
from airflow_provider_oneatlas.client.errors import AoiError, ValidationError
from tests.conftest import TUTORIAL_AOI, TUTORIAL_SEARCH_AOI, tutorial

ITEM = "e459d653-468f-471b-8d6e-90b13b14c655"


def field_of(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ValidationError) as err:
        call(*args, **kwargs)
    return err.value.field


@pytest.mark.parametrize("value", [ITEM, " abc-123 ", "DS_PHR1B_2018.x:y"])
def test_check_id_accepts_ids(value: str) -> None:
    assert query.check_id(value, "item_id") == value.strip()


@pytest.mark.parametrize("value", ["", "ab", "../../etc", "https://x/y", "a b c", None, 42])
def test_check_id_refuses_what_is_not_an_id(value: Any) -> None:
    assert field_of(query.check_id, value, "order_id") == "order_id"


def test_check_number_and_count_take_rendered_strings() -> None:
    assert query.check_number("20", "max_cloud_cover", lower=0, upper=100) == 20.0
    assert (
        query.check_number(None, "x", lower=0, upper=1) is None
        and query.check_number("", "x", lower=0, upper=1) is None
    )
    assert query.check_count("3", "limit") == 3 and query.check_count(4.0, "limit") == 4
    for bad in ("twenty", 101, -1, float("nan")):
        assert field_of(query.check_number, bad, "max_cloud_cover", lower=0, upper=100) == "max_cloud_cover"
    for bad in (0, 2.5, "x", 10_000_001):
        assert field_of(query.check_count, bad, "limit") == "limit"


def test_check_image_ids_takes_ids_lists_and_search_summaries() -> None:
    assert query.check_image_ids(ITEM) == [ITEM]
    assert query.check_image_ids([{"id": ITEM, "cloud_cover": 3}, "abc-123"]) == [ITEM, "abc-123"]
    assert field_of(query.check_image_ids, []) == "image_ids"
    assert field_of(query.check_image_ids, [{"no": "id"}]) == "image_ids"


def test_choices_are_normalized_or_refused_with_the_accepted_values() -> None:
    assert query.check_radiometric_processing(" reflectance ") == "REFLECTANCE"
    assert query.check_product_type("bundle") == "bundle"
    assert query.check_image_format("image/geotiff") == "image/geotiff"
    assert query.check_kind("order.product") == "order.product"
    with pytest.raises(ValidationError) as err:
        query.check_product_type("bundel")
    assert "bundle" in str(err.value) and err.value.accepted and "pansharpened" in err.value.accepted


@pytest.mark.parametrize(
    "crs", ["urn:ogc:def:crs:EPSG::4326", "urn:ogc:def:crs:EPSG::32631", "urn:ogc:def:crs:EPSG::32760"]
)
def test_crs_codes_accepted(crs: str) -> None:
    assert query.check_crs_code(crs) == crs


@pytest.mark.parametrize("crs", ["EPSG:4326", "urn:ogc:def:crs:EPSG::32661", "urn:ogc:def:crs:EPSG::3857", None])
def test_crs_codes_refused(crs: Any) -> None:
    assert field_of(query.check_crs_code, crs) == "crs_code"


def test_dates_become_utc() -> None:
    assert query.to_utc_datetime("2024-05-01", "d") == datetime(2024, 5, 1, tzinfo=timezone.utc)
    assert query.to_utc_datetime("2024-05-01T02:00:00+02:00", "d") == datetime(2024, 5, 1, tzinfo=timezone.utc)
    assert query.to_utc_datetime("2024-05-01T00:00:00Z", "d").tzinfo == timezone.utc
    assert query.to_utc_datetime(date(2024, 5, 1), "d") == datetime(2024, 5, 1, tzinfo=timezone.utc)
    assert field_of(query.to_utc_datetime, "2024-13-01", "acquisition_date") == "acquisition_date"
    assert (
        query.format_datetime(datetime(2024, 5, 1, 1, 2, 3, 456789, tzinfo=timezone.utc)) == "2024-05-01T01:02:03.456Z"
    )


def test_ranges_are_the_apis_strings() -> None:
    assert query.number_range((0, 20), "cloud_cover", lower=0, upper=100) == "[0,20]"
    assert query.number_range(("0", "12.5"), "cloud_cover", lower=0, upper=100) == "[0,12.5]"
    assert query.number_range({"max": 10}, "cloud_cover", lower=0, upper=100) == "[,10]"
    assert query.number_range(None, "cloud_cover", lower=0, upper=100) is None
    for bad in ((50, 10), (0, 101), ("0", "twenty"), (True, 3), 5, {"low": 1}):
        assert field_of(query.number_range, bad, "cloud_cover", lower=0, upper=100) == "cloud_cover"
    start, end = query.date_range(("2024-05-01", None)) or (None, None)
    assert start == datetime(2024, 5, 1, tzinfo=timezone.utc) and end is None
    assert query.format_date_range(start, start + timedelta(days=1), end_exclusive=True) == (
        "[2024-05-01T00:00:00Z,2024-05-02T00:00:00Z)"
    )
    assert field_of(query.date_range, ("2024-05-02", "2024-05-01")) == "acquisition_date"


def test_search_body_of_the_tutorial_search() -> None:
    body = query.SearchQuery(
        aoi=TUTORIAL_SEARCH_AOI,
        acquisition_date=("2018-08-01", "2018-09-01"),
        cloud_cover=(None, 70),
        constellation=["spot", "PHR"],
        processing_level="SENSOR",
        sort_by="-acquisitionDate",
        items_per_page=10,
        extra={"custom": "kept"},
    ).to_body()
    assert body["geometry"] == TUTORIAL_SEARCH_AOI
    assert body["acquisitionDate"] == "[2018-08-01T00:00:00Z,2018-09-01T00:00:00Z]"
    assert body["cloudCover"] == "[,70]" and body["constellation"] == "SPOT,PHR"
    assert body["processingLevel"] == "SENSOR" and body["sortBy"] == "-acquisitionDate"
    assert body["itemsPerPage"] == 10 and body["startPage"] == 1 and body["custom"] == "kept"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"relation": "touches"}, "relation"),
        ({"constellation": "LANDSAT"}, "constellation"),
        ({"items_per_page": 501}, "items_per_page"),
        ({"start_page": 0}, "start_page"),
        ({"start_page": 21, "items_per_page": 500}, "start_page"),  # past the 10,000-result cap
        ({"sort_by": "drop table"}, "sort_by"),
        ({"platform": [""]}, "platform"),
        ({"q": 3}, "q"),
        ({"snow_cover": (0, 200)}, "snow_cover"),
    ],
)
def test_search_query_refuses_bad_filters(kwargs: dict[str, Any], field: str) -> None:
    assert field_of(query.SearchQuery(**kwargs).validate) == field


def test_search_query_aoi_errors_name_the_aoi() -> None:
    with pytest.raises(AoiError) as err:
        query.SearchQuery(aoi={"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}).to_body()
    assert err.value.field == "aoi"


def test_order_body_is_the_tutorials_payload() -> None:
    expected = tutorial("price.json")["payload"]
    product = expected["products"][0]
    spec = query.ProductSpec(item_id=product["id"], aoi=TUTORIAL_AOI)
    assert query.order_body("order.product", [spec]) == expected


def test_order_body_with_ref_and_tags_and_its_refusals() -> None:
    spec = query.ProductSpec(item_id=ITEM, aoi=TUTORIAL_AOI)
    body = query.order_body("order.data.gb.product", [spec], customer_ref="run-1", tags="farm")
    assert body["customerRef"] == "run-1" and body["tags"] == ["farm"] and body["kind"] == "order.data.gb.product"
    assert field_of(query.order_body, "order.product", []) == "products"
    assert field_of(query.order_body, "productOrder", [spec]) == "kind"
    assert field_of(query.order_body, "order.product", [spec], customer_ref="x" * 257) == "customer_ref"
    assert field_of(query.order_body, "order.product", [spec], tags=["farm-2024"]) == "tags"
    assert (
        field_of(query.order_body, "order.product", [query.ProductSpec(item_id="../x", aoi=TUTORIAL_AOI)]) == "item_id"
    )


def test_width() -> None:
    assert query.check_width(None) is None and query.check_width(64) == 64
    for bad in (0, 4097, True, "64"):
        assert field_of(query.check_width, bad) == "width"
