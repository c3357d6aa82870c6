"""The OpenSearch filter grammar (``airflow_provider_oneatlas.sandbox.filters``), over real HTTP.

Every expectation is computed independently of the catalog's own filter code: by brute force over
``catalog.all()`` with plain Python and shapely predicates.
"""

from __future__ import annotations

import itertools
import json
import random
from datetime import timedelta
from typing import Any

import pytest
import shapely
from shapely.geometry import box, mapping, shape

from airflow_provider_oneatlas.sandbox.catalog import PUBLIC_WORKSPACE_ID, Catalog, FilterError
from airflow_provider_oneatlas.sandbox.clock import Clock, parse_instant
from airflow_provider_oneatlas.sandbox.config import SandboxConfig
from airflow_provider_oneatlas.sandbox.filters import parse_datetime, parse_range
from airflow_provider_oneatlas.sandbox.samples import TUTORIAL_PRICE_ITEM_ID
from tests.conftest import TUTORIAL_AOI as TOULOUSE_AOI
from tests.conftest import TUTORIAL_SEARCH_AOI as CAVTAT_AOI
from tests.sandbox.conftest import Api
from tests.sandbox.http import DAY, START, SearchClient, utc, when, z


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


WITHIN_AREA = shapely.box(0.6, 43.0, 2.2, 44.2)


INSIDE_POINT = shapely.Point(1.40, 43.60)


def sorted_ids(client: SearchClient, keys: list[tuple[str, bool]]) -> list[str]:
    features = list(client.catalog.all())
    features.sort(key=lambda f: f["properties"]["id"])
    for name, descending in reversed(keys):
        convert = when if name.endswith("Date") else (lambda v: v)
        features.sort(key=lambda f: convert(f["properties"][name]), reverse=descending)
    return [f["properties"]["id"] for f in features]


def test_query_raises_filter_errors_naming_the_parameter() -> None:
    catalog = Catalog(SandboxConfig(catalog_size=10))
    with pytest.raises(FilterError) as caught:
        catalog.query(cloudCover="[30,0]")
    assert str(caught.value).startswith("cloudCover: invalid range '[30,0]'")
    assert caught.value.parameter == "cloudCover"


@pytest.mark.parametrize(("name", "value", "bounds"), NUMBER_CASES)
def test_number_ranges(client: SearchClient, name: str, value: str, bounds: tuple[Any, ...]) -> None:
    expected = client.expected(lambda f: in_range(f["properties"].get(name), *bounds))
    assert set(client.all_ids({name: value})) == expected
    assert expected  # every case selects something...
    assert len(expected) < len(client.catalog) or value in ("[0,",)  # ...and most leave something out


def test_a_number_range_may_be_a_json_number(client: SearchClient) -> None:
    assert client.all_ids({"cloudCover": 61.4}) == ["e459d653-468f-471b-8d6e-90b13b14c655"]


@pytest.mark.parametrize(("value", "bounds"), DATE_CASES)
def test_acquisition_date_ranges(client: SearchClient, value: str, bounds: tuple[Any, ...]) -> None:
    low, high, low_inclusive, high_inclusive = bounds
    low_dt = when(low) if low else None
    high_dt = when(high) if high else None
    expected = client.expected(
        lambda f: in_range(when(f["properties"]["acquisitionDate"]), low_dt, high_dt, low_inclusive, high_inclusive)
    )
    assert expected
    assert set(client.all_ids({"acquisitionDate": value})) == expected


def test_exclusive_bounds_exclude_the_bound_itself(client: SearchClient) -> None:
    tutorial_item = "e459d653-468f-471b-8d6e-90b13b14c655"  # 2018-08-27T16:29:21.124Z, cloudCover 61.4
    assert tutorial_item in client.all_ids({"acquisitionDate": "[2018-08-27T16:29:21.124Z,2018-08-28T00:00:00Z]"})
    assert tutorial_item not in client.all_ids({"acquisitionDate": "(2018-08-27T16:29:21.124Z,2018-08-28T00:00:00Z]"})
    assert tutorial_item not in client.all_ids({"acquisitionDate": "[2018-08-01T00:00:00Z,2018-08-27T16:29:21.124Z)"})
    assert tutorial_item not in client.all_ids({"cloudCover": "[0,61.4)"})
    assert tutorial_item in client.all_ids({"cloudCover": "[0,61.4]"})


