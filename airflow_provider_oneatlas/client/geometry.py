"""Areas of interest: turn whatever a user passes into a valid GeoJSON polygon, and measure areas.

This is the one place that parses an AOI. :func:`to_aoi` accepts GeoJSON (geometry, Feature,
FeatureCollection with one feature; dict or JSON string), WKT, shapely geometries, objects with
``__geo_interface__`` and bounding boxes, and returns a plain GeoJSON ``Polygon`` or ``MultiPolygon``
dict with closed rings of 2D float ``[lon, lat]`` pairs, in the orientation given.

Every problem is reported as :class:`~airflow_provider_oneatlas.client.errors.AoiError` naming the
parameter, what is wrong and where (``ring 0 of polygon 1``), and what is accepted, before any request
is sent. No other exception type escapes the parsing functions.

Areas are geodesic, on the WGS84 ellipsoid. No Airflow import here.
"""

from __future__ import annotations

import functools
import json
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pyproj
import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient
from shapely.validation import explain_validity

from airflow_provider_oneatlas.client.errors import AoiError
from airflow_provider_oneatlas.client.hints import json_hint

__all__ = [
    "bbox_string",
    "coverage_against",
    "coverage_fraction",
    "geodesic_area_km2",
    "intersection_geojson",
    "parse_bbox",
    "to_aoi",
    "to_search_geometry",
    "to_shape",
]

ACCEPTED_AOI = (
    "a GeoJSON Polygon or MultiPolygon (a geometry, a Feature, or a FeatureCollection with exactly one "
    "feature; as a dict or a JSON string), a WKT POLYGON or MULTIPOLYGON, a shapely Polygon or "
    "MultiPolygon, an object with __geo_interface__, or a bbox [minlon, minlat, maxlon, maxlat] or "
    "'minlon,minlat,maxlon,maxlat'; coordinates are [lon, lat] in WGS84 degrees"
)
ACCEPTED_SEARCH = (
    "a GeoJSON Polygon, MultiPolygon, Point, LineString or MultiPoint (a geometry, a Feature, or a "
    "FeatureCollection with exactly one feature; as a dict or a JSON string), the same as WKT or as a "
    "shapely geometry, an object with __geo_interface__, or a bbox [minlon, minlat, maxlon, maxlat] or "
    "'minlon,minlat,maxlon,maxlat'; coordinates are [lon, lat] in WGS84 degrees"
)
ACCEPTED_BBOX = (
    "a bbox as 4 numbers [minlon, minlat, maxlon, maxlat] or the string 'minlon,minlat,maxlon,maxlat', "
    "with min <= max, lon in [-180, 180] and lat in [-90, 90]"
)
_ACCEPTED_POSITION = (
    "positions as [lon, lat]: exactly two finite numbers, lon in [-180, 180], lat in [-90, 90] (WGS84 degrees)"
)
_ACCEPTED_RING = "linear rings of at least 4 [lon, lat] positions whose last position equals the first"
_ACCEPTED_POLYGON_COORDS = (
    "Polygon coordinates as a list of rings, each a list of [lon, lat] pairs: "
    "[[[lon, lat], [lon, lat], [lon, lat], [lon, lat]]]; MultiPolygon coordinates as a list of those"
)
_ACCEPTED_VALID = (
    "valid polygons: rings that neither cross nor touch themselves, holes inside their shell, "
    "MultiPolygon parts that do not overlap (shapely.make_valid can repair a polygon)"
)
_ACCEPTED_CRS = "GeoJSON in WGS84 longitude/latitude (no 'crs' member, or CRS84 / EPSG:4326)"

_AREAL = frozenset({"Polygon", "MultiPolygon"})
_SEARCHABLE = frozenset({"Polygon", "MultiPolygon", "Point", "LineString", "MultiPoint"})
_GEOJSON_GEOMETRIES = frozenset(
    {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "GeometryCollection"}
)
_GEOJSON_TYPES = _GEOJSON_GEOMETRIES | {"Feature", "FeatureCollection"}
_WKT_KEYWORDS = (
    "POLYGON",
    "MULTIPOLYGON",
    "POINT",
    "MULTIPOINT",
    "LINESTRING",
    "MULTILINESTRING",
    "GEOMETRYCOLLECTION",
    "LINEARRING",
    "SRID=",
)
_WGS84_CRS_MARKERS = ("CRS84", "4326")
_MAX_DEPTH = 8

