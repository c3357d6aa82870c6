"""The search filters of the real API's OpenSearch grammar, parsed into :class:`SearchFilters`.

:func:`parse_filters` reads the parameters by their API names and value forms (``"[0,30]"`` ranges,
comma-separated names, GeoJSON or WKT geometries, ``"-acquisitionDate,cloudCover"`` sorting); a
malformed one raises :class:`FilterError` naming it. Geometries are checked with shapely, as a server
would, not with the client's parser.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

#: Name that stands for "every workspace but the public one" in the ``workspace`` filter.
PRIVATE_WORKSPACE_ALIAS = "private"

RELATIONS = ("intersects", "within", "contains", "disjoint")
GEOMETRY_TYPES = ("Point", "LineString", "Polygon", "MultiPolygon")

#: Range filters: ``"[low,high]"`` strings; dates are compared in microseconds since the epoch.
DATE_FIELDS = ("acquisitionDate", "publicationDate")
NUMBER_FIELDS = ("cloudCover", "snowCover", "incidenceAngle", "resolution")
RANGE_FIELDS = DATE_FIELDS + NUMBER_FIELDS
#: Name filters: comma-separated lists (or JSON lists), case-insensitive, any value matches.
LIST_FIELDS = (
    "constellation",
    "platform",
    "processingLevel",
    "productType",
    "productionStatus",
    "sensorType",
    "spectralRange",
    "commercialReference",
    "parentIdentifier",
    "sourceIdentifier",
)
TEXT_FIELDS = ("id", "title", "workspaceId", "workspaceName", *LIST_FIELDS)
SORT_FIELDS = RANGE_FIELDS + TEXT_FIELDS
#: Where ``q`` looks for its (case-insensitive) substring.
Q_FIELDS = ("id", "title", "sourceIdentifier", "parentIdentifier", "commercialReference")
DEFAULT_SORT: tuple[tuple[str, bool], ...] = (("acquisitionDate", True),)

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]


class FilterError(ValueError):
    """A malformed search parameter; ``str()`` names the parameter first (``"cloudCover: ..."``)."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.message = message


@dataclass(frozen=True)
class Range:
    """A closed, open or half-open interval; ``None`` for an open end."""

    low: float | None
    high: float | None
    low_inclusive: bool = True
    high_inclusive: bool = True

    def mask(self, values: FloatArray) -> BoolArray:
        result: BoolArray = ~np.isnan(values)
        if self.low is not None:
            result &= (values >= self.low) if self.low_inclusive else (values > self.low)
        if self.high is not None:
            result &= (values <= self.high) if self.high_inclusive else (values < self.high)
        return result

    def contains(self, value: float | None) -> bool:
        """Pure-Python twin of :meth:`mask`, for one value."""
        if value is None or math.isnan(value):
            return False
        if self.low is not None and (value < self.low or (value == self.low and not self.low_inclusive)):
            return False
        return not (self.high is not None and (value > self.high or (value == self.high and not self.high_inclusive)))


@dataclass(frozen=True)
class SearchFilters:
    geometry: BaseGeometry | None = None
    relation: str = "intersects"
    bbox: BaseGeometry | None = None
    ranges: Mapping[str, Range] = field(default_factory=dict)
    lists: Mapping[str, frozenset[str]] = field(default_factory=dict)
    workspaces: frozenset[str] | None = None
    q: str | None = None
    ids: frozenset[str] | None = None
    sort: tuple[tuple[str, bool], ...] = DEFAULT_SORT


_DATE_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*([Zz]|[+-]\d{2}(?::?\d{2})?)?$"
)


def parse_datetime(text: str) -> int:
    """ISO 8601 date or date-time -> microseconds since the epoch (UTC when no offset is given).

    Any number of fraction digits is accepted (the API writes nanoseconds); digits past the
    microsecond are dropped. A bare date means midnight.
    """
    m = _DATE_RE.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not an ISO 8601 date-time")
    year, month, day, hour, minute, second, fraction, offset = m.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            micro,
            tzinfo=timezone.utc,
        )
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid date-time ({exc})") from None
    if offset and offset not in "Zz":
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        moment -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
    return (moment - _EPOCH) // _US


def _parse_bound(parameter: str, text: str, *, is_date: bool) -> float:
    if is_date:
        return float(parse_datetime(text))
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text!r} is not a finite number")
    return number