def test_publication_date_range(client: SearchClient) -> None:
    expected = client.expected(lambda f: when(f["properties"]["publicationDate"]) < when("2020-01-01T00:00:00Z"))
    assert set(client.all_ids({"publicationDate": ",2020-01-01T00:00:00Z)"})) == expected


def test_filters_combine(client: SearchClient) -> None:
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
def test_name_filters(client: SearchClient, name: str, value: Any, wanted: set[str]) -> None:
    expected = client.expected(lambda f: f["properties"][name] in wanted)
    assert expected
    assert set(client.all_ids({name: value})) == expected


def test_repeated_query_parameters_are_alternatives(client: SearchClient) -> None:
    expected = client.expected(lambda f: f["properties"]["constellation"] in ("SPOT", "PNEO"))
    answer = client.session.get(
        client.base + "/api/v1/opensearch",
        params=[("constellation", "SPOT"), ("constellation", "PNEO"), ("itemsPerPage", "500")],
    )
    assert answer.status_code == 200
    assert answer.json()["totalResults"] == len(expected)


def test_workspace_public_by_name_and_id(client: SearchClient) -> None:
    everything = set(client.all_ids({}))
    assert set(client.all_ids({"workspace": "public"})) == everything
    assert set(client.all_ids({"workspace": PUBLIC_WORKSPACE_ID})) == everything
    assert client.search({"workspace": "private"})["totalResults"] == 0
    assert client.search({"workspace": "someone-else"})["totalResults"] == 0


def test_q_searches_titles_and_ids(client: SearchClient) -> None:
    expected = client.expected(lambda f: "spot7_2019" in f["properties"]["title"].lower())
    assert expected
    assert set(client.all_ids({"q": "SPOT7_2019"})) == expected
    assert client.all_ids({"q": "e459d653"}) == ["e459d653-468f-471b-8d6e-90b13b14c655"]
    assert client.all_ids({"q": "DS_SPOT7_201808270411022"}) == ["df89db9b-e35a-46ee-aad5-f3e1f18bf0ae"]


def test_ids_filter(client: SearchClient) -> None:
    wanted = [TUTORIAL_PRICE_ITEM_ID, "1f5a3bda-8e35-4704-82ca-27dbfae58fc4"]
    assert set(client.all_ids({"ids": ",".join(wanted)})) == set(wanted)
    assert set(client.all_ids({"id": wanted})) == set(wanted)
    assert client.all_ids({"id": "no-such-id"}) == []


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
def test_relations(client: SearchClient, relation: str | None, geometry: Any, predicate: Any) -> None:
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


def test_geometry_in_get_as_geojson_text(client: SearchClient) -> None:
    expected = set(client.all_ids({"geometry": CAVTAT_AOI}))
    assert set(client.all_ids({"geometry": json.dumps(CAVTAT_AOI)}, method="GET")) == expected
    assert len(expected) > 100  # the demo area is busy


def test_bbox(client: SearchClient) -> None:
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
def test_sort_orders_are_total_and_deterministic(client: SearchClient, sort_by: str | None, keys: list[Any]) -> None:
    # The reverse=True sorts above keep ties in id order: Python's sort is stable, as the tie-break is.
    params = {} if sort_by is None else {"sortBy": sort_by}
    assert client.all_ids(params) == sorted_ids(client, keys)


def test_sort_keys_in_a_json_list(client: SearchClient) -> None:
    assert client.all_ids({"sortBy": ["cloudCover", "-acquisitionDate"]}) == sorted_ids(
        client, [("cloudCover", False), ("acquisitionDate", True)]
    )


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
def test_malformed_filters_answer_400_naming_the_field(
    client: SearchClient, params: dict[str, Any], field: str
) -> None:
    error = client.error(params)
    assert error["message"].startswith(field + ":"), error
    assert error["internalCode"] == "INVALID_PARAMETER"
    assert error["hint"]