Position = tuple[float, float]


@functools.cache
def _geod() -> pyproj.Geod:
    """The one WGS84 ellipsoid every area is computed on."""
    return pyproj.Geod(ellps="WGS84")


@dataclass(frozen=True)
class _Ctx:
    field: str
    types: frozenset[str]
    accepted: str

    def error(self, problem: str, accepted: str | None = None) -> AoiError:
        return AoiError(self.field, problem, accepted or self.accepted)


# ---------------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------------


class CheckedGeometry(dict[str, Any]):
    """A GeoJSON geometry this module has already checked and normalized.

    Handing it back to :func:`to_aoi` or :func:`to_search_geometry` costs nothing, so a workflow
    can parse the user's AOI once and pass the result to the search body, the coverage filter and
    the order body. It is a plain ``dict`` for everything else (JSON, equality, XCom).
    """


def to_aoi(value: Any, *, field: str = "aoi") -> dict[str, Any]:
    """Any AOI form -> GeoJSON dict ``{"type": "Polygon"|"MultiPolygon", "coordinates": [...]}``.

    Coordinates come out as closed rings of 2D float ``[lon, lat]`` lists, in the orientation given.
    Raises :class:`AoiError` (and nothing else) when ``value`` is not a valid polygon or multipolygon.
    """
    if type(value) is CheckedGeometry and value.get("type") in _AREAL:
        return value
    ctx = _Ctx(field, _AREAL, ACCEPTED_AOI)
    return CheckedGeometry(_normalize(_load(value, ctx, 0), ctx))


def to_search_geometry(value: Any, *, field: str = "geometry") -> dict[str, Any]:
    """Like :func:`to_aoi`, but also accepts Point, LineString and MultiPoint (the search API does)."""
    if type(value) is CheckedGeometry and value.get("type") in _SEARCHABLE:
        return value
    ctx = _Ctx(field, _SEARCHABLE, ACCEPTED_SEARCH)
    return CheckedGeometry(_normalize(_load(value, ctx, 0), ctx))


def to_shape(value: Any, *, field: str = "aoi") -> BaseGeometry:
    """The shapely geometry (Polygon or MultiPolygon) of :func:`to_aoi` ``(value)``."""
    return shape(to_aoi(value, field=field))


def parse_bbox(value: Any, *, field: str = "bbox") -> tuple[float, float, float, float]:
    """A bbox as ``(minlon, minlat, maxlon, maxlat)``.

    Accepts 4 numbers (list or tuple), the string ``"minlon,minlat,maxlon,maxlat"`` (or a JSON list).
    A geometry (anything :func:`to_search_geometry` accepts) gives its bounds.
    """
    ctx = _Ctx(field, _SEARCHABLE, ACCEPTED_BBOX)
    return _parse_bbox(value, ctx, 0)


def bbox_string(value: Any, *, field: str = "bbox") -> str:
    """``"minlon,minlat,maxlon,maxlat"`` for the search API, from anything :func:`parse_bbox` accepts."""
    return ",".join(repr(v) for v in parse_bbox(value, field=field))


def geodesic_area_km2(geometry: Any) -> float:
    """Geodesic area in km² on the WGS84 ellipsoid of a GeoJSON dict or a shapely geometry.

    Each polygon counts positively whatever its orientation (holes are subtracted); points and lines
    have no area.
    """
    geom = _lenient_shape(geometry, "geometry")
    return _area_m2(geom) / 1e6


def coverage_fraction(aoi: Any, footprint: Any) -> float:
    """Share of the AOI's geodesic area covered by ``footprint``, in ``[0, 1]``.

    ``aoi`` is anything :func:`to_aoi` accepts; ``footprint`` may be any GeoJSON polygon (dict, Feature,
    shapely geometry...), repaired if it is invalid.
    """
    return coverage_against(aoi)(footprint)


def coverage_against(aoi: Any) -> Callable[[Any], float]:
    """:func:`coverage_fraction` with the AOI parsed and measured once, for many footprints."""
    aoi_shape = to_shape(aoi, field="aoi")
    total = _area_m2(aoi_shape)

    def fraction(footprint: Any) -> float:
        fp = _lenient_shape(footprint, "footprint")
        if fp.is_empty or not _polygons(fp):
            return 0.0
        if fp.covers(aoi_shape):
            return 1.0
        if aoi_shape.disjoint(fp) or total <= 0.0:
            return 0.0
        inter = _intersection(aoi_shape, fp)
        return min(1.0, max(0.0, _area_m2(inter) / total))

    return fraction