def parse_range(parameter: str, value: Any) -> Range:
    """``"[a,b]"``, ``"(a,b)"``, ``"[a,b)"``, ``"[a,b["``, open ends (``"[a,"``, ``",b]"``, ``"[a,]"``) or a bare value.

    ``[``/``]`` include the bound; ``(``/``)`` and outward brackets (``]a,b[``, ISO 31-11) exclude it, so
    ``[t0,t1[`` and ``[t0,t1)`` are the same half-open window: contiguous windows never share an image.
    """
    is_date = parameter in DATE_FIELDS
    if isinstance(value, bool) or value is None:
        raise FilterError(parameter, f"invalid range {value!r}: expected a string such as '[0,30]'")
    if isinstance(value, (int, float)) and not is_date:
        if not math.isfinite(value):
            raise FilterError(parameter, f"invalid range {value!r}: not a finite number")
        return Range(float(value), float(value))
    if not isinstance(value, str):
        raise FilterError(parameter, f"invalid range {value!r}: expected a string such as '[0,30]'")
    text = value.strip()
    if not text:
        raise FilterError(parameter, "invalid range '': empty")
    low_inclusive = high_inclusive = True
    # "[" and "]" include a bound; "(" and ")", or a bracket turned outwards ("]a," and ",b["), exclude it.
    opened = text[0] in "[(]"
    closed = text[-1] in "])["
    if opened:
        low_inclusive = text[0] == "["
        text = text[1:]
    if closed and text:
        high_inclusive = text[-1] == "]"
        text = text[:-1]
    try:
        if "," not in text:
            # A bare value (or "[v]") means equality.
            if not text.strip() or not (low_inclusive and high_inclusive) or opened != closed:
                raise ValueError("expected '[low,high]' or a single value")
            bound = _parse_bound(parameter, text.strip(), is_date=is_date)
            return Range(bound, bound)
        parts = text.split(",")
        if len(parts) != 2:
            raise ValueError("expected exactly two bounds separated by a comma")
        low_text, high_text = parts[0].strip(), parts[1].strip()
        low = _parse_bound(parameter, low_text, is_date=is_date) if low_text else None
        high = _parse_bound(parameter, high_text, is_date=is_date) if high_text else None
    except ValueError as exc:
        raise FilterError(parameter, f"invalid range {value!r}: {exc}") from None
    if low is not None and high is not None and low > high:
        raise FilterError(parameter, f"invalid range {value!r}: the lower bound is above the upper bound")
    return Range(low, high, low_inclusive, high_inclusive)


def parse_names(parameter: str, value: Any) -> frozenset[str]:
    """A comma-separated string or a list of strings -> lower-cased names."""
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        items = [part for v in value for part in v.split(",")]
    else:
        raise FilterError(parameter, f"{value!r} is not a comma-separated list of names")
    names = frozenset(i.strip().lower() for i in items if i.strip())
    if not names:
        raise FilterError(parameter, f"{value!r} names nothing")
    return names


def _check_coordinates(geometry: BaseGeometry) -> None:
    minx, miny, maxx, maxy = geometry.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise ValueError("coordinates must be [longitude, latitude] within [-180, 180] x [-90, 90]")


