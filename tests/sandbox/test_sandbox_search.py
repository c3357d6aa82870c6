"""The sandbox's catalog and OpenSearch endpoint, over real HTTP.

Every expectation is computed independently of the catalog's own filter code: by brute force over
``catalog.all()`` with plain Python and shapely predicates.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
import requests
import shapely
from shapely.geometry import box, mapping, shape

from airflow_provider_oneatlas.sandbox.catalog import (
    DEMO_AREAS,
    PUBLIC_WORKSPACE_ID,
    TUTORIAL_ITEM_IDS,
    TUTORIAL_PRICE_ITEM_ID,
    Catalog,
    FilterError,
)
from airflow_provider_oneatlas.sandbox.config import SandboxConfig
from airflow_provider_oneatlas.sandbox.server import SandboxServer
from tests.conftest import TUTORIAL_AOI as TOULOUSE_AOI
from tests.conftest import TUTORIAL_SEARCH_AOI as CAVTAT_AOI
from tests.conftest import tutorial
from tests.sandbox.http import ERROR_KEYS, SandboxSession


class Client(SandboxSession):
    def raw(self, params: dict[str, Any], *, method: str = "POST", version: int = 1) -> requests.Response:
        url = f"{self.base}/api/v{version}/opensearch"
        if method == "POST":
            return self.session.post(url, json=params)
        return self.session.get(url, params=params)

    def search(self, params: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        answer = self.raw(params, **kwargs)
        assert answer.status_code == 200, answer.text
        doc: dict[str, Any] = answer.json()
        return doc

    def all_ids(self, params: dict[str, Any], **kwargs: Any) -> list[str]:
        """Every result id, in order, paging through with the largest pages."""
        ids: list[str] = []
        page = 1
        while True:
            doc = self.search({**params, "itemsPerPage": 500, "startPage": page}, **kwargs)
            ids += [f["properties"]["id"] for f in doc["features"]]
            if len(ids) >= doc["totalResults"] or not doc["features"]:
                assert len(ids) == doc["totalResults"]
                return ids
            page += 1

    def error(self, params: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        answer = self.raw(params, **kwargs)
        assert answer.status_code == 400, answer.text
        doc: dict[str, Any] = answer.json()
        assert set(doc) == ERROR_KEYS
        return doc

    def expected(self, keep: Callable[[dict[str, Any]], bool]) -> set[str]:
        return {f["properties"]["id"] for f in self.catalog.all() if keep(f)}


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with SandboxServer(SandboxConfig(seed=11, catalog_size=1500)) as server:
        yield Client(server)


@pytest.fixture()
def small_client() -> Iterator[Client]:
    """A sandbox of its own, for tests that add items."""
    with SandboxServer(SandboxConfig(seed=5, catalog_size=60)) as server:
        yield Client(server)


#: The archive alone, all of it published: no live stream, the clock stopped after the archive's end.
ARCHIVE_ONLY: dict[str, Any] = {"live_stream": False, "clock_start": "2030-01-01T00:00:00Z", "clock_speed": 0}


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --------------------------------------------------------------------------------------------------
# The catalog itself
# --------------------------------------------------------------------------------------------------


def test_same_seed_same_catalog_other_seed_other_catalog() -> None:
    first = Catalog(SandboxConfig(**ARCHIVE_ONLY, seed=3, catalog_size=400))
    again = Catalog(SandboxConfig(**ARCHIVE_ONLY, seed=3, catalog_size=400))
    other = Catalog(SandboxConfig(**ARCHIVE_ONLY, seed=4, catalog_size=400))
    assert len(first) == 400 + 4
    assert [f["properties"] for f in first.all()] == [f["properties"] for f in again.all()]
    assert [f["geometry"] for f in first.all()] == [f["geometry"] for f in again.all()]
    generated = {f["properties"]["id"] for f in first.all()[4:]}
    assert generated.isdisjoint(f["properties"]["id"] for f in other.all()[4:])
    assert len(generated) == 400


def test_generated_items_look_like_the_tutorials() -> None:
    catalog = Catalog(
        SandboxConfig(**ARCHIVE_ONLY, seed=1, catalog_size=3000, catalog_start="2019-03-01", catalog_end="2024-06-30")
    )
    reference = tutorial("search.json")["features"][0]
    start, end = when("2019-03-01T00:00:00Z"), when("2024-07-01T00:00:00Z")
    platforms = {"SPOT": {"SPOT6", "SPOT7"}, "PHR": {"PHR1A", "PHR1B"}, "PNEO": {"PNEO3", "PNEO4"}}
    resolutions = {"SPOT": (1.4, 1.8), "PHR": (0.45, 0.6), "PNEO": (0.28, 0.36)}
    in_demo = 0
    generated = catalog.all()[4:]
    for feature in generated:
        props = feature["properties"]
        assert list(feature) == list(reference)
        assert set(props) == set(reference["properties"])
        assert set(feature["_links"]) == set(reference["_links"])
        assert start <= when(props["acquisitionDate"]) < end
        assert when(props["acquisitionDate"]) < when(props["processingDate"]) < when(props["publicationDate"])
        assert props["platform"] in platforms[props["constellation"]]
        low, high = resolutions[props["constellation"]]
        assert low <= props["resolution"] <= high
        assert 0 <= props["cloudCover"] <= 100 and 0 <= props["snowCover"] <= 100
        assert 0 <= props["incidenceAngle"] <= 45
        assert props["processingLevel"] in {"SENSOR", "ORTHO", "ALBUM"}
        assert props["workspaceId"] == PUBLIC_WORKSPACE_ID and props["workspaceName"] == "public"
        assert props["title"] == props["sourceIdentifier"] and props["platform"] in props["parentIdentifier"]
        footprint = shape(feature["geometry"])
        assert footprint.is_valid and footprint.geom_type == "Polygon"
        minx, miny, maxx, maxy = footprint.bounds
        width_km = (maxx - minx) * 111.32 * math.cos(math.radians((miny + maxy) / 2))
        height_km = (maxy - miny) * 110.57
        assert 15 <= width_km <= 75 and 15 <= height_km <= 75, (width_km, height_km)
        point = footprint.centroid
        if any(box(*area).buffer(0.2).contains(point) for area in DEMO_AREAS.values()):
            in_demo += 1
    # About 30% over the demo areas; clear skies more common than cloudy ones; mostly SENSOR.
    assert 0.25 <= in_demo / len(generated) <= 0.35
    clouds = [f["properties"]["cloudCover"] for f in generated]
    assert sum(c <= 30 for c in clouds) > 2 * sum(c > 70 for c in clouds)
    levels = [f["properties"]["processingLevel"] for f in generated]
    assert levels.count("SENSOR") > levels.count("ORTHO") + levels.count("ALBUM")
    assert {f["properties"]["constellation"] for f in generated} == {"SPOT", "PHR", "PNEO"}
    # Pleiades Neo flies since 2021.
    assert all(
        when(f["properties"]["acquisitionDate"]) >= when("2021-06-01T00:00:00Z")
        for f in generated
        if f["properties"]["constellation"] == "PNEO"
    )


def test_tutorial_features_are_stored_verbatim() -> None:
    catalog = Catalog(SandboxConfig(catalog_size=0))
    expected = tutorial("search.json")["features"]
    assert [catalog.get(item_id) for item_id in TUTORIAL_ITEM_IDS] == expected
    assert [f["properties"]["id"] for f in expected] == list(TUTORIAL_ITEM_IDS)


def test_price_sample_item_covers_the_price_aoi_with_a_margin() -> None:
    catalog = Catalog(SandboxConfig(catalog_size=0))
    item = catalog.get(TUTORIAL_PRICE_ITEM_ID)
    assert item is not None
    props = item["properties"]
    assert (props["constellation"], props["platform"], props["processingLevel"]) == ("PHR", "PHR1B", "SENSOR")
    assert set(props) == set(tutorial("search.json")["features"][0]["properties"])
    footprint = shape(item["geometry"])
    assert footprint.contains(shape(TOULOUSE_AOI).buffer(0.05))


def test_get_returns_a_copy_and_add_replaces_by_id() -> None:
    catalog = Catalog(SandboxConfig(**ARCHIVE_ONLY, catalog_size=10))
    item = catalog.get(TUTORIAL_PRICE_ITEM_ID)
    assert item is not None
    item["properties"]["cloudCover"] = 99
    assert catalog.get(TUTORIAL_PRICE_ITEM_ID)["properties"]["cloudCover"] == 1.25  # type: ignore[index]
    private = copy.deepcopy(item)
    private["properties"].update(id="p-1", workspaceId="ws-private", workspaceName="private", cloudCover=3)
    catalog.add(private)
    assert len(catalog) == 15
    assert [f["properties"]["id"] for f in catalog.query(workspace="private")] == ["p-1"]
    private["properties"]["cloudCover"] = 4
    catalog.add(private)
    assert len(catalog) == 15
    assert catalog.query(workspace="ws-private", cloudCover="4") == [catalog.all()[-1]]
    with pytest.raises(ValueError):
        catalog.add({"properties": {"workspaceId": "x"}, "geometry": TOULOUSE_AOI})


def test_query_raises_filter_errors_naming_the_parameter() -> None:
    catalog = Catalog(SandboxConfig(catalog_size=10))
    with pytest.raises(FilterError) as caught:
        catalog.query(cloudCover="[30,0]")
    assert str(caught.value).startswith("cloudCover: invalid range '[30,0]'")
    assert caught.value.parameter == "cloudCover"


def test_a_large_catalog_searches_correctly() -> None:
    catalog = Catalog(SandboxConfig(**ARCHIVE_ONLY, seed=2, catalog_size=25_000))
    assert len(catalog) == 25_004
    aoi = shape(CAVTAT_AOI)
    found = catalog.query(
        geometry=CAVTAT_AOI, acquisitionDate="[2020-01-01T00:00:00Z,2023-01-01T00:00:00Z)", cloudCover="[0,20]"
    )
    expected = {
        f["properties"]["id"]
        for f in catalog.all()
        if shape(f["geometry"]).intersects(aoi)
        and when("2020-01-01T00:00:00Z") <= when(f["properties"]["acquisitionDate"]) < when("2023-01-01T00:00:00Z")
        and f["properties"]["cloudCover"] <= 20
    }
    assert {f["properties"]["id"] for f in found} == expected
    assert len(expected) > 100


# --------------------------------------------------------------------------------------------------
# Answer shape, links, tutorial features
# --------------------------------------------------------------------------------------------------


def test_answer_has_the_tutorials_shape(client: Client) -> None:
    doc = client.search({})
    assert list(doc) == ["error", "features", "itemsPerPage", "startIndex", "totalResults", "type"]
    assert doc["error"] is False and doc["type"] == "FeatureCollection"
    assert (doc["itemsPerPage"], doc["startIndex"], doc["totalResults"]) == (50, 0, len(client.catalog))
    assert len(doc["features"]) == 50
    reference = tutorial("search.json")["features"][0]
    for feature in doc["features"]:
        assert list(feature) == list(reference)
        assert list(feature["_links"]) == list(reference["_links"])


def test_tutorial_features_are_served_verbatim_with_links_on_this_server(client: Client) -> None:
    expected = tutorial("search.json")["features"]
    doc = client.search({"ids": ",".join(TUTORIAL_ITEM_IDS), "sortBy": "-acquisitionDate"})
    assert [f["properties"]["id"] for f in doc["features"]] == list(TUTORIAL_ITEM_IDS)
    for served, original in zip(doc["features"], expected, strict=True):
        assert served["properties"] == original["properties"]
        assert served["geometry"] == original["geometry"]
        assert served["rights"] == original["rights"]
        assert served["type"] == "Feature"
        for name, link in original["_links"].items():
            path = "/api/" + link["href"].split("/api/", 1)[1]
            assert served["_links"][name] == {**link, "href": client.base + path}


def test_links_point_at_this_server(client: Client) -> None:
    doc = client.search({"itemsPerPage": 20})
    for feature in doc["features"]:
        item_id = feature["properties"]["id"]
        links = feature["_links"]
        for name in ("quicklook", "thumbnail", "metadata", "wms", "wmts"):
            assert links[name]["href"] == f"{client.base}/api/v1/items/{item_id}/{name}"
        assert links["delete"]["href"] == (
            f"{client.base}/api/v1/workspaces/{PUBLIC_WORKSPACE_ID}/types/satellite_imagery/items/{item_id}"
        )
        assert "download" not in links
    quicklook = client.session.get(doc["features"][0]["_links"]["quicklook"]["href"])
    assert quicklook.status_code == 200 and quicklook.headers["content-type"] == "image/png"


def test_private_items_are_found_by_workspace_and_carry_download_links(small_client: Client) -> None:
    client = small_client
    source = client.catalog.get(TUTORIAL_PRICE_ITEM_ID)
    assert source is not None
    workspace_id = "148eebbd-a9b9-4cf6-97d3-87237901a7b9"
    delivered = {
        "type": "Feature",
        "geometry": TOULOUSE_AOI,
        "properties": {
            **source["properties"],
            "id": "5a1d5c2e-0000-4000-8000-000000000001",
            "processingLevel": "ORTHO",
            "workspaceId": workspace_id,
            "workspaceName": "private",
            "workspaceTitle": "Private",
        },
    }
    assert client.search({"workspace": "private"})["totalResults"] == 0
    client.catalog.add(delivered)
    for workspace in ("private", workspace_id, f"{workspace_id},public"):
        ids = client.all_ids({"workspace": workspace})
        assert "5a1d5c2e-0000-4000-8000-000000000001" in ids
    assert client.all_ids({"workspace": "private"}) == ["5a1d5c2e-0000-4000-8000-000000000001"]
    assert "5a1d5c2e-0000-4000-8000-000000000001" not in client.all_ids({"workspace": "public"})
    assert len(client.all_ids({"workspace": "public"})) == len(client.catalog) - 1
    feature = client.search({"workspace": "private"})["features"][0]
    download = feature["_links"]["download"]
    assert isinstance(download, list)
    http = [entry for entry in download if entry["type"] == "HTTP" and entry["name"] == "download"]
    assert http == [
        {
            "href": f"{client.base}/api/v1/items/5a1d5c2e-0000-4000-8000-000000000001/download",
            "name": "download",
            "type": "HTTP",
        }
    ]
    assert feature["_links"]["delete"]["href"].endswith(
        f"/api/v1/workspaces/{workspace_id}/types/satellite_imagery/items/5a1d5c2e-0000-4000-8000-000000000001"
    )
    assert feature["_links"]["quicklook"]["href"].startswith(client.base)


# --------------------------------------------------------------------------------------------------
# Range filters
# --------------------------------------------------------------------------------------------------


def in_range(value: Any, low: Any, high: Any, low_inclusive: bool = True, high_inclusive: bool = True) -> bool:
    if value is None:
        return False
    if low is not None and (value < low or (value == low and not low_inclusive)):
        return False
    return not (high is not None and (value > high or (value == high and not high_inclusive)))


NUMBER_CASES = [
    ("cloudCover", "[0,30]", (0, 30, True, True)),
    ("cloudCover", "(0,30)", (0, 30, False, False)),
    ("cloudCover", "[10,30)", (10, 30, True, False)),
    ("cloudCover", "(10,30]", (10, 30, False, True)),
    ("cloudCover", "[0,", (0, None, True, True)),
    ("cloudCover", "(0,", (0, None, False, True)),
    ("cloudCover", ",30]", (None, 30, True, True)),
    ("cloudCover", ",30)", (None, 30, True, False)),
    ("cloudCover", "[50,]", (50, None, True, True)),
    ("cloudCover", "[,20]", (None, 20, True, True)),
    ("cloudCover", "0", (0, 0, True, True)),
    ("cloudCover", "61.4", (61.4, 61.4, True, True)),
    ("cloudCover", "[61.4,61.4]", (61.4, 61.4, True, True)),
    ("cloudCover", "(61.4,100]", (61.4, 100, False, True)),
    ("incidenceAngle", "[0,10]", (0, 10, True, True)),
    ("incidenceAngle", "(20,", (20, None, False, True)),
    ("snowCover", "(0,100]", (0, 100, False, True)),
    ("snowCover", "0", (0, 0, True, True)),
    ("resolution", "[0.2,0.6]", (0.2, 0.6, True, True)),
    ("resolution", ",1)", (None, 1, True, False)),
    ("resolution", "1.57121", (1.57121, 1.57121, True, True)),
]


@pytest.mark.parametrize(("name", "value", "bounds"), NUMBER_CASES)
def test_number_ranges(client: Client, name: str, value: str, bounds: tuple[Any, ...]) -> None:
    expected = client.expected(lambda f: in_range(f["properties"].get(name), *bounds))
    assert set(client.all_ids({name: value})) == expected
    assert expected  # every case selects something...
    assert len(expected) < len(client.catalog) or value in ("[0,",)  # ...and most leave something out


def test_a_number_range_may_be_a_json_number(client: Client) -> None:
    assert client.all_ids({"cloudCover": 61.4}) == ["e459d653-468f-471b-8d6e-90b13b14c655"]


DATE_CASES = [
    ("[2019-01-01T00:00:00Z,2019-12-31T23:59:59Z]", ("2019-01-01T00:00:00Z", "2019-12-31T23:59:59Z", True, True)),
    ("[2019-01-01T00:00:00Z,2020-01-01T00:00:00Z)", ("2019-01-01T00:00:00Z", "2020-01-01T00:00:00Z", True, False)),
    (
        "(2018-08-27T16:29:21.124Z,2018-12-31T00:00:00Z]",
        ("2018-08-27T16:29:21.124Z", "2018-12-31T00:00:00Z", False, True),
    ),
    (
        "[2018-08-27T16:29:21.124Z,2018-12-31T00:00:00Z]",
        ("2018-08-27T16:29:21.124Z", "2018-12-31T00:00:00Z", True, True),
    ),
    ("[2025-01-01T00:00:00Z,", ("2025-01-01T00:00:00Z", None, True, True)),
    (",2018-06-30T00:00:00Z]", (None, "2018-06-30T00:00:00Z", True, True)),
    ("[2021-03-01,2021-04-01)", ("2021-03-01T00:00:00Z", "2021-04-01T00:00:00Z", True, False)),
    (
        "[2021-03-01T02:00:00+02:00,2021-04-01T00:00:00.000Z)",
        ("2021-03-01T00:00:00Z", "2021-04-01T00:00:00Z", True, False),
    ),
    ("2018-08-27T16:29:21.124Z", ("2018-08-27T16:29:21.124Z", "2018-08-27T16:29:21.124Z", True, True)),
]


@pytest.mark.parametrize(("value", "bounds"), DATE_CASES)
def test_acquisition_date_ranges(client: Client, value: str, bounds: tuple[Any, ...]) -> None:
    low, high, low_inclusive, high_inclusive = bounds
    low_dt = when(low) if low else None
    high_dt = when(high) if high else None
    expected = client.expected(
        lambda f: in_range(when(f["properties"]["acquisitionDate"]), low_dt, high_dt, low_inclusive, high_inclusive)
    )
    assert expected
    assert set(client.all_ids({"acquisitionDate": value})) == expected


def test_exclusive_bounds_exclude_the_bound_itself(client: Client) -> None:
    tutorial_item = "e459d653-468f-471b-8d6e-90b13b14c655"  # 2018-08-27T16:29:21.124Z, cloudCover 61.4
    assert tutorial_item in client.all_ids({"acquisitionDate": "[2018-08-27T16:29:21.124Z,2018-08-28T00:00:00Z]"})
    assert tutorial_item not in client.all_ids({"acquisitionDate": "(2018-08-27T16:29:21.124Z,2018-08-28T00:00:00Z]"})
    assert tutorial_item not in client.all_ids({"acquisitionDate": "[2018-08-01T00:00:00Z,2018-08-27T16:29:21.124Z)"})
    assert tutorial_item not in client.all_ids({"cloudCover": "[0,61.4)"})
    assert tutorial_item in client.all_ids({"cloudCover": "[0,61.4]"})


def test_publication_date_range(client: Client) -> None:
    expected = client.expected(lambda f: when(f["properties"]["publicationDate"]) < when("2020-01-01T00:00:00Z"))
    assert set(client.all_ids({"publicationDate": ",2020-01-01T00:00:00Z)"})) == expected


def test_filters_combine(client: Client) -> None:
    aoi = shape(TOULOUSE_AOI)
    expected = client.expected(
        lambda f: (
            shape(f["geometry"]).intersects(aoi)
            and f["properties"]["cloudCover"] <= 40
            and f["properties"]["constellation"] in ("PHR", "PNEO")
            and f["properties"]["processingLevel"] == "SENSOR"
            and when(f["properties"]["acquisitionDate"]) >= when("2019-01-01T00:00:00Z")
        )
    )
    params = {
        "geometry": TOULOUSE_AOI,
        "cloudCover": "[0,40]",
        "constellation": "PHR,PNEO",
        "processingLevel": "SENSOR",
        "acquisitionDate": "[2019-01-01T00:00:00Z,",
    }
    assert set(client.all_ids(params)) == expected
    assert TUTORIAL_PRICE_ITEM_ID in expected and len(expected) > 10


# --------------------------------------------------------------------------------------------------
# Name filters, q, ids
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "wanted"),
    [
        ("constellation", "SPOT,PHR", {"SPOT", "PHR"}),
        ("constellation", ["PNEO"], {"PNEO"}),
        ("constellation", "spot", {"SPOT"}),
        ("platform", "PHR1A", {"PHR1A"}),
        ("platform", "SPOT6, PNEO4", {"SPOT6", "PNEO4"}),
        ("processingLevel", "ORTHO,ALBUM", {"ORTHO", "ALBUM"}),
        ("processingLevel", "SENSOR", {"SENSOR"}),
        ("productType", "pansharpened", {"pansharpened"}),
        ("productType", "bundle", {"bundle"}),
    ],
)
def test_name_filters(client: Client, name: str, value: Any, wanted: set[str]) -> None:
    expected = client.expected(lambda f: f["properties"][name] in wanted)
    assert expected
    assert set(client.all_ids({name: value})) == expected


def test_repeated_query_parameters_are_alternatives(client: Client) -> None:
    expected = client.expected(lambda f: f["properties"]["constellation"] in ("SPOT", "PNEO"))
    answer = client.session.get(
        client.base + "/api/v1/opensearch",
        params=[("constellation", "SPOT"), ("constellation", "PNEO"), ("itemsPerPage", "500")],
    )
    assert answer.status_code == 200
    assert answer.json()["totalResults"] == len(expected)


def test_workspace_public_by_name_and_id(client: Client) -> None:
    everything = set(client.all_ids({}))
    assert set(client.all_ids({"workspace": "public"})) == everything
    assert set(client.all_ids({"workspace": PUBLIC_WORKSPACE_ID})) == everything
    assert client.search({"workspace": "private"})["totalResults"] == 0
    assert client.search({"workspace": "someone-else"})["totalResults"] == 0


def test_q_searches_titles_and_ids(client: Client) -> None:
    expected = client.expected(lambda f: "spot7_2019" in f["properties"]["title"].lower())
    assert expected
    assert set(client.all_ids({"q": "SPOT7_2019"})) == expected
    assert client.all_ids({"q": "e459d653"}) == ["e459d653-468f-471b-8d6e-90b13b14c655"]
    assert client.all_ids({"q": "DS_SPOT7_201808270411022"}) == ["df89db9b-e35a-46ee-aad5-f3e1f18bf0ae"]


def test_ids_filter(client: Client) -> None:
    wanted = [TUTORIAL_PRICE_ITEM_ID, "1f5a3bda-8e35-4704-82ca-27dbfae58fc4"]
    assert set(client.all_ids({"ids": ",".join(wanted)})) == set(wanted)
    assert set(client.all_ids({"id": wanted})) == set(wanted)
    assert client.all_ids({"id": "no-such-id"}) == []


# --------------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------------

WITHIN_AREA = shapely.box(0.6, 43.0, 2.2, 44.2)
INSIDE_POINT = shapely.Point(1.40, 43.60)


@pytest.mark.parametrize(
    ("relation", "geometry", "predicate"),
    [
        (None, shape(TOULOUSE_AOI), lambda footprint, g: footprint.intersects(g)),
        ("intersects", shape(CAVTAT_AOI), lambda footprint, g: footprint.intersects(g)),
        ("within", WITHIN_AREA, lambda footprint, g: footprint.within(g)),
        ("contains", shape(TOULOUSE_AOI).buffer(-0.1), lambda footprint, g: footprint.contains(g)),
        ("contains", INSIDE_POINT, lambda footprint, g: footprint.contains(g)),
        ("disjoint", WITHIN_AREA, lambda footprint, g: footprint.disjoint(g)),
        ("INTERSECTS", shapely.LineString([(18.0, 42.5), (18.6, 42.55)]), lambda footprint, g: footprint.intersects(g)),
        (
            "intersects",
            shapely.MultiPolygon([shape(TOULOUSE_AOI), shape(CAVTAT_AOI)]),
            lambda footprint, g: footprint.intersects(g),
        ),
    ],
)
def test_relations(client: Client, relation: str | None, geometry: Any, predicate: Any) -> None:
    expected = client.expected(lambda f: predicate(shape(f["geometry"]), geometry))
    assert expected
    assert len(expected) < len(client.catalog)
    params: dict[str, Any] = {"geometry": mapping(geometry)}
    if relation is not None:
        params["relation"] = relation
    assert set(client.all_ids(params)) == expected
    # The same geometry as WKT, by POST and by GET.
    params["geometry"] = geometry.wkt
    assert set(client.all_ids(params)) == expected
    assert set(client.all_ids(params, method="GET")) == expected


def test_geometry_in_get_as_geojson_text(client: Client) -> None:
    expected = set(client.all_ids({"geometry": CAVTAT_AOI}))
    assert set(client.all_ids({"geometry": json.dumps(CAVTAT_AOI)}, method="GET")) == expected
    assert len(expected) > 100  # the demo area is busy


def test_bbox(client: Client) -> None:
    area = box(1.24, 43.47, 1.57, 43.71)
    expected = client.expected(lambda f: shape(f["geometry"]).intersects(area))
    assert set(client.all_ids({"bbox": "1.24,43.47,1.57,43.71"})) == expected
    assert set(client.all_ids({"bbox": "1.24,43.47,1.57,43.71"}, method="GET")) == expected
    both = client.expected(
        lambda f: shape(f["geometry"]).intersects(area) and shape(f["geometry"]).intersects(INSIDE_POINT.buffer(0.02))
    )
    assert (
        set(client.all_ids({"bbox": "1.24,43.47,1.57,43.71", "geometry": mapping(INSIDE_POINT.buffer(0.02))})) == both
    )


# --------------------------------------------------------------------------------------------------
# Sorting and paging
# --------------------------------------------------------------------------------------------------


def sorted_ids(client: Client, keys: list[tuple[str, bool]]) -> list[str]:
    features = list(client.catalog.all())
    features.sort(key=lambda f: f["properties"]["id"])
    for name, descending in reversed(keys):
        convert = when if name.endswith("Date") else (lambda v: v)
        features.sort(key=lambda f: convert(f["properties"][name]), reverse=descending)
    return [f["properties"]["id"] for f in features]


@pytest.mark.parametrize(
    ("sort_by", "keys"),
    [
        (None, [("acquisitionDate", True)]),
        ("-acquisitionDate", [("acquisitionDate", True)]),
        ("acquisitionDate", [("acquisitionDate", False)]),
        ("cloudCover", [("cloudCover", False)]),
        ("-cloudCover,acquisitionDate", [("cloudCover", True), ("acquisitionDate", False)]),
        ("+resolution,-incidenceAngle", [("resolution", False), ("incidenceAngle", True)]),
        ("constellation", [("constellation", False)]),
        ("-processingLevel,-cloudCover", [("processingLevel", True), ("cloudCover", True)]),
        ("title", [("title", False)]),
    ],
)
def test_sort_orders_are_total_and_deterministic(client: Client, sort_by: str | None, keys: list[Any]) -> None:
    # The reverse=True sorts above keep ties in id order: Python's sort is stable, as the tie-break is.
    params = {} if sort_by is None else {"sortBy": sort_by}
    assert client.all_ids(params) == sorted_ids(client, keys)


def test_sort_keys_in_a_json_list(client: Client) -> None:
    assert client.all_ids({"sortBy": ["cloudCover", "-acquisitionDate"]}) == sorted_ids(
        client, [("cloudCover", False), ("acquisitionDate", True)]
    )


def test_paging(client: Client) -> None:
    params = {"cloudCover": "[0,50]", "sortBy": "cloudCover"}
    whole = client.search({**params, "itemsPerPage": 21})
    pages = [client.search({**params, "itemsPerPage": 7, "startPage": page}) for page in (1, 2, 3)]
    assert [p["startIndex"] for p in pages] == [0, 7, 14]
    assert all(p["itemsPerPage"] == 7 and p["totalResults"] == whole["totalResults"] for p in pages)
    assert [f["properties"]["id"] for p in pages for f in p["features"]] == [
        f["properties"]["id"] for f in whole["features"]
    ]
    beyond = client.search({**params, "itemsPerPage": 500, "startPage": 9})
    assert beyond["features"] == [] and beyond["totalResults"] == whole["totalResults"]
    assert len(client.search({"itemsPerPage": 500})["features"]) == 500
    assert client.search({"itemsPerPage": "3", "startPage": "2"}, method="GET")["startIndex"] == 3


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"itemsPerPage": 501}, "itemsPerPage"),
        ({"itemsPerPage": -1}, "itemsPerPage"),
        ({"itemsPerPage": "many"}, "itemsPerPage"),
        ({"startPage": 0}, "startPage"),
        ({"startPage": "first"}, "startPage"),
        ({"startPage": True}, "startPage"),
    ],
)
def test_bad_paging_is_refused(client: Client, params: dict[str, Any], field: str) -> None:
    assert client.error(params)["message"].startswith(field + ":")


def test_results_are_capped_at_ten_thousand() -> None:
    with SandboxServer(SandboxConfig(seed=3, catalog_size=12_000)) as server:
        client = Client(server)
        doc = client.search({"itemsPerPage": 500, "startPage": 20})
        assert doc["totalResults"] == 10_000
        assert doc["startIndex"] == 9_500 and len(doc["features"]) == 500
        error = client.error({"itemsPerPage": 500, "startPage": 21})
        assert "10000" in error["message"] and "acquisitionDate" in error["hint"]
        # A page straddling the cap stops at it.
        straddling = client.search({"itemsPerPage": 300, "startPage": 34})
        assert straddling["startIndex"] == 9_900 and len(straddling["features"]) == 100
        # Narrowing by date gets under the cap, with the exact count.
        narrow = "[2018-01-01T00:00:00Z,2022-01-01T00:00:00Z)"
        expected = client.expected(lambda f: when(f["properties"]["acquisitionDate"]) < when("2022-01-01T00:00:00Z"))
        assert 0 < len(expected) < 10_000
        assert client.search({"acquisitionDate": narrow})["totalResults"] == len(expected)


# --------------------------------------------------------------------------------------------------
# Versions, methods, authentication, malformed filters
# --------------------------------------------------------------------------------------------------


def test_v1_v2_get_and_post_answer_the_same(client: Client) -> None:
    params = {
        "geometry": shape(TOULOUSE_AOI).wkt,
        "cloudCover": "[0,60]",
        "constellation": "SPOT,PHR,PNEO",
        "sortBy": "-cloudCover,acquisitionDate",
        "itemsPerPage": 40,
        "startPage": 2,
    }
    answers = [
        client.search(params, method=method, version=version) for method in ("GET", "POST") for version in (1, 2)
    ]
    first = answers[0]
    assert first["features"] and first["totalResults"] > 40
    for other in answers[1:]:
        assert other == first


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_search_needs_a_token(client: Client, version: int, method: str) -> None:
    url = f"{client.base}/api/v{version}/opensearch"
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic abc"}):
        answer = requests.request(method, url, headers=headers, json={} if method == "POST" else None)
        assert answer.status_code == 401
        assert set(answer.json()) == ERROR_KEYS


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cloudCover": "[30,0]"}, "cloudCover"),
        ({"cloudCover": "abc"}, "cloudCover"),
        ({"cloudCover": "[0,30,50]"}, "cloudCover"),
        ({"cloudCover": "[a,b]"}, "cloudCover"),
        ({"cloudCover": "(5)"}, "cloudCover"),
        ({"cloudCover": "[5"}, "cloudCover"),
        ({"cloudCover": "[0,nan]"}, "cloudCover"),
        ({"cloudCover": True}, "cloudCover"),
        ({"cloudCover": [0, 30]}, "cloudCover"),
        ({"incidenceAngle": "["}, "incidenceAngle"),
        ({"snowCover": "[10,5]"}, "snowCover"),
        ({"resolution": "fine"}, "resolution"),
        ({"acquisitionDate": "[2019-13-01T00:00:00Z,]"}, "acquisitionDate"),
        ({"acquisitionDate": "[yesterday,today]"}, "acquisitionDate"),
        ({"acquisitionDate": "[2020-01-01T00:00:00Z,2019-01-01T00:00:00Z]"}, "acquisitionDate"),
        ({"acquisitionDate": 2019}, "acquisitionDate"),
        ({"constellation": 3}, "constellation"),
        ({"constellation": ","}, "constellation"),
        ({"workspace": ["public", 1]}, "workspace"),
        ({"sortBy": "-altitude"}, "sortBy"),
        ({"sortBy": ","}, "sortBy"),
        ({"relation": "overlaps", "geometry": TOULOUSE_AOI}, "relation"),
        ({"bbox": "1,2,3"}, "bbox"),
        ({"bbox": "3,2,1,4"}, "bbox"),
        ({"bbox": "1,2,3,95"}, "bbox"),
        ({"bbox": "a,b,c,d"}, "bbox"),
        ({"q": 5}, "q"),
        # The tutorial's Python sample flattens the polygon's coordinates.
        (
            {
                "geometry": {
                    "coordinates": [18.19021469803709, 42.65838625971582, 18.44677413880892, 42.65077884078982],
                    "type": "Polygon",
                }
            },
            "geometry",
        ),
        ({"geometry": {"type": "MultiLineString", "coordinates": [[[0, 0], [1, 1]]]}}, "geometry"),
        ({"geometry": {"type": "Polygon"}}, "geometry"),
        ({"geometry": "POLYGON ((0 0, 1 1"}, "geometry"),
        ({"geometry": "GEOMETRYCOLLECTION (POINT (1 2))"}, "geometry"),
        ({"geometry": "POLYGON ((0 0, 1 1, 1 0, 0 1, 0 0))"}, "geometry"),  # self-intersecting
        ({"geometry": "POINT (10 95)"}, "geometry"),
        ({"geometry": "{not json"}, "geometry"),
        ({"geometry": 42}, "geometry"),
    ],
)
def test_malformed_filters_answer_400_naming_the_field(client: Client, params: dict[str, Any], field: str) -> None:
    error = client.error(params)
    assert error["message"].startswith(field + ":"), error
    assert error["internalCode"] == "INVALID_PARAMETER"
    assert error["hint"]


def test_malformed_range_message(client: Client) -> None:
    assert client.error({"cloudCover": "[30,0]"})["message"].startswith("cloudCover: invalid range '[30,0]'")
    get_error = client.raw({"cloudCover": "[30,0]"}, method="GET")
    assert get_error.status_code == 400 and get_error.json()["message"].startswith("cloudCover: invalid range")


def test_malformed_bodies(client: Client) -> None:
    url = client.base + "/api/v1/opensearch"
    for body in (b"{not json", b"[1, 2]", b'"text"'):
        answer = client.session.post(url, data=body, headers={"Content-Type": "application/json"})
        assert answer.status_code == 400
        assert set(answer.json()) == ERROR_KEYS
    empty = client.session.post(url, data=b"")
    assert empty.status_code == 200 and empty.json()["totalResults"] == len(client.catalog)


def test_unknown_parameters_are_ignored(client: Client) -> None:
    assert client.search({"count": 3, "foo": "bar"})["totalResults"] == len(client.catalog)


def test_query_and_search_agree(client: Client) -> None:
    params = {"geometry": CAVTAT_AOI, "cloudCover": "[0,25]", "sortBy": "-cloudCover"}
    assert [f["properties"]["id"] for f in client.catalog.query(**params)] == client.all_ids(params)