def intersection_geojson(aoi: Any, footprint: Any) -> dict[str, Any] | None:
    """The AOI clipped to ``footprint`` as a GeoJSON Polygon/MultiPolygon; ``None`` when nothing is left.

    Only areal parts are kept: a shared edge or corner counts as empty.
    """
    aoi_shape = to_shape(aoi, field="aoi")
    fp = _lenient_shape(footprint, "footprint")
    if fp.is_empty or aoi_shape.disjoint(fp):
        return None
    parts = [p for p in _polygons(_intersection(aoi_shape, fp)) if p.area > 0.0]
    if not parts:
        return None
    geom: BaseGeometry = parts[0] if len(parts) == 1 else MultiPolygon(parts)
    result: dict[str, Any] = _to_lists(dict(mapping(geom)))
    return result


# ---------------------------------------------------------------------------------------------------
# Loading: any accepted form -> a GeoJSON geometry mapping (not validated yet)
# ---------------------------------------------------------------------------------------------------


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 80 else text[:77] + "..."


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {_short(value)}"


def _load(value: Any, ctx: _Ctx, depth: int) -> Mapping[str, Any]:
    if depth > _MAX_DEPTH:
        raise ctx.error("nested too deeply (a Feature, geometry or __geo_interface__ inside another)")
    if value is None:
        raise ctx.error("no area given (None)")
    if isinstance(value, (bytes, bytearray)):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ctx.error(f"bytes that are not UTF-8 text: {exc}") from None
    if isinstance(value, str):
        return _load_text(value, ctx, depth)
    if isinstance(value, BaseGeometry):
        try:
            geo = mapping(value)
        except Exception as exc:
            raise ctx.error(f"cannot read the shapely {value.geom_type}: {exc}") from None
        return _load_mapping(geo, ctx, depth + 1)
    if isinstance(value, Mapping):
        return _load_mapping(value, ctx, depth + 1)
    if isinstance(value, (list, tuple)):
        return _bbox_polygon(_bbox_from_sequence(value, ctx), ctx)
    if isinstance(value, (bool, numbers.Number)):
        raise ctx.error(f"got a single number ({_describe(value)}), not an area")
    geo_interface = _geo_interface(value, ctx)
    if geo_interface is not None:
        return _load(geo_interface, ctx, depth + 1)
    raise ctx.error(f"cannot read an area from {_describe(value)}")


def _geo_interface(value: Any, ctx: _Ctx) -> Any:
    try:
        return getattr(value, "__geo_interface__", None)
    except Exception as exc:
        raise ctx.error(f"{type(value).__name__}.__geo_interface__ failed: {exc}") from None


def _load_text(text: str, ctx: _Ctx, depth: int) -> Mapping[str, Any]:
    stripped = text.strip()
    if not stripped:
        raise ctx.error("empty string")
    first = stripped[0]
    if first in "{[":
        try:
            decoded = json.loads(stripped)
        except (ValueError, RecursionError) as exc:
            raise ctx.error(f"not valid JSON: {exc}{json_hint(stripped, exc)}") from None
        if isinstance(decoded, str):
            raise ctx.error("a JSON string holding another string; pass the GeoJSON object itself")
        return _load(decoded, ctx, depth + 1)
    if first.isdigit() or first in "+-.":
        return _bbox_polygon(_bbox_from_string(stripped, ctx), ctx)
    if not stripped.upper().startswith(_WKT_KEYWORDS):
        raise ctx.error(f"a string that is neither GeoJSON, WKT nor a bbox: {_describe(stripped)}")
    try:
        geom = shapely.from_wkt(stripped)
    except Exception as exc:
        raise ctx.error(f"not valid WKT: {exc}") from None
    if not isinstance(geom, BaseGeometry):
        raise ctx.error(f"not valid WKT: {_describe(stripped)}")
    return _load(geom, ctx, depth + 1)