def test_malformed_range_message(client: SearchClient) -> None:
    assert client.error({"cloudCover": "[30,0]"})["message"].startswith("cloudCover: invalid range '[30,0]'")
    get_error = client.raw({"cloudCover": "[30,0]"}, method="GET")
    assert get_error.status_code == 400 and get_error.json()["message"].startswith("cloudCover: invalid range")


def test_contiguous_publication_windows_never_repeat_nor_miss_an_image() -> None:
    """Property: any cut of time into half-open windows returns each published image exactly once."""
    clock = Clock(parse_instant("t", START) + 40 * DAY, speed=0)
    catalog = Catalog(
        SandboxConfig(catalog_size=400, catalog_start="2024-03-01", catalog_end="2024-06-30", seed=9), clock
    )
    low, high = utc(START) - timedelta(days=40), utc(START) + timedelta(days=40)
    truth = {f["properties"]["id"] for f in catalog.all() if low <= utc(f["properties"]["publicationDate"]) < high}
    assert len(truth) > 150
    # Windows whose bounds fall exactly on publication instants are the edge that matters.
    instants = sorted(utc(f["properties"]["publicationDate"]) for f in catalog.all() if f["properties"]["id"] in truth)
    rng = random.Random(1)
    for trial in range(40):
        cuts = {low, high}
        for _ in range(rng.randint(1, 60)):
            cuts.add(rng.choice(instants) if rng.random() < 0.5 else low + (high - low) * rng.random())
        edges = sorted(cuts)
        bracket = rng.choice([("[", "["), ("[", ")")])  # the two spellings of a half-open window
        found: list[str] = []
        for start, end in itertools.pairwise(edges):
            window = f"{bracket[0]}{z(start)},{z(end)}{bracket[1]}"
            found += [f["properties"]["id"] for f in catalog.query(publicationDate=window)]
        assert len(found) == len(set(found)), f"trial {trial}: an image in two windows"
        assert set(found) == truth, f"trial {trial}: missed {truth - set(found)}"


def test_a_bad_publication_date_range_names_the_field(live: Api) -> None:
    answer = live.post("/api/v1/opensearch", json={"publicationDate": "[2024-05-02T00:00:00Z,2024-05-01T00:00:00Z["})
    assert answer.status_code == 400
    assert answer.json()["message"].startswith("publicationDate: invalid range")
    assert "[a,b[" in answer.json()["hint"]


@pytest.mark.parametrize(
    ("text", "low_inclusive", "high_inclusive"),
    [
        ("[2024-05-01T00:00:00Z,2024-05-02T00:00:00Z]", True, True),
        ("[2024-05-01T00:00:00Z,2024-05-02T00:00:00Z[", True, False),
        ("[2024-05-01T00:00:00Z,2024-05-02T00:00:00Z)", True, False),
        ("]2024-05-01T00:00:00Z,2024-05-02T00:00:00Z]", False, True),
        ("(2024-05-01T00:00:00Z,2024-05-02T00:00:00Z]", False, True),
        ("]2024-05-01T00:00:00Z,2024-05-02T00:00:00Z[", False, False),
    ],
)
def test_publication_date_brackets(text: str, low_inclusive: bool, high_inclusive: bool) -> None:
    """``[``/``]`` include a bound; ``(``/``)`` and brackets turned outwards exclude it."""
    parsed = parse_range("publicationDate", text)
    may_1, may_2 = parse_datetime("2024-05-01T00:00:00Z"), parse_datetime("2024-05-02T00:00:00Z")
    assert (parsed.low, parsed.high) == (may_1, may_2)
    assert (parsed.low_inclusive, parsed.high_inclusive) == (low_inclusive, high_inclusive)
    assert parsed.contains(may_1) is low_inclusive and parsed.contains(may_2) is high_inclusive
    assert parsed.contains(may_1 + 1) and not parsed.contains(may_2 + 1)
    open_end = parse_range("publicationDate", "[2024-05-01T00:00:00Z,")
    assert open_end.high is None and open_end.contains(may_2 * 2)