def parse_geometry(value: Any, parameter: str = "geometry") -> BaseGeometry:
    """GeoJSON (object or JSON text) or WKT: Point, LineString, Polygon or MultiPolygon, in WGS84."""
    raw = value
    if isinstance(raw, str):
        text = raw.strip()
        if not text:
            raise FilterError(parameter, "empty geometry")
        if text.startswith("{"):
            try:
                raw = json.loads(text)
            except ValueError as exc:
                raise FilterError(parameter, f"not valid GeoJSON: {exc}") from None
        else:
            try:
                geometry = shapely.from_wkt(text)
            except (shapely.errors.ShapelyError, ValueError) as exc:
                raise FilterError(parameter, f"not valid WKT: {exc}") from None
            return _checked_geometry(geometry, parameter)
    if not isinstance(raw, Mapping):
        raise FilterError(parameter, f"expected a GeoJSON object or a WKT string, got {type(raw).__name__}")
    if raw.get("type") == "Feature":
        raw = raw.get("geometry")
        if not isinstance(raw, Mapping):
            raise FilterError(parameter, "the Feature has no geometry")
    kind = raw.get("type")
    if kind not in GEOMETRY_TYPES:
        raise FilterError(parameter, f"unsupported geometry type {kind!r} (supported: {', '.join(GEOMETRY_TYPES)})")
    if "coordinates" not in raw:
        raise FilterError(parameter, f"the {kind} has no 'coordinates'")
    try:
        geometry = shape(raw)
    except (shapely.errors.ShapelyError, ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
        raise FilterError(
            parameter, f"malformed {kind} coordinates ({exc}); a Polygon is a list of rings of [lon, lat] pairs"
        ) from None
    return _checked_geometry(geometry, parameter)


def _checked_geometry(geometry: BaseGeometry, parameter: str) -> BaseGeometry:
    if geometry.geom_type not in GEOMETRY_TYPES:
        raise FilterError(
            parameter, f"unsupported geometry type {geometry.geom_type!r} (supported: {', '.join(GEOMETRY_TYPES)})"
        )
    if geometry.is_empty:
        raise FilterError(parameter, f"the {geometry.geom_type} is empty")
    if not np.isfinite(shapely.get_coordinates(geometry)).all():
        raise FilterError(parameter, "coordinates must be finite numbers")
    try:
        _check_coordinates(geometry)
    except ValueError as exc:
        raise FilterError(parameter, str(exc)) from None
    if not geometry.is_valid:
        raise FilterError(parameter, f"invalid {geometry.geom_type}: {explain_validity(geometry)}")
    return geometry


def parse_bbox(value: Any, parameter: str = "bbox") -> BaseGeometry:
    """``"minlon,minlat,maxlon,maxlat"`` (or a list of four numbers) -> geometry."""
    items: Sequence[Any]
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        raise FilterError(parameter, f"invalid bbox {value!r}: expected 'minlon,minlat,maxlon,maxlat'")
    try:
        if len(items) != 4 or any(isinstance(v, bool) for v in items):
            raise ValueError
        minx, miny, maxx, maxy = (float(v) for v in items)
    except (TypeError, ValueError):
        raise FilterError(parameter, f"invalid bbox {value!r}: expected 'minlon,minlat,maxlon,maxlat'") from None
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise FilterError(parameter, f"invalid bbox {value!r}: not finite numbers")
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise FilterError(
            parameter,
            f"invalid bbox {value!r}: expected minlon <= maxlon within [-180, 180]"
            " and minlat <= maxlat within [-90, 90]",
        )
    # A degenerate box is a point or a line, not an invalid polygon.
    return shapely.envelope(shapely.multipoints([(minx, miny), (maxx, maxy)]))


def parse_sort(value: Any, parameter: str = "sortBy") -> tuple[tuple[str, bool], ...]:
    """``"-acquisitionDate,cloudCover"`` -> ``(("acquisitionDate", True), ("cloudCover", False))``."""
    if isinstance(value, str):
        keys = value.split(",")
    elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        keys = [part for v in value for part in v.split(",")]
    else:
        raise FilterError(parameter, f"{value!r} is not a comma-separated list of sort keys")
    result: list[tuple[str, bool]] = []
    for key in keys:
        # "+cloudCover" arrives as " cloudCover" when the plus was not URL-encoded.
        name = key.strip()
        descending = name.startswith("-")
        name = name.lstrip("+-").strip()
        if not name:
            continue
        if name not in SORT_FIELDS:
            raise FilterError(parameter, f"unknown sort key {name!r} (sortable: {', '.join(SORT_FIELDS)})")
        result.append((name, descending))
    if not result:
        raise FilterError(parameter, f"{value!r} names no sort key")
    return tuple(result)


def parse_filters(params: Mapping[str, Any]) -> SearchFilters:
    """The search parameters the catalog understands; others (paging, unknown names) are ignored."""
    geometry = None
    if params.get("geometry") not in (None, ""):
        geometry = parse_geometry(params["geometry"])
    relation = "intersects"
    if params.get("relation") not in (None, ""):
        raw_relation = params["relation"]
        if not isinstance(raw_relation, str) or raw_relation.strip().lower() not in RELATIONS:
            raise FilterError("relation", f"unknown relation {raw_relation!r} (one of: {', '.join(RELATIONS)})")
        relation = raw_relation.strip().lower()
    bbox = parse_bbox(params["bbox"]) if params.get("bbox") not in (None, "") else None
    ranges = {name: parse_range(name, params[name]) for name in RANGE_FIELDS if params.get(name) is not None}
    lists = {name: parse_names(name, params[name]) for name in LIST_FIELDS if params.get(name) is not None}
    workspaces = parse_names("workspace", params["workspace"]) if params.get("workspace") is not None else None
    q = None
    if params.get("q") not in (None, ""):
        if not isinstance(params["q"], str):
            raise FilterError("q", f"{params['q']!r} is not a string")
        q = params["q"].strip().lower() or None
    ids: frozenset[str] | None = None
    for name in ("id", "ids"):
        if params.get(name) is not None:
            names = parse_names(name, params[name])
            ids = names if ids is None else ids & names
    sort = parse_sort(params["sortBy"]) if params.get("sortBy") not in (None, "") else DEFAULT_SORT
    return SearchFilters(
        geometry=geometry,
        relation=relation,
        bbox=bbox,
        ranges=ranges,
        lists=lists,
        workspaces=workspaces,
        q=q,
        ids=ids,
        sort=sort,
    )