def _load_mapping(obj: Mapping[str, Any], ctx: _Ctx, depth: int) -> Mapping[str, Any]:
    if depth > _MAX_DEPTH:
        raise ctx.error("nested too deeply (a Feature inside a Feature...)")
    kind = obj.get("type")
    if not isinstance(kind, str):
        keys = ", ".join(sorted(repr(k) for k in obj)[:8]) or "none"
        raise ctx.error(f"a dict without a GeoJSON 'type' member (its keys: {keys})")
    _check_crs(obj, ctx)
    if kind == "Feature":
        geometry = obj.get("geometry")
        if geometry is None:
            raise ctx.error("the Feature has no geometry (null or missing 'geometry')")
        if not isinstance(geometry, Mapping):
            raise ctx.error(f"the Feature's geometry is {_describe(geometry)}, not a GeoJSON geometry")
        if geometry.get("type") in ("Feature", "FeatureCollection"):
            raise ctx.error(f"the Feature's geometry is a {geometry.get('type')}, not a geometry")
        return _load_mapping(geometry, ctx, depth + 1)
    if kind == "FeatureCollection":
        features = obj.get("features")
        if not isinstance(features, (list, tuple)):
            raise ctx.error("the FeatureCollection has no 'features' list")
        if len(features) != 1:
            raise ctx.error(
                f"the FeatureCollection has {len(features)} features; exactly one is accepted "
                "(merge them into one MultiPolygon, or pass each feature separately)"
            )
        feature = features[0]
        if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
            raise ctx.error(f"feature 0 of the FeatureCollection is not a GeoJSON Feature: {_describe(feature)}")
        return _load_mapping(feature, ctx, depth + 1)
    if kind not in _GEOJSON_GEOMETRIES:
        guess = next((t for t in _GEOJSON_TYPES if t.lower() == kind.strip().lower()), None)
        hint = f" (GeoJSON types are case-sensitive: did you mean {guess!r}?)" if guess else ""
        raise ctx.error(f"unknown GeoJSON type {_short(kind)}{hint}")
    return obj


def _check_crs(obj: Mapping[str, Any], ctx: _Ctx) -> None:
    crs = obj.get("crs")
    if crs is None:
        return
    name: Any = None
    if isinstance(crs, Mapping):
        props = crs.get("properties")
        name = props.get("name") if isinstance(props, Mapping) else None
    if isinstance(name, str) and any(marker in name.upper() for marker in _WGS84_CRS_MARKERS):
        return
    raise ctx.error(f"unsupported 'crs' member {_describe(crs)}: only WGS84 longitude/latitude", _ACCEPTED_CRS)


# ---------------------------------------------------------------------------------------------------
# Validation: GeoJSON geometry mapping -> normalized dict
# ---------------------------------------------------------------------------------------------------


def _normalize(geo: Mapping[str, Any], ctx: _Ctx) -> dict[str, Any]:
    kind = geo.get("type")
    if kind not in ctx.types:
        allowed = ", ".join(sorted(ctx.types))
        if kind in ("Point", "LineString", "MultiPoint", "MultiLineString", "LinearRing"):
            problem = f"a {kind} has no area; only {allowed} are accepted here"
        else:
            problem = f"a {kind} is not accepted; only {allowed}"
        raise ctx.error(problem)
    if "coordinates" not in geo:
        raise ctx.error(f"the {kind} has no 'coordinates' member")
    coords = geo["coordinates"]
    if kind == "Point":
        items = _as_list(coords)
        if items is not None and not items:
            raise ctx.error("empty geometry: the Point has no coordinates")
        point = _position(coords, "the point", ctx)
        _check_ranges([("the point", point)], ctx)
        return {"type": "Point", "coordinates": list(point)}
    if kind in ("LineString", "MultiPoint"):
        minimum = 2 if kind == "LineString" else 1
        positions = _positions(coords, f"the {kind}", minimum, ctx)
        _check_ranges([(f"position {i}", p) for i, p in enumerate(positions)], ctx)
        if kind == "LineString" and len(set(positions)) < 2:
            raise ctx.error("the LineString has zero length: all its positions are the same point")
        return {"type": kind, "coordinates": [list(p) for p in positions]}
    multi = kind == "MultiPolygon"
    polygons = _multipolygon_coords(coords, ctx) if multi else [_polygon_coords(coords, None, ctx)]
    labelled = [
        (_where(pi if multi else None, ri, qi), pos)
        for pi, rings in enumerate(polygons)
        for ri, ring in enumerate(rings)
        for qi, pos in enumerate(ring)
    ]
    _check_ranges(labelled, ctx)
    _check_shapes(polygons, multi, ctx)
    out = [[[list(p) for p in ring] for ring in rings] for rings in polygons]
    if kind == "Polygon":
        return {"type": "Polygon", "coordinates": out[0]}
    return {"type": "MultiPolygon", "coordinates": out}


