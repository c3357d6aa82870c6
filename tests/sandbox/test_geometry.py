"""The sandbox's own AOI checks (``airflow_provider_oneatlas.sandbox.geometry``), directly and over HTTP."""

from __future__ import annotations

import ast
import copy
import math
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import box

import airflow_provider_oneatlas.sandbox as sandbox_package
from airflow_provider_oneatlas.sandbox.geometry import (
    GeometryError,
    clip,
    geodesic_area_km2,
    parse_aoi,
    to_geojson,
)
from tests.sandbox.conftest import Api, order_body

SQUARE = [[1.3, 43.5], [1.4, 43.5], [1.4, 43.6], [1.3, 43.6], [1.3, 43.5]]
#: A square at lon 100.3, lat 57.2 written [lat, lon]: the latitude is out of range.
SWAPPED = [[57.2, 100.3], [57.3, 100.3], [57.3, 100.4], [57.2, 100.4], [57.2, 100.3]]
HOLE = [[0.25, 0.25], [0.25, 0.75], [0.75, 0.75], [0.75, 0.25], [0.25, 0.25]]


def polygon(*rings: list[list[float]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": list(rings)}


def test_the_sandbox_imports_nothing_from_the_client() -> None:
    """The fake must not agree with the client by construction: it has its own parsers."""
    package = Path(sandbox_package.__file__).parent
    offenders = []
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            offenders += [f"{path.name}: {n}" for n in names if n.startswith("airflow_provider_oneatlas.client")]
    assert offenders == []


def test_valid_polygons_and_multipolygons() -> None:
    assert parse_aoi(polygon(SQUARE)).geom_type == "Polygon"
    hole = [[1.33, 43.53], [1.33, 43.56], [1.36, 43.56], [1.36, 43.53], [1.33, 43.53]]
    with_hole = parse_aoi(polygon(SQUARE, hole))
    assert len(with_hole.interiors) == 1
    far = [[10, 10], [10.1, 10], [10.1, 10.1], [10, 10.1], [10, 10]]
    multi = parse_aoi({"type": "MultiPolygon", "coordinates": [[SQUARE], [far]]})
    assert multi.geom_type == "MultiPolygon"
    three_d = [[*p, 100.0] for p in SQUARE]
    assert parse_aoi(polygon(three_d)).equals(parse_aoi(polygon(SQUARE)))


@pytest.mark.parametrize(
    ("aoi", "words"),
    [
        ("POLYGON((0 0, 1 0, 1 1, 0 0))", "expected a GeoJSON object"),
        ({"type": "Point", "coordinates": [1.3, 43.6]}, "unsupported geometry type 'Point'"),
        ({"type": "Feature", "geometry": polygon(SQUARE)}, "unsupported geometry type 'Feature'"),
        ({"type": "Polygon"}, "has no 'coordinates'"),
        (polygon(), "non-empty list of rings"),
        ({"type": "Polygon", "coordinates": [1.3, 43.5, 1.4, 43.5]}, "a ring is a list of [lon, lat] positions"),
        (polygon(SQUARE[:3]), "at least 4 positions"),
        (polygon([*SQUARE[:4], [1.3, 43.55]]), "not closed"),
        (polygon(SWAPPED), "out of range"),
        (polygon([[181, 0], [182, 0], [182, 1], [181, 0]]), "longitude within [-180, 180]"),
        (polygon([[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]), "invalid Polygon: Self-intersection"),
        (polygon([[0, 0], [1, 0], [2, 0], [0, 0]]), "invalid Polygon"),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], ["1", 0], [1, 1], [0, 0]]]},
            "a position is [longitude, latitude]",
        ),
        (polygon([[0, 0], [True, 0], [1, 1], [0, 0]]), "a position is [longitude, latitude]"),
        ({"type": "MultiPolygon", "coordinates": []}, "non-empty list of polygons"),
        ({"type": "MultiPolygon", "coordinates": [[SQUARE], [SQUARE]]}, "invalid MultiPolygon"),
    ],
)
def test_bad_aois_are_refused_naming_the_field(aoi: Any, words: str) -> None:
    with pytest.raises(GeometryError) as caught:
        parse_aoi(aoi, "products[0].aoi")
    assert str(caught.value).startswith("products[0].aoi: ")
    assert words in str(caught.value)
    assert "GeoJSON Polygon or MultiPolygon" in caught.value.accepted


def test_geodesic_area_against_the_spherical_formula() -> None:
    # A 1 x 1 degree cell at the equator: R^2 * dlon * (sin(lat2) - sin(lat1)), R = 6371.0088 km
    # (the authalic radius differs from the ellipsoid by well under 1 %).
    cell = parse_aoi(polygon([[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]))
    spherical = 6371.0088**2 * math.radians(1) * math.sin(math.radians(1))
    assert geodesic_area_km2(cell) == pytest.approx(spherical, rel=0.01)
    # Orientation does not matter, holes count negatively.
    clockwise = parse_aoi(polygon([[0, 0], [0, 1], [1, 1], [1, 0], [0, 0]]))
    assert geodesic_area_km2(clockwise) == pytest.approx(geodesic_area_km2(cell))
    holed = parse_aoi(
        polygon(
            [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]],
            [[0.25, 0.25], [0.25, 0.75], [0.75, 0.75], [0.75, 0.25], [0.25, 0.25]],
        )
    )
    assert geodesic_area_km2(holed) == pytest.approx(geodesic_area_km2(cell) * 0.75, rel=0.01)


def test_clip_keeps_only_the_shared_area() -> None:
    aoi = parse_aoi(polygon(SQUARE))
    assert clip(aoi, box(1.35, 43.0, 2.0, 44.0)).bounds == pytest.approx((1.35, 43.5, 1.4, 43.6))  # type: ignore[union-attr]
    assert clip(aoi, box(1.4, 43.0, 2.0, 44.0)) is None  # an edge only
    assert clip(aoi, box(5, 5, 6, 6)) is None
    document = to_geojson(aoi)
    assert document["type"] == "Polygon" and all(isinstance(v, float) for p in document["coordinates"][0] for v in p)


@pytest.mark.parametrize(
    ("aoi", "words"),
    [
        (polygon(SWAPPED), "out of range"),
        (polygon([[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]), "Self-intersection"),
        (polygon([*SQUARE[:4], [1.3, 43.55]]), "not closed"),
    ],
)
def test_price_and_order_refuse_bad_aois_with_a_400(api: Api, aoi: dict[str, Any], words: str) -> None:
    body = copy.deepcopy(order_body())
    body["products"][0]["aoi"] = aoi
    for path in ("/api/v1/prices", "/api/v1/orders"):
        answer = api.post(path, json=body)
        assert answer.status_code == 400, answer.text
        document = answer.json()
        assert document["message"].startswith("products[0].aoi: ") and words in document["message"]
        assert "GeoJSON Polygon or MultiPolygon" in document["hint"]
    assert api.get("/api/v1/orders").json()["totalResults"] == 0
