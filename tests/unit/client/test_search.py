"""client/search.py: the filtered search. Exact counts per filter with requests-mock answers built
for the purpose, the AOI parsed once, and the same workflow against the sandbox over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
import requests_mock

from airflow_provider_oneatlas.client import api, geometry
from airflow_provider_oneatlas.client.client import OneAtlasClient
from airflow_provider_oneatlas.client.config import DEFAULT_SERVICE_URLS, ClientConfig
from airflow_provider_oneatlas.client.errors import ValidationError
from airflow_provider_oneatlas.client.search import SearchOutcome, search_images
from tests.conftest import SANDBOX_KEY, TOULOUSE_FIELD, tutorial
from tests.helpers import api_requests

AUTH = DEFAULT_SERVICE_URLS["auth"] + api.TOKEN_PATH
SEARCH = DEFAULT_SERVICE_URLS["search"] + "/api/v1/opensearch"


def box(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    return {
        "type": "Polygon",
        "coordinates": [[[west, south], [east, south], [east, north], [west, north], [west, south]]],
    }


COVERING = box(1.0, 43.0, 2.0, 44.0)  # the whole field
WEST_HALF = box(1.0, 43.0, 1.35, 44.0)  # half of the field (1.30..1.40)


def feature(item_id: str, day: int, cloud: float | None, footprint: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = {"id": item_id, "acquisitionDate": f"2024-05-0{day}T10:00:00Z", "processingLevel": "SENSOR"}
    if cloud is not None:
        props["cloudCover"] = cloud
    return {"type": "Feature", "geometry": footprint, "properties": props, "_links": {}}


FEATURES = [
    feature("img-a", 3, 5, COVERING),
    feature("img-b", 4, 50, COVERING),  # too cloudy
    feature("img-c", 5, None, COVERING),  # no cloud cover given: dropped by max_cloud_cover
    feature("img-d", 1, 10, WEST_HALF),  # covers half the field
    feature("img-e", 6, 0, COVERING),
    feature("img-f", 2, 15, COVERING),
]


@pytest.fixture
def mock() -> Any:
    with requests_mock.Mocker() as m:
        m.post(AUTH, json=tutorial("token.json"))
        m.post(SEARCH, json={"features": FEATURES, "totalResults": len(FEATURES), "itemsPerPage": 500, "startIndex": 0})
        yield m


@pytest.fixture
def client() -> OneAtlasClient:
    return OneAtlasClient(ClientConfig(api_key="search-test-key"))


def run(client: OneAtlasClient, **kwargs: Any) -> SearchOutcome:
    return search_images(client, api.SearchQuery(aoi=TOULOUSE_FIELD), **kwargs)


def test_each_filter_counts_what_it_removed(mock: Any, client: OneAtlasClient) -> None:
    outcome = run(client, max_cloud_cover=20, min_coverage=0.9, limit=2)
    assert outcome.read == 6
    assert outcome.removed == {"max_cloud_cover": 2, "min_coverage": 1}
    assert list(outcome.removed) == ["max_cloud_cover", "min_coverage"]  # the order the filters run
    assert [i["id"] for i in outcome.images] == ["img-e", "img-a"]  # newest first, then the limit
    assert outcome.over_limit == 1  # img-f, kept by the filters, dropped by the limit
    assert outcome.read == sum(outcome.removed.values()) + outcome.over_limit + len(outcome.images)


def test_the_raw_feature_of_each_kept_image_and_no_other(mock: Any, client: OneAtlasClient) -> None:
    """What STAC items of the search are made of: the catalogue's own feature, for exactly what is returned."""
    outcome = run(client, max_cloud_cover=20, min_coverage=0.9, limit=2)
    by_id = {f["properties"]["id"]: f for f in FEATURES}
    assert set(outcome.features) == {"img-e", "img-a"}  # img-f, dropped by the limit, is not kept
    assert all(outcome.features[i] == by_id[i] for i in outcome.features)
    assert set(run(client).features) == set(by_id)