def _where(polygon: int | None, ring: int | None = None, position: int | None = None) -> str:
    parts = []
    if position is not None:
        parts.append(f"position {position}")
    if ring is not None:
        parts.append(f"ring {ring}")
    if polygon is not None:
        parts.append(f"polygon {polygon}")
    return " of ".join(parts) if parts else "the polygon"


def _as_list(value: Any) -> list[Any] | None:
    if isinstance(value, (list, tuple)):
        return list(value)
    if hasattr(value, "__array__") and hasattr(value, "tolist") and not isinstance(value, numbers.Number):
        try:
            converted = value.tolist()
        except Exception:
            return None
        return list(converted) if isinstance(converted, (list, tuple)) else None
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (numbers.Real, Decimal)) and not isinstance(value, bool)


def _depth_hint(value: list[Any]) -> int:
    """How many list levels ``value`` has before the first number (0 for a number itself)."""
    depth = 0
    current: Any = value
    while True:
        items = _as_list(current)
        if items is None:
            return depth if _is_number(current) else -1
        if not items:
            return -1
        depth += 1
        current = items[0]
        if depth > 6:
            return -1


def _is_position_like(value: Any) -> bool:
    """A list of 2 or 3 numbers: what a position (rather than a flattened ring) looks like."""
    items = _as_list(value)
    return items is not None and len(items) in (2, 3) and all(_is_number(v) for v in items)


def _fmt(pos: Position) -> str:
    return f"[{pos[0]!r}, {pos[1]!r}]"


def _position(value: Any, where: str, ctx: _Ctx) -> Position:
    items = _as_list(value)
    if items is None:
        raise ctx.error(f"{where} is {_describe(value)}, not a [lon, lat] pair", _ACCEPTED_POSITION)
    if len(items) < 2:
        raise ctx.error(f"{where} has {len(items)} value(s), a position needs [lon, lat]", _ACCEPTED_POSITION)
    if len(items) > 2:
        raise ctx.error(
            f"{where} has {len(items)} values {_describe(value)}: only 2D [lon, lat] positions are "
            "accepted (remove the altitude/Z; it is not dropped silently)",
            _ACCEPTED_POSITION,
        )
    floats = []
    for axis, item in zip(("lon", "lat"), items, strict=True):
        if not _is_number(item):
            raise ctx.error(f"{axis} of {where} is {_describe(item)}, not a number", _ACCEPTED_POSITION)
        try:
            number = float(item)
        except (OverflowError, ValueError):
            number = math.nan
        if not math.isfinite(number):
            raise ctx.error(f"{axis} of {where} is {_short(item)}, not a finite number", _ACCEPTED_POSITION)
        floats.append(number)
    return floats[0], floats[1]


def _positions(value: Any, where: str, minimum: int, ctx: _Ctx) -> list[Position]:
    items = _as_list(value)
    if items is None:
        raise ctx.error(f"{where} coordinates are {_describe(value)}, not a list of [lon, lat] pairs")
    if not items:
        raise ctx.error(f"empty geometry: {where} has no positions")
    if all(_is_number(v) for v in items):
        raise ctx.error(
            f"{where} coordinates are a flat list of {len(items)} numbers; they must be a list of "
            "[lon, lat] pairs: [[lon, lat], [lon, lat], ...]",
            _ACCEPTED_POSITION,
        )
    if len(items) < minimum:
        raise ctx.error(f"{where} has {len(items)} position(s), at least {minimum} are needed")
    return [_position(v, f"position {i} of {where}", ctx) for i, v in enumerate(items)]


def _flat_list_error(count: int, where: str, ctx: _Ctx) -> AoiError:
    return ctx.error(
        f"{where} is a flat list of {count} numbers; GeoJSON polygon coordinates are a list of rings, "
        "each a list of [lon, lat] pairs: [[[lon, lat], [lon, lat], ...]]",
        _ACCEPTED_POLYGON_COORDS,
    )


