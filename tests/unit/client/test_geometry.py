"""AOI parsing, validation and geodesic areas: real shapely and pyproj, no mocks."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from typing import Any

import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, box

from airflow_provider_oneatlas.client.errors import AoiError, ValidationError
from airflow_provider_oneatlas.client.geometry import (
    bbox_string,
    coverage_fraction,
    geodesic_area_km2,
    intersection_geojson,
    parse_bbox,
    to_aoi,
    to_search_geometry,
    to_shape,
)
from tests.conftest import TUTORIAL_AOI  # the pricing tutorial's AOI (Toulouse)

TUTORIAL_AREA_KM2 = 678.35

SQUARE_RING = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]]
SQUARE = {"type": "Polygon", "coordinates": [SQUARE_RING]}
SQUARE_WKT = "POLYGON ((0 0, 1 0, 1 1, 0 1, 0 0))"

MULTI = {
    "type": "MultiPolygon",
    "coordinates": [
        [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]]],
        [[[2.0, 2.0], [3.0, 2.0], [3.0, 3.0], [2.0, 3.0], [2.0, 2.0]]],
    ],
}


class GeoInterface:
    def __init__(self, geo: dict[str, Any]) -> None:
        self.__geo_interface__ = geo


def feature(geometry: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": {"name": "aoi"}, "geometry": geometry}


def collection(*features: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def rejects(value: Any, *fragments: str, field: str = "aoi", func: Any = to_aoi) -> AoiError:
    with pytest.raises(AoiError) as info:
        func(value, field=field)
    err = info.value
    assert isinstance(err, ValidationError)
    assert isinstance(err, ValueError)
    assert err.field == field
    message = str(err)
    assert message.startswith(f"{field}: ")
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert err.accepted, "the error must say what is accepted"
    assert "(accepted: " in message
    return err


# ---------------------------------------------------------------------------------------------------
# Accepted forms
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(SQUARE, id="geojson-dict"),
        pytest.param(json.dumps(SQUARE), id="geojson-string"),
        pytest.param("  " + json.dumps(SQUARE, indent=2) + "\n", id="geojson-string-padded"),
        pytest.param(json.dumps(SQUARE).encode(), id="geojson-bytes"),
        pytest.param(feature(SQUARE), id="feature"),
        pytest.param(json.dumps(feature(SQUARE)), id="feature-string"),
        pytest.param(collection(feature(SQUARE)), id="feature-collection"),
        pytest.param(json.dumps(collection(feature(SQUARE))), id="feature-collection-string"),
        pytest.param(SQUARE_WKT, id="wkt"),
        pytest.param("polygon((0 0,1 0,1 1,0 1,0 0))", id="wkt-lowercase"),
        pytest.param(Polygon(SQUARE_RING), id="shapely"),
        pytest.param(GeoInterface(SQUARE), id="geo-interface"),
        pytest.param(GeoInterface(feature(SQUARE)), id="geo-interface-feature"),
        pytest.param(
            {"type": "Polygon", "coordinates": tuple(tuple(tuple(p) for p in r) for r in [SQUARE_RING])},
            id="tuples",
        ),
        pytest.param(
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]},
            id="ints",
        ),
        pytest.param({**SQUARE, "bbox": [0, 0, 1, 1]}, id="with-bbox-member"),
        pytest.param(
            {**SQUARE, "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}},
            id="with-crs84",
        ),
    ],
)
def test_every_polygon_form_gives_the_same_polygon(value: Any) -> None:
    assert to_aoi(value) == SQUARE


@pytest.mark.parametrize(
    "value",
    [
        [0, 0, 1, 1],
        (0.0, 0.0, 1.0, 1.0),
        "0,0,1,1",
        " 0, 0 , 1, 1 ",
        "[0, 0, 1, 1]",
    ],
)
def test_bbox_forms_give_the_rectangle(value: Any) -> None:
    result = to_aoi(value)
    assert result == SQUARE
    assert shapely.equals(to_shape(value), box(0, 0, 1, 1))


@pytest.mark.parametrize(
    "value",
    [
        MULTI,
        json.dumps(MULTI),
        feature(MULTI),
        collection(feature(MULTI)),
        "MULTIPOLYGON (((0 0, 1 0, 1 1, 0 1, 0 0)), ((2 2, 3 2, 3 3, 2 3, 2 2)))",
        MultiPolygon([Polygon(MULTI["coordinates"][0][0]), Polygon(MULTI["coordinates"][1][0])]),
    ],
)
def test_every_multipolygon_form_gives_the_same_multipolygon(value: Any) -> None:
    assert to_aoi(value) == MULTI


def test_output_is_plain_closed_2d_floats() -> None:
    result = to_aoi(Polygon([(0, 0), (1, 0), (1, 1)]))  # shapely closes the ring itself
    assert result["type"] == "Polygon"
    ring = result["coordinates"][0]
    assert isinstance(result["coordinates"], list)
    assert all(isinstance(p, list) and len(p) == 2 for p in ring)
    assert all(type(v) is float for p in ring for v in p)
    assert ring[0] == ring[-1]
    json.dumps(result)  # serialisable as is


def test_orientation_is_kept() -> None:
    clockwise = [[0.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, 0.0], [0.0, 0.0]]
    assert to_aoi({"type": "Polygon", "coordinates": [clockwise]})["coordinates"][0] == clockwise
    assert to_aoi({"type": "Polygon", "coordinates": [SQUARE_RING]})["coordinates"][0] == SQUARE_RING


def test_polygon_with_hole_and_duplicate_points_is_kept_whole() -> None:
    shell = [[0.0, 0.0], [4.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 4.0], [0.0, 0.0]]
    hole = [[1.0, 1.0], [1.0, 2.0], [2.0, 2.0], [2.0, 1.0], [1.0, 1.0]]
    result = to_aoi({"type": "Polygon", "coordinates": [shell, hole]})
    assert result == {"type": "Polygon", "coordinates": [shell, hole]}


def test_tutorial_aoi_is_accepted_unchanged() -> None:
    assert to_aoi(TUTORIAL_AOI) == TUTORIAL_AOI
    assert to_aoi(json.dumps(feature(TUTORIAL_AOI))) == TUTORIAL_AOI


def test_to_shape_returns_shapely() -> None:
    geom = to_shape(SQUARE)
    assert isinstance(geom, Polygon)
    assert geom.is_valid
    assert shapely.equals(geom, box(0, 0, 1, 1))
    assert isinstance(to_shape(MULTI), MultiPolygon)


def test_custom_field_name_is_used() -> None:
    rejects(None, field="area_of_interest")
    rejects("nonsense", field="my_aoi")


# ---------------------------------------------------------------------------------------------------
# Rejections
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "fragments"),
    [
        pytest.param(None, ["None"], id="none"),
        pytest.param(42, ["int"], id="int"),
        pytest.param(True, ["bool"], id="bool"),
        pytest.param(3.5, ["float"], id="float"),
        pytest.param(object(), ["cannot read an area"], id="object"),
        pytest.param(["a", "b", "c", "d"], ["not a number"], id="list-of-strings"),
        pytest.param("", ["empty string"], id="empty-string"),
        pytest.param("   ", ["empty string"], id="blank-string"),
        pytest.param('{"type": "Polygon", ', ["not valid JSON"], id="bad-json"),
        pytest.param("[" * 100_000, ["not valid JSON"], id="deep-json"),
        pytest.param('"POLYGON ((0 0, 1 0, 1 1, 0 0))"', ["JSON string"], id="json-string-string"),
        pytest.param("POLYGON ((0 0, 1 0, 1", ["not valid WKT"], id="bad-wkt"),
        pytest.param("hello world", ["neither GeoJSON, WKT nor a bbox"], id="text"),
        pytest.param(b"\xff\xfe", ["not UTF-8"], id="bad-bytes"),
        pytest.param({"coordinates": [SQUARE_RING]}, ["without a GeoJSON 'type'"], id="no-type"),
        pytest.param({"type": "Polygonal", "coordinates": []}, ["unknown GeoJSON type 'Polygonal'"], id="unknown"),
        pytest.param(
            {"type": "polygon", "coordinates": [SQUARE_RING]}, ["case-sensitive", "'Polygon'"], id="lowercase"
        ),
        pytest.param({"type": "Polygon"}, ["no 'coordinates'"], id="no-coordinates"),
        pytest.param(collection(), ["0 features", "exactly one"], id="fc-empty"),
        pytest.param(collection(feature(SQUARE), feature(SQUARE)), ["2 features"], id="fc-two"),
        pytest.param({"type": "FeatureCollection"}, ["no 'features' list"], id="fc-no-features"),
        pytest.param(collection(SQUARE), ["feature 0", "not a GeoJSON Feature"], id="fc-of-geometry"),
        pytest.param(feature(None), ["Feature has no geometry"], id="feature-null-geometry"),
        pytest.param({"type": "Feature", "properties": {}}, ["Feature has no geometry"], id="feature-no-geometry"),
        pytest.param(feature("POLYGON EMPTY"), ["not a GeoJSON geometry"], id="feature-string-geometry"),
        pytest.param(feature(feature(SQUARE)), ["Feature's geometry is a Feature"], id="feature-in-feature"),
        pytest.param(
            {**SQUARE, "crs": {"type": "name", "properties": {"name": "EPSG:3857"}}},
            ["unsupported 'crs'"],
            id="crs-mercator",
        ),
    ],
)
def test_unparseable_inputs_are_rejected(value: Any, fragments: list[str]) -> None:
    rejects(value, *fragments)


def test_geo_interface_that_raises_is_converted() -> None:
    class Broken:
        @property
        def __geo_interface__(self) -> Any:
            raise RuntimeError("boom")

    rejects(Broken(), "__geo_interface__ failed", "boom")


@pytest.mark.parametrize(
    ("value", "fragments"),
    [
        pytest.param({"type": "Point", "coordinates": [1.0, 2.0]}, ["Point has no area"], id="point"),
        pytest.param({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}, ["LineString has no area"], id="line"),
        pytest.param({"type": "MultiPoint", "coordinates": [[0, 0]]}, ["MultiPoint has no area"], id="multipoint"),
        pytest.param(
            {"type": "GeometryCollection", "geometries": [SQUARE]}, ["GeometryCollection is not accepted"], id="gc"
        ),
        pytest.param("POINT (1 2)", ["Point has no area"], id="wkt-point"),
        pytest.param(Point(1, 2), ["Point has no area"], id="shapely-point"),
        pytest.param(feature({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}), ["LineString"], id="feature"),
    ],
)
def test_non_areal_geometries_are_rejected(value: Any, fragments: list[str]) -> None:
    err = rejects(value, *fragments)
    assert "Polygon" in str(err)


@pytest.mark.parametrize(
    ("value", "fragments"),
    [
        pytest.param({"type": "Polygon", "coordinates": []}, ["empty geometry"], id="polygon-empty"),
        pytest.param({"type": "MultiPolygon", "coordinates": []}, ["empty geometry"], id="multipolygon-empty"),
        pytest.param(
            {"type": "MultiPolygon", "coordinates": [[SQUARE_RING], []]}, ["empty geometry", "polygon 1"], id="part"
        ),
        pytest.param("POLYGON EMPTY", ["empty geometry"], id="wkt-empty"),
        pytest.param(Polygon(), ["empty geometry"], id="shapely-empty"),
        pytest.param(
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [2, 0], [0, 0]]]}, ["zero area"], id="collinear"
        ),
        pytest.param(
            {"type": "Polygon", "coordinates": [[[1, 1], [1, 1], [1, 1], [1, 1]]]}, ["zero area"], id="one-point"
        ),
        pytest.param([0, 0, 0, 1], ["zero area"], id="bbox-flat"),
    ],
)
def test_empty_and_zero_area_geometries_are_rejected(value: Any, fragments: list[str]) -> None:
    rejects(value, *fragments)


def test_short_ring_is_rejected_with_its_place() -> None:
    rejects({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}, "ring 0 has 3 position(s)", "at least 4")
    rejects({"type": "Polygon", "coordinates": [[]]}, "ring 0 has 0 position(s)")
    multi = {"type": "MultiPolygon", "coordinates": [[SQUARE_RING], [SQUARE_RING, [[0, 0], [1, 1], [0, 0]]]]}
    rejects(multi, "ring 1 of polygon 1 has 3 position(s)")


def test_unclosed_ring_is_rejected_with_both_ends() -> None:
    multi = {
        "type": "MultiPolygon",
        "coordinates": [
            [SQUARE_RING],
            [[[1.0, 2.0], [3.0, 2.0], [3.0, 3.0], [1.5, 2.0]]],
        ],
    }
    err = rejects(multi)
    assert str(err).startswith(
        "aoi: ring 0 of polygon 1 is not closed: first point [1.0, 2.0] != last point [1.5, 2.0]"
    )
    rejects(
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]},
        "ring 0 is not closed: first point [0.0, 0.0] != last point [0.0, 1.0]",
    )


@pytest.mark.parametrize(
    ("position", "fragments"),
    [
        pytest.param(["1", 0], ["lon of position 2 of ring 0", "not a number"], id="string"),
        pytest.param([1, None], ["lat of position 2 of ring 0", "not a number"], id="none"),
        pytest.param([True, 0], ["not a number"], id="bool"),
        pytest.param([1, float("nan")], ["lat of position 2 of ring 0", "nan", "not a finite number"], id="nan"),
        pytest.param([float("inf"), 1], ["lon of position 2", "not a finite number"], id="inf"),
        pytest.param([1, -float("inf")], ["not a finite number"], id="minus-inf"),
        pytest.param([1, 10**400], ["not a finite number"], id="huge-int"),
        pytest.param([1], ["position 2 of ring 0 has 1 value"], id="one-value"),
        pytest.param([], ["position 2 of ring 0 has 0 value"], id="no-value"),
        pytest.param(5, ["position 2 of ring 0 is int 5, not a [lon, lat] pair"], id="scalar"),
        pytest.param({"lon": 1, "lat": 1}, ["not a [lon, lat] pair"], id="dict"),
    ],
)
def test_bad_positions_are_rejected_with_their_place(position: Any, fragments: list[str]) -> None:
    ring = [[0, 0], [1, 0], position, [0, 1], [0, 0]]
    rejects({"type": "Polygon", "coordinates": [ring]}, *fragments)


def test_3d_positions_are_rejected_not_dropped() -> None:
    ring3d = [[0, 0, 10], [1, 0, 10], [1, 1, 10], [0, 0, 10]]
    for value in (
        {"type": "Polygon", "coordinates": [ring3d]},
        "POLYGON Z ((0 0 10, 1 0 10, 1 1 10, 0 0 10))",
        Polygon(ring3d),
    ):
        rejects(value, "position 0 of ring 0 has 3 values", "only 2D [lon, lat]")
    rejects({"type": "Point", "coordinates": [1, 2, 3]}, "only 2D [lon, lat]", func=to_search_geometry)


@pytest.mark.parametrize(
    ("ring", "fragments"),
    [
        pytest.param(
            [[0, 0], [181, 0], [181, 1], [0, 0]], ["longitude 181.0 of position 1 of ring 0", "[-180, 180]"], id="lon"
        ),
        pytest.param(
            [[0, 0], [-180.5, 0], [0, 1], [0, 0]], ["longitude -180.5 of position 1 of ring 0"], id="lon-negative"
        ),
        pytest.param(
            [[100, 0], [101, 0], [101, -90.01], [100, 0]],
            ["latitude -90.01 of position 2 of ring 0", "[-90, 90]"],
            id="lat",
        ),
        pytest.param(
            [[500000, 4800000], [510000, 4800000], [510000, 4810000], [500000, 4800000]],
            ["longitude 500000.0", "WGS84"],
            id="projected",
        ),
    ],
)
def test_out_of_range_coordinates_are_rejected(ring: list[Any], fragments: list[str]) -> None:
    err = rejects({"type": "Polygon", "coordinates": [ring]}, *fragments)
    assert "[lat, lon]" not in str(err)


def test_swapped_lat_lon_is_detected() -> None:
    sydney = [[-33.9, 151.1], [-33.9, 151.3], [-33.7, 151.3], [-33.7, 151.1], [-33.9, 151.1]]
    rejects(
        {"type": "Polygon", "coordinates": [sydney]},
        "latitude 151.1 of position 0 of ring 0 [-33.9, 151.1] is outside [-90, 90]",
        "looks like [lat, lon] order; GeoJSON wants [lon, lat]",
    )
    # swapped, the same ring is fine
    assert to_aoi({"type": "Polygon", "coordinates": [[[p[1], p[0]] for p in sydney]]})


@pytest.mark.parametrize(
    ("coordinates", "kind", "fragments"),
    [
        pytest.param(
            [18.19, 42.65, 18.44, 42.65, 18.44, 42.5, 18.19, 42.5, 18.19, 42.65],
            "Polygon",
            ["flat list of 10 numbers", "list of rings", "[lon, lat] pairs"],
            id="polygon-flat",
        ),
        pytest.param(
            [[18.19, 42.65, 18.44, 42.65, 18.44, 42.5, 18.19, 42.65]],
            "Polygon",
            ["ring 0 is a flat list of 8 numbers", "list of rings"],
            id="ring-flat",
        ),
        pytest.param(
            [18.19, 42.65, 18.44, 42.65, 18.44, 42.5, 18.19, 42.65],
            "MultiPolygon",
            ["flat list of 8 numbers", "list of rings"],
            id="multipolygon-flat",
        ),
        pytest.param(SQUARE_RING, "Polygon", ["single ring", "one more [ ]"], id="missing-level"),
        pytest.param([[SQUARE_RING]], "Polygon", ["nesting of a MultiPolygon"], id="extra-level"),
        pytest.param([SQUARE_RING], "MultiPolygon", ["nesting of a single Polygon"], id="multi-missing-level"),
        pytest.param("0 0, 1 0, 1 1, 0 0", "Polygon", ["not a list of rings"], id="string-coordinates"),
        pytest.param([5, [1, 2]], "Polygon", ["ring 0 is int 5"], id="ring-not-list"),
    ],
)
def test_wrong_nesting_is_explained(coordinates: Any, kind: str, fragments: list[str]) -> None:
    rejects({"type": kind, "coordinates": coordinates}, *fragments)


def test_self_intersection_is_explained() -> None:
    bowtie = [[1, 1], [2, 3], [2, 1], [1, 3], [1, 1]]
    rejects({"type": "Polygon", "coordinates": [bowtie]}, "the polygon is not valid", "Self-intersection[1.5 2]")
    rejects("POLYGON ((1 1, 2 3, 2 1, 1 3, 1 1))", "Self-intersection[1.5 2]")
    rejects({"type": "MultiPolygon", "coordinates": [[SQUARE_RING], [bowtie]]}, "polygon 1 is not valid")


def test_hole_outside_shell_is_explained() -> None:
    hole = [[5, 5], [6, 5], [6, 6], [5, 5]]
    rejects({"type": "Polygon", "coordinates": [SQUARE_RING, hole]}, "Hole lies outside shell")


def test_overlapping_multipolygon_parts_are_rejected() -> None:
    shifted = [[0.5, 0.5], [1.5, 0.5], [1.5, 1.5], [0.5, 1.5], [0.5, 0.5]]
    rejects(
        {"type": "MultiPolygon", "coordinates": [[SQUARE_RING], [shifted]]},
        "MultiPolygon is not valid",
        "Self-intersection",
    )


# ---------------------------------------------------------------------------------------------------
# Search geometries
# ---------------------------------------------------------------------------------------------------


def test_search_geometry_accepts_points_and_lines() -> None:
    assert to_search_geometry({"type": "Point", "coordinates": [1, 2]}) == {
        "type": "Point",
        "coordinates": [1.0, 2.0],
    }
    assert to_search_geometry("LINESTRING (0 0, 1 1)") == {
        "type": "LineString",
        "coordinates": [[0.0, 0.0], [1.0, 1.0]],
    }
    assert to_search_geometry(feature({"type": "MultiPoint", "coordinates": [[0, 0], [1, 1]]})) == {
        "type": "MultiPoint",
        "coordinates": [[0.0, 0.0], [1.0, 1.0]],
    }
    assert to_search_geometry(Point(1.5, 2.5)) == {"type": "Point", "coordinates": [1.5, 2.5]}
    assert to_search_geometry(SQUARE) == SQUARE
    assert to_search_geometry("0,0,1,1") == SQUARE
    assert to_search_geometry(MULTI) == MULTI


@pytest.mark.parametrize(
    ("value", "fragments"),
    [
        pytest.param({"type": "Point", "coordinates": []}, ["empty geometry"], id="point-empty"),
        pytest.param({"type": "Point", "coordinates": [200, 0]}, ["longitude 200.0 of the point"], id="point-range"),
        pytest.param({"type": "Point", "coordinates": [float("nan"), 0]}, ["not a finite number"], id="point-nan"),
        pytest.param({"type": "Point", "coordinates": [1]}, ["has 1 value"], id="point-1d"),
        pytest.param({"type": "LineString", "coordinates": [[0, 0]]}, ["at least 2"], id="line-short"),
        pytest.param({"type": "LineString", "coordinates": [[0, 0], [0, 0]]}, ["zero length"], id="line-zero"),
        pytest.param({"type": "LineString", "coordinates": [0, 0, 1, 1]}, ["flat list of 4 numbers"], id="line-flat"),
        pytest.param({"type": "MultiPoint", "coordinates": []}, ["empty geometry"], id="multipoint-empty"),
        pytest.param(
            {"type": "MultiLineString", "coordinates": [[[0, 0], [1, 1]]]}, ["MultiLineString"], id="multiline"
        ),
        pytest.param("GEOMETRYCOLLECTION (POINT (1 2))", ["GeometryCollection is not accepted"], id="gc"),
        pytest.param({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]}, ["ring 0 has 3"], id="poly"),
    ],
)
def test_search_geometry_rejections(value: Any, fragments: list[str]) -> None:
    rejects(value, *fragments, field="geometry", func=to_search_geometry)


# ---------------------------------------------------------------------------------------------------
# Bounding boxes
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        [1.5, 43.4, 1.6, 43.7],
        (1.5, 43.4, 1.6, 43.7),
        "1.5,43.4,1.6,43.7",
        " 1.5 , 43.4 , 1.6 , 43.7 ",
        "[1.5, 43.4, 1.6, 43.7]",
        box(1.5, 43.4, 1.6, 43.7),
        {"type": "Polygon", "coordinates": [[[1.5, 43.4], [1.6, 43.4], [1.6, 43.7], [1.5, 43.4]]]},
    ],
)
def test_parse_bbox_forms(value: Any) -> None:
    assert parse_bbox(value) == (1.5, 43.4, 1.6, 43.7)
    assert bbox_string(value) == "1.5,43.4,1.6,43.7"


def test_bbox_string_of_integers_and_bounds() -> None:
    assert bbox_string([0, -10, 5, 10]) == "0.0,-10.0,5.0,10.0"
    assert bbox_string(TUTORIAL_AOI) == ("1.239288081223572,43.470228154858,1.568833709452247,43.71466198202646")
    assert parse_bbox([-180, -90, 180, 90]) == (-180.0, -90.0, 180.0, 90.0)
    assert parse_bbox([1, 2, 1, 2]) == (1.0, 2.0, 1.0, 2.0)  # a point-sized bbox is a valid search filter


@pytest.mark.parametrize(
    ("value", "fragments"),
    [
        pytest.param([3, 0, 1, 1], ["minlon 3.0 > maxlon 1.0", "antimeridian"], id="lon-reversed"),
        pytest.param("0,3,1,1", ["minlat 3.0 > maxlat 1.0"], id="lat-reversed"),
        pytest.param([0, 0, 1], ["4 numbers, got 3"], id="three"),
        pytest.param([0, 0, 1, 1, 2], ["4 numbers, got 5"], id="five"),
        pytest.param("0,0,1", ["3 comma-separated value(s), 4 are needed"], id="string-three"),
        pytest.param("0,0,1,1,2", ["5 comma-separated"], id="string-five"),
        pytest.param("0,0,x,1", ["maxlon 'x' is not a number"], id="string-word"),
        pytest.param("0,nan,1,1", ["minlat is nan, not a finite number"], id="string-nan"),
        pytest.param([0, 0, float("inf"), 1], ["not a finite number"], id="inf"),
        pytest.param([0, "0", 1, 1], ["minlat is str '0', not a number"], id="str-item"),
        pytest.param([0, 0, 181, 1], ["maxlon 181.0 is outside [-180, 180]"], id="lon-range"),
        pytest.param([100, -91, 101, 1], ["minlat -91.0 is outside [-90, 90]"], id="lat-range"),
        pytest.param([-33.9, 151.1, -33.7, 151.3], ["minlat 151.1", "looks like [lat, lon] order"], id="swapped"),
        pytest.param([0, -91, 1, 1], ["minlat -91.0", "looks like [lat, lon] order"], id="swapped-near-pole"),
        pytest.param(None, ["NoneType"], id="none"),
        pytest.param(7, ["int 7"], id="int"),
        pytest.param("[0, 0", ["not valid JSON"], id="bad-json"),
        pytest.param("bbox", ["neither GeoJSON, WKT nor a bbox"], id="word"),
    ],
)
def test_parse_bbox_rejections(value: Any, fragments: list[str]) -> None:
    rejects(value, *fragments, field="bbox", func=parse_bbox)
    rejects(value, *fragments, field="bbox", func=bbox_string)


def test_bbox_errors_in_to_aoi_use_the_aoi_field() -> None:
    rejects([3, 0, 1, 1], "minlon 3.0 > maxlon 1.0")
    rejects("0,0,1", "4 are needed")
    rejects([[0, 0], [1, 1]], "bare list of lists")


# ---------------------------------------------------------------------------------------------------
# Geodesic areas
# ---------------------------------------------------------------------------------------------------


def test_area_of_a_degree_square_at_the_equator() -> None:
    assert geodesic_area_km2(SQUARE) == pytest.approx(12_308, rel=0.005)


def test_area_of_the_tutorial_aoi() -> None:
    area = geodesic_area_km2(TUTORIAL_AOI)
    assert 500 < area < 800
    assert area == pytest.approx(TUTORIAL_AREA_KM2, rel=0.01)


def test_area_ignores_orientation_and_accepts_shapely() -> None:
    clockwise = {"type": "Polygon", "coordinates": [list(reversed(SQUARE_RING))]}
    assert geodesic_area_km2(clockwise) == pytest.approx(geodesic_area_km2(SQUARE))
    assert geodesic_area_km2(box(0, 0, 1, 1)) == pytest.approx(geodesic_area_km2(SQUARE))
    assert geodesic_area_km2(feature(SQUARE)) == pytest.approx(geodesic_area_km2(SQUARE))


def test_area_subtracts_holes_and_sums_parts() -> None:
    outer = box(0, 0, 2, 2)
    holed = Polygon(outer.exterior.coords, [box(0.5, 0.5, 1.5, 1.5).exterior.coords])
    # the same hole, both orientations of the hole ring: the hole is subtracted either way
    holed_reversed = Polygon(outer.exterior.coords, [list(box(0.5, 0.5, 1.5, 1.5).exterior.coords)[::-1]])
    expected = geodesic_area_km2(outer) - geodesic_area_km2(box(0.5, 0.5, 1.5, 1.5))
    assert geodesic_area_km2(holed) == pytest.approx(expected)
    assert geodesic_area_km2(holed_reversed) == pytest.approx(expected)
    # parts of mixed orientation do not cancel
    mixed = {
        "type": "MultiPolygon",
        "coordinates": [[SQUARE_RING], [list(reversed(MULTI["coordinates"][1][0]))]],
    }
    assert geodesic_area_km2(mixed) == pytest.approx(geodesic_area_km2(SQUARE) + geodesic_area_km2(box(2, 2, 3, 3)))


def test_area_shrinks_towards_the_poles() -> None:
    assert geodesic_area_km2(box(0, 60, 1, 61)) < geodesic_area_km2(box(0, 0, 1, 1)) / 1.9


def test_area_of_points_and_lines_is_zero() -> None:
    assert geodesic_area_km2({"type": "Point", "coordinates": [1, 2]}) == 0.0
    assert geodesic_area_km2(shapely.LineString([(0, 0), (1, 1)])) == 0.0


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_area_rejects_garbage_with_aoi_error() -> None:
    for value in (None, "nonsense", {"type": "Polygon", "coordinates": "x"}):
        with pytest.raises(AoiError):
            geodesic_area_km2(value)
    with pytest.raises(AoiError, match="NaN or infinite"):
        geodesic_area_km2(Polygon([(0, 0), (1, 0), (1, math.nan), (0, 0)]))


def test_geod_is_cached() -> None:
    from airflow_provider_oneatlas.client import geometry

    assert geometry._geod() is geometry._geod()


# ---------------------------------------------------------------------------------------------------
# Coverage and intersection
# ---------------------------------------------------------------------------------------------------


def test_coverage_of_aoi_inside_footprint_is_one() -> None:
    footprint = {"type": "Polygon", "coordinates": [[[1.0, 43.0], [2.0, 43.0], [2.0, 44.0], [1.0, 44.0], [1.0, 43.0]]]}
    assert coverage_fraction(TUTORIAL_AOI, footprint) == 1.0
    assert coverage_fraction(TUTORIAL_AOI, TUTORIAL_AOI) == 1.0


def test_coverage_of_disjoint_footprint_is_zero() -> None:
    assert coverage_fraction(SQUARE, box(5, 5, 6, 6)) == 0.0
    assert coverage_fraction(SQUARE, box(1, 0, 2, 1)) == 0.0  # a shared edge covers nothing


def test_coverage_of_half_overlap() -> None:
    # not exactly 0.5: the parallels at lat 0 and 1 are drawn as geodesics, which bulge differently
    footprint = {"type": "Polygon", "coordinates": [[[0.5, -1], [2, -1], [2, 2], [0.5, 2], [0.5, -1]]]}
    assert coverage_fraction(SQUARE, footprint) == pytest.approx(0.5, abs=1e-4)
    assert coverage_fraction(SQUARE, feature(footprint)) == pytest.approx(0.5, abs=1e-4)


def test_coverage_is_geodesic() -> None:
    # the southern half of a tall box is larger on the ellipsoid than the northern half
    aoi = box(0, 0, 1, 80)
    south = coverage_fraction(aoi, box(0, 0, 1, 40))
    assert 0.5 < south < 1.0
    assert south + coverage_fraction(aoi, box(0, 40, 1, 80)) == pytest.approx(1.0)


def test_coverage_repairs_an_invalid_footprint() -> None:
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    fraction = coverage_fraction(SQUARE, bowtie)
    assert 0.4 < fraction < 0.6


def test_coverage_accepts_3d_footprint() -> None:
    footprint = {"type": "Polygon", "coordinates": [[[0.5, -1, 0], [2, -1, 0], [2, 2, 0], [0.5, 2, 0], [0.5, -1, 0]]]}
    assert coverage_fraction(SQUARE, footprint) == pytest.approx(0.5, abs=1e-4)


def test_coverage_rejects_a_bad_aoi_and_a_bad_footprint() -> None:
    with pytest.raises(AoiError) as info:
        coverage_fraction("nonsense", SQUARE)
    assert info.value.field == "aoi"
    with pytest.raises(AoiError) as info:
        coverage_fraction(SQUARE, {"type": "Nope"})
    assert info.value.field == "footprint"


def test_intersection_none_when_disjoint_or_touching() -> None:
    assert intersection_geojson(SQUARE, box(5, 5, 6, 6)) is None
    assert intersection_geojson(SQUARE, box(1, 0, 2, 1)) is None
    assert intersection_geojson(SQUARE, box(1, 1, 2, 2)) is None


def test_intersection_clips_the_aoi() -> None:
    result = intersection_geojson(SQUARE, box(0.5, -1, 2, 2))
    assert result is not None
    assert result["type"] == "Polygon"
    assert shapely.equals(to_shape(result), box(0.5, 0, 1, 1))
    json.dumps(result)
    assert all(type(v) is float for p in result["coordinates"][0] for v in p)


def test_intersection_of_aoi_inside_footprint_is_the_aoi() -> None:
    result = intersection_geojson(TUTORIAL_AOI, box(1, 43, 2, 44))
    assert result is not None
    assert geodesic_area_km2(result) == pytest.approx(TUTORIAL_AREA_KM2, rel=0.01)


def test_intersection_can_be_a_multipolygon() -> None:
    u_shape = Polygon([(0, 0), (3, 0), (3, 3), (2, 3), (2, 1), (1, 1), (1, 3), (0, 3), (0, 0)])
    result = intersection_geojson(box(0, 2, 3, 3), u_shape)
    assert result is not None
    assert result["type"] == "MultiPolygon"
    assert len(result["coordinates"]) == 2
    assert geodesic_area_km2(result) == pytest.approx(
        geodesic_area_km2(box(0, 2, 1, 3)) + geodesic_area_km2(box(2, 2, 3, 3)), rel=1e-9
    )


# ---------------------------------------------------------------------------------------------------
# Import hygiene
# ---------------------------------------------------------------------------------------------------


def test_module_does_not_import_airflow() -> None:
    code = (
        "import sys\n"
        "import airflow_provider_oneatlas.client.geometry\n"
        "bad = [m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
