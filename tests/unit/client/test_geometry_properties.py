"""Property-based tests of the AOI parser: it returns a valid polygon or raises AoiError, nothing else."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Polygon, box, mapping, shape

from airflow_provider_oneatlas.client.errors import AoiError
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

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

GEOJSON_TYPES = [
    "Polygon",
    "MultiPolygon",
    "Point",
    "LineString",
    "MultiPoint",
    "MultiLineString",
    "GeometryCollection",
    "Feature",
    "FeatureCollection",
    "polygon",
    "",
]

any_float = st.floats(allow_nan=True, allow_infinity=True)
# mostly plausible coordinates, sometimes out of range or not finite
coordinate = st.one_of(
    st.floats(min_value=-180, max_value=180),
    st.floats(min_value=-90, max_value=90),
    st.integers(min_value=-200, max_value=200),
    any_float,
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), any_float, st.text(max_size=20))
json_like = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=30,
)
nested_floats = st.recursive(coordinate, lambda children: st.lists(children, max_size=6), max_leaves=40)
position = st.one_of(
    st.lists(coordinate, min_size=2, max_size=2),
    st.lists(coordinate, min_size=0, max_size=4),
    st.tuples(coordinate, coordinate),
)


@st.composite
def rings(draw: st.DrawFn) -> list[Any]:
    points: list[Any] = draw(st.lists(position, min_size=0, max_size=7))
    closed: bool = draw(st.booleans())
    if points and closed:
        points.append(points[0])  # often closed
    return points


@st.composite
def geojson_like(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(GEOJSON_TYPES))
    coords = draw(
        st.one_of(
            st.lists(rings(), max_size=3),  # polygon-shaped
            st.lists(st.lists(rings(), max_size=2), max_size=3),  # multipolygon-shaped
            nested_floats,
            json_like,
        )
    )
    geo: dict[str, Any] = {"type": kind, "coordinates": coords}
    wrap = draw(st.sampled_from(["none", "feature", "collection", "json"]))
    if wrap == "feature":
        return {"type": "Feature", "properties": {}, "geometry": geo}
    if wrap == "collection":
        return {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": geo}]}
    if wrap == "json":
        return json.dumps(geo)
    return geo


@st.composite
def wkt_like(draw: st.DrawFn) -> str:
    keyword = draw(st.sampled_from(["POLYGON", "MULTIPOLYGON", "POINT", "LINESTRING", "POLYGON Z", "polygon"]))
    numbers = draw(st.lists(coordinate, max_size=10))
    body = ", ".join(f"{a} {b}" for a, b in zip(numbers[::2], numbers[1::2], strict=False))
    opening = draw(st.sampled_from(["((", "(((", "(", ""]))
    closing = draw(st.sampled_from(["))", ")))", ")", ""]))
    return f"{keyword} {opening}{body}{closing}"


anything = st.one_of(
    json_like,
    st.text(max_size=60),
    nested_floats,
    geojson_like(),
    wkt_like(),
    st.lists(coordinate, min_size=0, max_size=6),
    st.lists(coordinate, min_size=4, max_size=4).map(lambda v: ",".join(str(x) for x in v)),
)


def assert_valid_areal(result: dict[str, Any]) -> None:
    assert result["type"] in ("Polygon", "MultiPolygon")
    polygons = [result["coordinates"]] if result["type"] == "Polygon" else result["coordinates"]
    assert polygons
    for polygon in polygons:
        assert polygon
        for ring in polygon:
            assert len(ring) >= 4
            assert ring[0] == ring[-1]
            for pos in ring:
                assert isinstance(pos, list) and len(pos) == 2
                lon, lat = pos
                assert type(lon) is float and type(lat) is float
                assert math.isfinite(lon) and math.isfinite(lat)
                assert -180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0
    geom = shape(result)
    assert geom.is_valid
    assert geom.area > 0
    json.dumps(result, allow_nan=False)
    # validity is planar (as GeoJSON is read by shapely); the geodesic area of a degenerate or
    # half-the-globe polygon may round to 0, but is always a finite non-negative number
    area = geodesic_area_km2(result)
    assert math.isfinite(area) and area >= 0


@FAST
@given(anything)
def test_to_aoi_returns_a_valid_polygon_or_raises_aoi_error(value: Any) -> None:
    try:
        result = to_aoi(value)
    except AoiError as err:
        assert err.field == "aoi"
        assert str(err).startswith("aoi: ")
        return
    assert_valid_areal(result)


@FAST
@given(anything)
def test_to_search_geometry_returns_valid_geojson_or_raises_aoi_error(value: Any) -> None:
    try:
        result = to_search_geometry(value)
    except AoiError as err:
        assert err.field == "geometry"
        return
    if result["type"] in ("Polygon", "MultiPolygon"):
        assert_valid_areal(result)
        return
    assert result["type"] in ("Point", "LineString", "MultiPoint")
    positions = [result["coordinates"]] if result["type"] == "Point" else result["coordinates"]
    assert positions
    for lon, lat in positions:
        assert -180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0


@FAST
@given(anything)
def test_parse_bbox_returns_ordered_bounds_or_raises_aoi_error(value: Any) -> None:
    try:
        minlon, minlat, maxlon, maxlat = parse_bbox(value)
    except AoiError as err:
        assert err.field == "bbox"
        return
    assert -180.0 <= minlon <= maxlon <= 180.0
    assert -90.0 <= minlat <= maxlat <= 90.0


# ---------------------------------------------------------------------------------------------------
# Rectangles
# ---------------------------------------------------------------------------------------------------


@st.composite
def rectangles(draw: st.DrawFn) -> tuple[float, float, float, float]:
    minlon = draw(st.floats(min_value=-180, max_value=179.9))
    maxlon = draw(st.floats(min_value=minlon + 1e-6, max_value=180))
    minlat = draw(st.floats(min_value=-90, max_value=89.9))
    maxlat = draw(st.floats(min_value=minlat + 1e-6, max_value=90))
    return minlon, minlat, maxlon, maxlat


@FAST
@given(rectangles())
def test_rectangles_parse_and_round_trip(bbox: tuple[float, float, float, float]) -> None:
    minlon, minlat, maxlon, maxlat = bbox
    assert parse_bbox(list(bbox)) == bbox
    assert parse_bbox(bbox_string(bbox)) == bbox  # repr() of floats round-trips exactly
    polygon = to_aoi(list(bbox))
    assert_valid_areal(polygon)
    assert to_aoi(bbox_string(bbox)) == polygon
    assert to_aoi(tuple(bbox)) == polygon
    assert to_aoi(json.dumps(list(bbox))) == polygon
    assert to_aoi(polygon) == polygon  # idempotent
    assert parse_bbox(polygon) == bbox
    assert shapely.equals(to_shape(bbox_string(bbox)), box(minlon, minlat, maxlon, maxlat))
    assert to_aoi(box(minlon, minlat, maxlon, maxlat))["coordinates"][0][0] in polygon["coordinates"][0]


@FAST
@given(rectangles())
def test_rectangle_as_every_geojson_form_is_the_same(bbox: tuple[float, float, float, float]) -> None:
    polygon = to_aoi(list(bbox))
    feature = {"type": "Feature", "properties": None, "geometry": polygon}
    for form in (
        json.dumps(polygon),
        feature,
        json.dumps(feature),
        {"type": "FeatureCollection", "features": [feature]},
        shape(polygon),
    ):
        assert to_aoi(form) == polygon


# ---------------------------------------------------------------------------------------------------
# WKT
# ---------------------------------------------------------------------------------------------------

lon = st.floats(min_value=-180, max_value=180)
lat = st.floats(min_value=-90, max_value=90)


@st.composite
def valid_polygons(draw: st.DrawFn) -> Polygon | MultiPolygon:
    if draw(st.booleans()):
        points = draw(st.lists(st.tuples(lon, lat), min_size=3, max_size=8))
        hull = shapely.MultiPoint(points).convex_hull
        assume(isinstance(hull, Polygon) and hull.area > 0 and hull.is_valid)
        if draw(st.booleans()):
            hull = hull.reverse()  # clockwise too
        return hull
    first = draw(rectangles())
    second = draw(rectangles())
    a, b = box(*first), box(*second)
    assume(a.disjoint(b))
    return MultiPolygon([a, b])


def exact_wkt(geo: dict[str, Any]) -> str:
    """WKT with repr() of every float, so that the text round-trips bit for bit (GEOS writes 16 digits)."""

    def ring(r: list[list[float]]) -> str:
        return "(" + ", ".join(f"{x!r} {y!r}" for x, y in r) + ")"

    def polygon(p: list[list[list[float]]]) -> str:
        return "(" + ", ".join(ring(r) for r in p) + ")"

    if geo["type"] == "Polygon":
        return "POLYGON " + polygon(geo["coordinates"])
    return "MULTIPOLYGON (" + ", ".join(polygon(p) for p in geo["coordinates"]) + ")"


@FAST
@given(valid_polygons())
def test_wkt_round_trip(geom: Polygon | MultiPolygon) -> None:
    expected = to_aoi(geom)
    assert_valid_areal(expected)
    assert expected == to_aoi(mapping(geom))
    # exact text: bit for bit
    assert to_aoi(exact_wkt(expected)) == expected
    assert to_aoi(exact_wkt(to_aoi(exact_wkt(expected)))) == expected
    # shapely's own WKT writer: the same polygon up to its 16 significant digits
    for text in (shapely.to_wkt(geom, rounding_precision=-1), geom.wkt):
        parsed = to_shape(text)
        assert parsed.geom_type == geom.geom_type
        assert shapely.equals_exact(parsed, to_shape(expected), tolerance=1e-9)


# ---------------------------------------------------------------------------------------------------
# Coverage
# ---------------------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_polygons(), valid_polygons())
def test_coverage_is_a_fraction_consistent_with_the_intersection(
    aoi: Polygon | MultiPolygon, footprint: Polygon | MultiPolygon
) -> None:
    fraction = coverage_fraction(aoi, footprint)
    assert 0.0 <= fraction <= 1.0
    clipped = intersection_geojson(aoi, footprint)
    if clipped is None:
        assert fraction == 0.0
        return
    assert clipped["type"] in ("Polygon", "MultiPolygon")
    assert shape(clipped).is_valid
    total = geodesic_area_km2(aoi)
    if total > 0:
        assert fraction == pytest.approx(min(1.0, geodesic_area_km2(clipped) / total), abs=1e-6)
    assert coverage_fraction(aoi, aoi) == 1.0