def _polygon_coords(value: Any, index: int | None, ctx: _Ctx) -> list[list[Position]]:
    label = "coordinates" if index is None else f"polygon {index}"
    rings = _as_list(value)
    if rings is None:
        raise ctx.error(f"{label} is {_describe(value)}, not a list of rings", _ACCEPTED_POLYGON_COORDS)
    if not rings:
        raise ctx.error(f"empty geometry: {label} has no rings", _ACCEPTED_POLYGON_COORDS)
    if all(_is_number(v) for v in rings):
        raise _flat_list_error(len(rings), label, ctx)
    depth = _depth_hint(rings)
    if depth == 2 and _is_position_like(rings[0]):
        raise ctx.error(
            f"{label} is a single ring (a list of positions); a polygon is a list of rings: wrap it in one more [ ]",
            _ACCEPTED_POLYGON_COORDS,
        )
    if depth == 4 and index is None:
        raise ctx.error(
            "coordinates have the nesting of a MultiPolygon; use type 'MultiPolygon' or remove one [ ] level",
            _ACCEPTED_POLYGON_COORDS,
        )
    out: list[list[Position]] = []
    for ri, ring_value in enumerate(rings):
        where = _where(index, ri)
        ring = _as_list(ring_value)
        if ring is None:
            raise ctx.error(f"{where} is {_describe(ring_value)}, not a list of positions", _ACCEPTED_RING)
        if ring and all(_is_number(v) for v in ring):
            raise _flat_list_error(len(ring), where, ctx)
        positions = [_position(v, _where(index, ri, qi), ctx) for qi, v in enumerate(ring)]
        if len(positions) < 4:
            raise ctx.error(
                f"{where} has {len(positions)} position(s); a ring needs at least 4 "
                "(3 corners, then the first repeated to close it)",
                _ACCEPTED_RING,
            )
        if positions[0] != positions[-1]:
            raise ctx.error(
                f"{where} is not closed: first point {_fmt(positions[0])} != last point {_fmt(positions[-1])}",
                _ACCEPTED_RING,
            )
        out.append(positions)
    return out


def _multipolygon_coords(value: Any, ctx: _Ctx) -> list[list[list[Position]]]:
    polygons = _as_list(value)
    if polygons is None:
        raise ctx.error(f"coordinates are {_describe(value)}, not a list of polygons", _ACCEPTED_POLYGON_COORDS)
    if not polygons:
        raise ctx.error("empty geometry: the MultiPolygon has no polygons", _ACCEPTED_POLYGON_COORDS)
    if all(_is_number(v) for v in polygons):
        raise _flat_list_error(len(polygons), "coordinates", ctx)
    depth = _depth_hint(polygons)
    first_ring = _as_list(polygons[0])
    if depth == 3 and first_ring and _is_position_like(first_ring[0]):
        raise ctx.error(
            "coordinates have the nesting of a single Polygon; a MultiPolygon is a list of polygons: "
            "use type 'Polygon' or wrap them in one more [ ]",
            _ACCEPTED_POLYGON_COORDS,
        )
    return [_polygon_coords(p, i, ctx) for i, p in enumerate(polygons)]


def _check_ranges(labelled: list[tuple[str, Position]], ctx: _Ctx) -> None:
    bad = [(where, p) for where, p in labelled if not (-180.0 <= p[0] <= 180.0 and -90.0 <= p[1] <= 90.0)]
    if not bad:
        return
    where, (lon, lat) = bad[0]
    swapped = any(abs(p[1]) > 90.0 for _, p in labelled) and all(
        -180.0 <= p[1] <= 180.0 and -90.0 <= p[0] <= 90.0 for _, p in labelled
    )
    if swapped:
        raise ctx.error(
            f"latitude {lat!r} of {where} {_fmt((lon, lat))} is outside [-90, 90]: "
            "looks like [lat, lon] order; GeoJSON wants [lon, lat]",
            _ACCEPTED_POSITION,
        )
    if not -180.0 <= lon <= 180.0:
        problem = f"longitude {lon!r} of {where} is outside [-180, 180]"
    else:
        problem = f"latitude {lat!r} of {where} is outside [-90, 90]"
    extra = f" ({len(bad)} positions out of range)" if len(bad) > 1 else ""
    raise ctx.error(
        f"{problem}{extra}; coordinates must be WGS84 degrees (reproject to EPSG:4326 first)",
        _ACCEPTED_POSITION,
    )


