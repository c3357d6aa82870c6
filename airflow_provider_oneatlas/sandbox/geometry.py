"""Order AOIs as the sandbox's server checks them: its own code (shapely, pyproj), not the client's.

A fake that validated with the client's own parser would agree with the client by construction; this
module reads the GeoJSON the way a server does, from the wire: a ``Polygon`` or ``MultiPolygon``
object whose rings are closed lists of at least four ``[longitude, latitude]`` positions within
[-180, 180] x [-90, 90], forming a valid polygon with an area. Each problem is a :class:`GeometryError`
naming the field and saying what is accepted.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import pyproj
import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient
from shapely.validation import explain_validity

AOI_TYPES = ("Polygon", "MultiPolygon")
ACCEPTED_AOI = (
    'a GeoJSON Polygon or MultiPolygon, e.g. {"type": "Polygon", "coordinates": '
    "[[[lon, lat], [lon, lat], [lon, lat], [lon, lat]]]}: closed rings of at least 4 [longitude, latitude] "
    "positions, longitude within [-180, 180], latitude within [-90, 90]"
)


class GeometryError(ValueError):
    """An AOI the server refuses; ``str()`` starts with the field."""

    def __init__(self, field: str, problem: str, accepted: str = ACCEPTED_AOI) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem
        self.accepted = accepted


@functools.cache
def _geod() -> pyproj.Geod:
    return pyproj.Geod(ellps="WGS84")


def parse_aoi(value: Any, field: str = "aoi") -> BaseGeometry:
    """The AOI of an order or price body as a valid shapely (Multi)Polygon; raises :class:`GeometryError`."""
    if not isinstance(value, dict):
        raise GeometryError(field, f"expected a GeoJSON object, got {type(value).__name__}")
    kind = value.get("type")
    if kind not in AOI_TYPES:
        raise GeometryError(field, f"unsupported geometry type {kind!r}: an order AOI is a Polygon or MultiPolygon")
    if "coordinates" not in value:
        raise GeometryError(field, f"the {kind} has no 'coordinates'")
    coordinates = value["coordinates"]
    if kind == "Polygon":
        geometry: BaseGeometry = _polygon(coordinates, field, "coordinates")
    else:
        if not isinstance(coordinates, list) or not coordinates:
            raise GeometryError(field, "a MultiPolygon's coordinates are a non-empty list of polygons")
        geometry = MultiPolygon(
            [_polygon(polygon, field, f"coordinates[{index}]") for index, polygon in enumerate(coordinates)]
        )
    if not geometry.is_valid:
        raise GeometryError(field, f"invalid {kind}: {explain_validity(geometry)}")
    if geometry.area <= 0:
        raise GeometryError(field, f"the {kind} has no area")
    return geometry


def _polygon(rings: Any, field: str, where: str) -> Polygon:
    if not isinstance(rings, list) or not rings:
        raise GeometryError(field, f"{where}: a polygon is a non-empty list of rings of [lon, lat] positions")
    checked = [_ring(ring, field, f"{where}[{index}]") for index, ring in enumerate(rings)]
    return Polygon(checked[0], checked[1:])


def _ring(ring: Any, field: str, where: str) -> list[tuple[float, float]]:
    if not isinstance(ring, list) or not all(isinstance(position, list) for position in ring):
        raise GeometryError(field, f"{where}: a ring is a list of [lon, lat] positions, got {_short(ring)}")
    if len(ring) < 4:
        raise GeometryError(field, f"{where}: a ring needs at least 4 positions, got {len(ring)}")
    positions = [_position(position, field, f"{where}[{index}]") for index, position in enumerate(ring)]
    if positions[0] != positions[-1]:
        raise GeometryError(field, f"{where}: the ring is not closed (its last position must repeat its first)")
    return positions


def _position(position: list[Any], field: str, where: str) -> tuple[float, float]:
    if len(position) not in (2, 3) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in position
    ):
        raise GeometryError(field, f"{where}: a position is [longitude, latitude], got {_short(position)}")
    lon, lat = float(position[0]), float(position[1])
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise GeometryError(field, f"{where}: coordinates must be finite numbers")
    if not -180 <= lon <= 180 or not -90 <= lat <= 90:
        raise GeometryError(
            field,
            f"{where}: [{lon}, {lat}] is out of range (longitude within [-180, 180], latitude within [-90, 90]; "
            "GeoJSON puts the longitude first)",
        )
    return lon, lat


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _polygons(geometry: BaseGeometry) -> list[Polygon]:
    if isinstance(geometry, Polygon):
        return [] if geometry.is_empty else [geometry]
    out: list[Polygon] = []
    for part in getattr(geometry, "geoms", ()):
        out.extend(_polygons(part))
    return out


def geodesic_area_km2(geometry: BaseGeometry) -> float:
    """Area on the WGS84 ellipsoid, in km² (each polygon counted positively, holes subtracted)."""
    geod = _geod()
    total = 0.0
    for polygon in _polygons(geometry):
        area, _ = geod.geometry_area_perimeter(orient(polygon, sign=1.0))
        total += abs(float(area))
    return total / 1e6


def clip(aoi: BaseGeometry, footprint: BaseGeometry) -> BaseGeometry | None:
    """The areal part of the AOI inside the footprint; ``None`` when only an edge or nothing is shared."""
    if aoi.disjoint(footprint):
        return None
    if not footprint.is_valid:
        footprint = shapely.make_valid(footprint)
    parts = [part for part in _polygons(aoi.intersection(footprint)) if part.area > 0.0]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def to_geojson(geometry: BaseGeometry) -> dict[str, Any]:
    """A GeoJSON dict with plain lists of floats (JSON-ready)."""
    result: dict[str, Any] = _lists(dict(mapping(geometry)))
    return result


def _lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _lists(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lists(item) for item in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value