def test_without_filters_nothing_is_counted_as_removed(mock: Any, client: OneAtlasClient) -> None:
    outcome = run(client)
    assert outcome.removed == {} and outcome.over_limit == 0 and len(outcome.images) == 6


def test_coverage_is_a_geodesic_fraction_of_the_aoi(mock: Any, client: OneAtlasClient) -> None:
    coverage = {i["id"]: i["coverage"] for i in run(client).images}
    assert coverage["img-a"] == 1.0
    assert coverage["img-d"] == pytest.approx(0.5, abs=0.01)
    assert all(0.0 <= c <= 1.0 for c in coverage.values())


def test_newest_first_or_the_api_order(mock: Any, client: OneAtlasClient) -> None:
    assert [i["id"] for i in run(client).images] == ["img-e", "img-c", "img-b", "img-a", "img-f", "img-d"]
    assert [i["id"] for i in run(client, newest_first=False).images] == [f["properties"]["id"] for f in FEATURES]


def test_footprints_can_be_left_out(mock: Any, client: OneAtlasClient) -> None:
    assert all("footprint" in i for i in run(client).images)
    assert all("footprint" not in i and "coverage" in i for i in run(client, include_footprint=False).images)


def test_the_aoi_is_parsed_once(mock: Any, client: OneAtlasClient, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[Any] = []
    original = geometry._normalize

    def spy(*args: Any, **kwargs: Any) -> Any:
        parsed.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(geometry, "_normalize", spy)
    outcome = run(client, min_coverage=0.1)
    assert len(parsed) == 1  # not again for the search body, nor for the coverage filter
    assert len(outcome.images) == 6
    sent = mock.request_history[-1].json()
    assert sent["geometry"] == geometry.to_aoi(TOULOUSE_FIELD)


def test_a_checked_geometry_passes_through_unchanged() -> None:
    checked = geometry.to_search_geometry(TOULOUSE_FIELD, field="aoi")
    assert type(checked) is geometry.CheckedGeometry
    assert geometry.to_search_geometry(checked) is checked and geometry.to_aoi(checked) is checked


def test_a_point_has_no_coverage_and_refuses_min_coverage(mock: Any, client: OneAtlasClient) -> None:
    point = {"type": "Point", "coordinates": [1.35, 43.6]}
    outcome = search_images(client, api.SearchQuery(aoi=point))
    assert outcome.images and all("coverage" not in i for i in outcome.images)
    searches = len(mock.request_history)
    with pytest.raises(ValidationError) as err:
        search_images(client, api.SearchQuery(aoi=point), min_coverage=0.5)
    assert err.value.field == "min_coverage" and "Polygon" in str(err.value)
    assert len(mock.request_history) == searches  # refused before any request


def test_bad_filters_send_nothing(mock: Any, client: OneAtlasClient) -> None:
    with pytest.raises(ValidationError) as err:
        search_images(client, api.SearchQuery(aoi=TOULOUSE_FIELD, cloud_cover=(50, 10)))
    assert err.value.field == "cloud_cover"
    assert mock.request_history == []


def test_against_the_sandbox(sandbox: Any) -> None:
    client = OneAtlasClient(ClientConfig.for_base_url(SANDBOX_KEY, sandbox.base_url))
    query = api.SearchQuery(
        aoi=TOULOUSE_FIELD, processing_level="SENSOR", acquisition_date=("2018-01-01", "2026-12-31")
    )
    outcome = client.search_images(query, max_cloud_cover=20, min_coverage=0.9, limit=5)
    assert 0 < len(outcome.images) <= 5
    assert all(i["cloud_cover"] <= 20 and i["coverage"] >= 0.9 for i in outcome.images)
    dates = [i["acquisition_date"] for i in outcome.images]
    assert dates == sorted(dates, reverse=True)
    assert outcome.read == sum(outcome.removed.values()) + outcome.over_limit + len(outcome.images)
    assert outcome.removed["max_cloud_cover"] + outcome.removed["min_coverage"] > 0  # the filters did work
    searches = [r for r in api_requests(sandbox) if r["path"].endswith("/opensearch")]
    assert searches  # over HTTP