def _check_shapes(polygons: list[list[list[Position]]], multi: bool, ctx: _Ctx) -> None:
    shapes = []
    for pi, rings in enumerate(polygons):
        label = f"polygon {pi}" if multi else "the polygon"
        try:
            poly = Polygon(rings[0], rings[1:])
            # The exterior's own hull: building a MultiPoint of every vertex cost more than the rest.
            hull_area = poly.exterior.convex_hull.area
        except Exception as exc:
            raise ctx.error(f"{label} cannot be built: {exc}", _ACCEPTED_VALID) from None
        if not hull_area > 0.0:
            raise ctx.error(
                f"{label} has zero area (its exterior ring's points are collinear or repeated)",
                _ACCEPTED_VALID,
            )
        if not poly.is_valid:
            raise ctx.error(f"{label} is not valid: {explain_validity(poly)}", _ACCEPTED_VALID)
        if not poly.area > 0.0:
            raise ctx.error(f"{label} has zero area (its holes cover it)", _ACCEPTED_VALID)
        shapes.append(poly)
    if multi and len(shapes) > 1:
        try:
            whole = MultiPolygon(shapes)
            valid = bool(whole.is_valid)
            reason = "" if valid else explain_validity(whole)
        except Exception as exc:
            valid, reason = False, str(exc)
        if not valid:
            raise ctx.error(
                f"the MultiPolygon is not valid (its polygons overlap or share an edge): {reason}",
                _ACCEPTED_VALID,
            )


# ---------------------------------------------------------------------------------------------------
# Bounding boxes
# ---------------------------------------------------------------------------------------------------


def _parse_bbox(value: Any, ctx: _Ctx, depth: int) -> tuple[float, float, float, float]:
    if depth > _MAX_DEPTH:
        raise ctx.error("nested too deeply")
    if isinstance(value, (bytes, bytearray)):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ctx.error(f"bytes that are not UTF-8 text: {exc}") from None
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            try:
                decoded = json.loads(stripped)
            except (ValueError, RecursionError) as exc:
                raise ctx.error(f"not valid JSON: {exc}") from None
            return _parse_bbox(decoded, ctx, depth + 1)
        if stripped and (stripped[0].isdigit() or stripped[0] in "+-."):
            return _bbox_from_string(stripped, ctx)
    elif isinstance(value, (list, tuple)):
        return _bbox_from_sequence(value, ctx)
    elif value is None or isinstance(value, (bool, numbers.Number)):
        raise ctx.error(f"got {_describe(value)}, not a bbox")
    geom_ctx = _Ctx(ctx.field, _SEARCHABLE, f"{ACCEPTED_BBOX}, or {ACCEPTED_SEARCH}")
    geo = _normalize(_load(value, geom_ctx, depth + 1), geom_ctx)
    minx, miny, maxx, maxy = (float(v) for v in shape(geo).bounds)
    return minx, miny, maxx, maxy


def _bbox_from_string(text: str, ctx: _Ctx) -> tuple[float, float, float, float]:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4:
        raise ctx.error(
            f"bbox string {_describe(text)} has {len(parts)} comma-separated value(s), 4 are needed",
            ACCEPTED_BBOX,
        )
    numbers_: list[float] = []
    for name, part in zip(("minlon", "minlat", "maxlon", "maxlat"), parts, strict=True):
        try:
            numbers_.append(float(part))
        except ValueError:
            raise ctx.error(f"bbox {name} {_short(part)} is not a number", ACCEPTED_BBOX) from None
    return _check_bbox(numbers_, ctx)


def _bbox_from_sequence(value: Sequence[Any], ctx: _Ctx) -> tuple[float, float, float, float]:
    items = list(value)
    if items and all(isinstance(v, (list, tuple)) for v in items):
        raise ctx.error(
            "a bare list of lists: pass a GeoJSON geometry such as "
            '{"type": "Polygon", "coordinates": [[[lon, lat], ...]]}, or a bbox of 4 numbers'
        )
    if len(items) != 4:
        raise ctx.error(f"a bbox needs 4 numbers, got {len(items)}: {_describe(value)}", ACCEPTED_BBOX)
    numbers_: list[float] = []
    for name, item in zip(("minlon", "minlat", "maxlon", "maxlat"), items, strict=True):
        if not _is_number(item):
            raise ctx.error(f"bbox {name} is {_describe(item)}, not a number", ACCEPTED_BBOX)
        try:
            numbers_.append(float(item))
        except (OverflowError, ValueError):
            numbers_.append(math.nan)
    return _check_bbox(numbers_, ctx)


def _check_bbox(values: list[float], ctx: _Ctx) -> tuple[float, float, float, float]:
    names = ("minlon", "minlat", "maxlon", "maxlat")
    for name, v in zip(names, values, strict=True):
        if not math.isfinite(v):
            raise ctx.error(f"bbox {name} is {v!r}, not a finite number", ACCEPTED_BBOX)
    minlon, minlat, maxlon, maxlat = values
    lats_ok = all(-90.0 <= v <= 90.0 for v in (minlat, maxlat))
    swapped_ok = all(-90.0 <= v <= 90.0 for v in (minlon, maxlon)) and all(
        -180.0 <= v <= 180.0 for v in (minlat, maxlat)
    )
    if not lats_ok and swapped_ok:
        name, lat = ("minlat", minlat) if not -90.0 <= minlat <= 90.0 else ("maxlat", maxlat)
        raise ctx.error(
            f"bbox {name} {lat!r} is outside [-90, 90]: looks like [lat, lon] order; "
            "GeoJSON wants [lon, lat] (minlon, minlat, maxlon, maxlat)",
            ACCEPTED_BBOX,
        )
    for name, v in zip(names, values, strict=True):
        limit = 180.0 if name.endswith("lon") else 90.0
        if not -limit <= v <= limit:
            raise ctx.error(f"bbox {name} {v!r} is outside [{-limit:g}, {limit:g}]", ACCEPTED_BBOX)
    if minlon > maxlon:
        raise ctx.error(
            f"bbox minlon {minlon!r} > maxlon {maxlon!r} (a bbox crossing the antimeridian is not "
            "supported: split it in two)",
            ACCEPTED_BBOX,
        )
    if minlat > maxlat:
        raise ctx.error(f"bbox minlat {minlat!r} > maxlat {maxlat!r}", ACCEPTED_BBOX)
    return minlon, minlat, maxlon, maxlat


def _bbox_polygon(bbox: tuple[float, float, float, float], ctx: _Ctx) -> dict[str, Any]:
    minlon, minlat, maxlon, maxlat = bbox
    if minlon == maxlon or minlat == maxlat:
        raise ctx.error(f"bbox {list(bbox)!r} has zero area (min == max)", ACCEPTED_BBOX)
    ring = [[minlon, minlat], [maxlon, minlat], [maxlon, maxlat], [minlon, maxlat], [minlon, minlat]]
    return {"type": "Polygon", "coordinates": [ring]}


# ---------------------------------------------------------------------------------------------------
# Areas and overlays
# ---------------------------------------------------------------------------------------------------


def _lenient_shape(value: Any, field: str) -> BaseGeometry:
    """A shapely geometry for measuring: drops Z, repairs invalid polygons, still rejects garbage."""
    ctx = _Ctx(field, frozenset(_GEOJSON_GEOMETRIES), ACCEPTED_SEARCH)
    if isinstance(value, BaseGeometry):
        geom = value
    else:
        geo = _load(value, ctx, 0)
        try:
            geom = shape(geo)
        except Exception as exc:
            raise ctx.error(f"cannot read the {geo.get('type')}: {exc}") from None
    try:
        geom = shapely.force_2d(geom)
        coords = shapely.get_coordinates(geom)
        if coords.size and not bool(np.isfinite(coords).all()):
            raise ctx.error("coordinates that are NaN or infinite", _ACCEPTED_POSITION)
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
    except AoiError:
        raise
    except Exception as exc:
        raise ctx.error(f"cannot use the geometry: {exc}") from None
    return geom


def _polygons(geom: BaseGeometry) -> list[Polygon]:
    if isinstance(geom, Polygon):
        return [] if geom.is_empty else [geom]
    parts = getattr(geom, "geoms", None)
    if parts is None:
        return []
    out: list[Polygon] = []
    for part in parts:
        out.extend(_polygons(part))
    return out


def _area_m2(geom: BaseGeometry) -> float:
    geod = _geod()
    total = 0.0
    for poly in _polygons(geom):
        area, _ = geod.geometry_area_perimeter(orient(poly, sign=1.0))
        total += abs(float(area))
    return total


def _intersection(a: BaseGeometry, b: BaseGeometry) -> BaseGeometry:
    try:
        return a.intersection(b)
    except Exception:  # noqa: S110 - GEOS topology errors: retry on repaired inputs below
        pass
    try:
        return shapely.make_valid(a).intersection(shapely.make_valid(b).buffer(0))
    except Exception as exc:
        raise AoiError("footprint", f"cannot intersect the AOI with the footprint: {exc}") from None


def _to_lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _to_lists(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_lists(v) for v in value]
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return value
