"""The sandbox's image catalog: what OneAtlas search finds, built deterministically from a seed.

The catalog holds the three features of the OneAtlas tutorial's search answer verbatim, the image the
tutorial's price sample orders (``ce4a073e-...``, a Pleiades SENSOR image over Toulouse), and
``config.catalog_size`` generated images with the same property set. About 30% of the generated images
lie over two demo areas (the tutorial's Cavtat AOI and Toulouse) so that searches there find plenty.

Search runs on column arrays (numpy) and a shapely STRtree, rebuilt lazily after :meth:`Catalog.add`:
a query over 25,000 images with a geometry, a date range and sorting takes a few milliseconds.

The filter grammar (:func:`parse_filters`) is the OpenSearch parameters of the real API; the HTTP
layer (``search.py``) and the tests use the same :class:`Catalog.query`.
"""

from __future__ import annotations

import copy
import gc
import json
import math
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely import STRtree
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from airflow_provider_oneatlas.sandbox.config import SandboxConfig

PUBLIC_WORKSPACE_ID = "0e33eb50-3404-48ad-b835-b0b4b72a5625"
PUBLIC_WORKSPACE_NAME = "public"
#: Name that stands for "every workspace but the public one" in the ``workspace`` filter.
PRIVATE_WORKSPACE_ALIAS = "private"

#: The image of the tutorial's price sample: a Pleiades SENSOR image covering the Toulouse AOI.
TUTORIAL_PRICE_ITEM_ID = "ce4a073e-915a-4e15-b943-4470e02e0511"
TUTORIAL_ITEM_IDS = (
    "e459d653-468f-471b-8d6e-90b13b14c655",
    "df89db9b-e35a-46ee-aad5-f3e1f18bf0ae",
    "1f5a3bda-8e35-4704-82ca-27dbfae58fc4",
)

#: Demo areas (min lon, min lat, max lon, max lat) where many generated images lie.
DEMO_AREAS: dict[str, tuple[float, float, float, float]] = {
    "cavtat": (18.19, 42.42, 18.45, 42.66),
    "toulouse": (1.24, 43.47, 1.57, 43.71),
}

SEARCH_RESULT_CAP = 10_000
DEFAULT_ITEMS_PER_PAGE = 50
MAX_ITEMS_PER_PAGE = 500

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

# Hosts the real API links to; answers rewrite them to the sandbox's own base URL.
VIEW_HOST = "https://view.oneatlas.geoapi-airbusds.com"
WORKSPACES_HOST = "https://workspaces.oneatlas.private.geoapi-airbusds.com"

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]


# --------------------------------------------------------------------------------------------------
# The tutorial's features, verbatim
# --------------------------------------------------------------------------------------------------

_TUTORIAL_RIGHTS: dict[str, Any] = {
    "browse": {
        "privileges": [
            {
                "createdAt": "2018-08-29T15:14:29.581647813Z",
                "filter": {"workspaceId": PUBLIC_WORKSPACE_ID},
                "id": "8d21eca0-ad73-4d9d-8f04-29c8cd83e2c4",
                "rights": {"browse": {}},
                "subscriptionId": "f375c5ce-daba-412a-ace3-9092539cd1a8",
                "userId": "5aea35c3-ca12-4c55-b455-2df467b87de1",
            }
        ]
    },
    "wms": {
        "privileges": [
            {
                "createdAt": "2018-08-29T15:14:29.390365151Z",
                "filter": {"workspaceId": PUBLIC_WORKSPACE_ID},
                "id": "a4746d2a-7ef2-48c1-9c98-ccbe939a242b",
                "rights": {"wms": {}, "wmts": {}},
                "subscriptionId": "6f06e275-5327-4752-86b1-93867c27e56f",
                "userId": "5aea35c3-ca12-4c55-b455-2df467b87de1",
            }
        ]
    },
    "wmts": {
        "privileges": [
            {
                "createdAt": "2018-08-29T15:14:29.390365151Z",
                "filter": {"workspaceId": PUBLIC_WORKSPACE_ID},
                "id": "a4746d2a-7ef2-48c1-9c98-ccbe939a242b",
                "rights": {"wms": {}, "wmts": {}},
                "subscriptionId": "6f06e275-5327-4752-86b1-93867c27e56f",
                "userId": "5aea35c3-ca12-4c55-b455-2df467b87de1",
            }
        ]
    },
}

_COMMON_PUBLIC_PROPERTIES: dict[str, Any] = {
    "archivingCenter": "FR1",
    "format": "image/jp2",
    "organisationName": "AIRBUS DS",
    "processingCenter": "AOC",
    "processorName": "IMFv6",
    "productCategory": "image",
    "productType": "bundle",
    "productionStatus": "IN_CLOUD",
    "qualified": False,
    "sensorType": "OPTICAL",
    "spectralRange": "VISIBLE",
    "workspaceId": PUBLIC_WORKSPACE_ID,
    "workspaceName": PUBLIC_WORKSPACE_NAME,
    "workspaceTitle": "Public",
}

# (geometry ring, properties) of the tutorial's three features, exactly as its search answer shows them.
_TUTORIAL_FEATURES: tuple[tuple[list[list[float]], dict[str, Any]], ...] = (
    (
        [
            [-79.6004740473, 62.5991162052],
            [-78.3906212349, 62.5893798561],
            [-78.3941369259, 62.0569309149],
            [-79.5956204515, 62.0695559704],
            [-79.6004740473, 62.5991162052],
        ],
        {
            "acquisitionDate": "2018-08-27T16:29:21.124Z",
            "acquisitionStation": "SV1",
            "azimuthAngle": 307.695448902,
            "cloudCover": 61.4,
            "commercialReference": "SO18022823",
            "constellation": "SPOT",
            "correlationId": "f334ee62-74db-4cbc-85ef-47f9b930741e",
            "expirationDate": "2019-08-30T07:06:16.522195753Z",
            "id": "e459d653-468f-471b-8d6e-90b13b14c655",
            "illuminationAzimuthAngle": 164.8027404,
            "illuminationElevationAngle": 37.7839600556,
            "incidenceAngle": 11.2809233557,
            "incidenceAngleAcrossTrack": -9.27954139844,
            "incidenceAngleAlongTrack": -6.51409289749,
            "parentIdentifier": "DS_SPOT6_201808271629211_FR1_FR1_SV1_SV1_W079N62_01871",
            "platform": "SPOT6",
            "processingDate": "2018-08-29T19:58:17Z",
            "processingLevel": "SENSOR",
            "publicationDate": "2018-08-30T07:06:16.522195753Z",
            "resolution": 1.57121,
            "snowCover": 0,
            "sourceIdentifier": "SEN_SPOT6_20180827_162921300_000",
            "title": "SEN_SPOT6_20180827_162921300_000",
        },
    ),
    (
        [
            [100.331087773, 57.286615318],
            [101.335582984, 57.2848905567],
            [101.330053452, 56.7493429839],
            [100.337803774, 56.7519940149],
            [100.331087773, 57.286615318],
        ],
        {
            "acquisitionDate": "2018-08-27T04:11:02.249Z",
            "acquisitionStation": "FR1",
            "azimuthAngle": 336.541526209,
            "cloudCover": 0,
            "commercialReference": "SO18022823",
            "constellation": "SPOT",
            "correlationId": "94dd9b58-931d-4905-8566-3ccfe8bb8512",
            "expirationDate": "2019-08-30T07:04:29.282437526Z",
            "id": "df89db9b-e35a-46ee-aad5-f3e1f18bf0ae",
            "illuminationAzimuthAngle": 157.365191931,
            "illuminationElevationAngle": 42.0314192766,
            "incidenceAngle": 4.4795584183,
            "incidenceAngleAcrossTrack": -2.16042728059,
            "incidenceAngleAlongTrack": -3.06803280713,
            "parentIdentifier": "DS_SPOT7_201808270411022_FR1_FR1_FR1_FR1_E101N57_01871",
            "platform": "SPOT7",
            "processingDate": "2018-08-29T20:00:58Z",
            "processingLevel": "SENSOR",
            "publicationDate": "2018-08-30T07:04:29.282437526Z",
            "resolution": 1.53265,
            "snowCover": 0,
            "sourceIdentifier": "SEN_SPOT7_20180827_041102400_000",
            "title": "SEN_SPOT7_20180827_041102400_000",
        },
    ),
    (
        [
            [-97.5655486139, 43.7419084893],
            [-96.7962782903, 43.7527037444],
            [-96.8008304963, 43.2195591894],
            [-97.560216004, 43.2103713303],
            [-97.5655486139, 43.7419084893],
        ],
        {
            "acquisitionDate": "2018-08-24T16:58:22.749Z",
            "acquisitionStation": "SV1",
            "azimuthAngle": 33.6952998936,
            "cloudCover": 2.54,
            "commercialReference": "SO18022823",
            "constellation": "SPOT",
            "correlationId": "8cdf8476-ba97-4b1c-a5e2-bc51e7f96b41",
            "expirationDate": "2019-08-30T07:02:42.28029458Z",
            "id": "1f5a3bda-8e35-4704-82ca-27dbfae58fc4",
            "illuminationAzimuthAngle": 140.454551832,
            "illuminationElevationAngle": 52.5634223274,
            "incidenceAngle": 11.8848831728,
            "incidenceAngleAcrossTrack": 7.02760267831,
            "incidenceAngleAlongTrack": -9.50177545448,
            "parentIdentifier": "DS_SPOT7_201808241658227_FR1_FR1_SV1_SV1_W097N43_01871",
            "platform": "SPOT7",
            "processingDate": "2018-08-29T19:50:23Z",
            "processingLevel": "SENSOR",
            "publicationDate": "2018-08-30T07:02:42.28029458Z",
            "resolution": 1.56425,
            "snowCover": 0,
            "sourceIdentifier": "SEN_SPOT7_20180824_165822900_000",
            "title": "SEN_SPOT7_20180824_165822900_000",
        },
    ),
)

# The price sample's image: Pleiades 1B over Toulouse, its footprint a margin around the sample AOI
# (lon 1.24-1.57, lat 43.47-43.71).
_PRICE_ITEM_RING = [
    [1.1630471928, 43.7851904217],
    [1.6485290631, 43.7769618264],
    [1.6442795012, 43.3958815306],
    [1.1617530744, 43.4036452873],
    [1.1630471928, 43.7851904217],
]
_PRICE_ITEM_PROPERTIES: dict[str, Any] = {
    "acquisitionDate": "2019-07-14T10:52:31.512Z",
    "acquisitionStation": "FR1",
    "azimuthAngle": 179.871120573,
    "cloudCover": 1.25,
    "commercialReference": "SO19031277",
    "constellation": "PHR",
    "correlationId": "5b0e6c8a-2f4d-4c1e-9a37-8d1f2e6b7c40",
    "expirationDate": "2020-07-16T05:41:08.310472215Z",
    "id": TUTORIAL_PRICE_ITEM_ID,
    "illuminationAzimuthAngle": 148.22019451,
    "illuminationElevationAngle": 65.3081775312,
    "incidenceAngle": 8.3410213374,
    "incidenceAngleAcrossTrack": 6.98205134882,
    "incidenceAngleAlongTrack": -4.56352095021,
    "parentIdentifier": "DS_PHR1B_201907141052315_FR1_PX_E001N43_0615_01640",
    "platform": "PHR1B",
    "processingDate": "2019-07-15T22:13:45Z",
    "processingLevel": "SENSOR",
    "publicationDate": "2019-07-16T05:41:08.310472215Z",
    "resolution": 0.5,
    "snowCover": 0,
    "sourceIdentifier": "SEN_PHR1B_20190714_105231500_000",
    "title": "SEN_PHR1B_20190714_105231500_000",
}


def real_links(item_id: str, workspace_id: str) -> dict[str, dict[str, str]]:
    """``_links`` of an image as the real API writes them (hosts are rewritten when answering)."""
    view = f"{VIEW_HOST}/api/v1/items/{item_id}"
    return {
        "delete": {
            "href": f"{WORKSPACES_HOST}/api/v1/workspaces/{workspace_id}/types/satellite_imagery/items/{item_id}",
            "name": "Delete",
            "type": "HTTP",
        },
        "metadata": {"href": f"{view}/metadata", "name": "Metadata", "type": "HTTP"},
        "quicklook": {"href": f"{view}/quicklook", "name": "QuickLook", "type": "HTTP"},
        "thumbnail": {"href": f"{view}/thumbnail", "name": "Thumbnail", "type": "HTTP"},
        "wms": {"href": f"{view}/wms", "name": "WMS", "type": "WMS"},
        "wmts": {"href": f"{view}/wmts", "name": "WMTS", "type": "WMTS"},
    }


def _public_feature(ring: list[list[float]], own: Mapping[str, Any], rights: dict[str, Any]) -> dict[str, Any]:
    props = dict(sorted({**_COMMON_PUBLIC_PROPERTIES, **own}.items()))
    return {
        "_links": real_links(str(props["id"]), PUBLIC_WORKSPACE_ID),
        "geometry": {"coordinates": [ring], "type": "Polygon"},
        "properties": props,
        "rights": rights,
        "type": "Feature",
    }


def tutorial_features() -> list[dict[str, Any]]:
    """The tutorial's three search results, as fresh copies."""
    return [
        _public_feature(copy.deepcopy(ring), props, copy.deepcopy(_TUTORIAL_RIGHTS))
        for ring, props in _TUTORIAL_FEATURES
    ]


# --------------------------------------------------------------------------------------------------
# Filter grammar
# --------------------------------------------------------------------------------------------------


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
    """``"[a,b]"``, ``"(a,b)"``, ``"[a,b)"``, open ends (``"[a,"``, ``",b]"``, ``"[a,]"``) or a bare value."""
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
    opened = text[0] in "[("
    closed = text[-1] in "])"
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


# --------------------------------------------------------------------------------------------------
# Catalog
# --------------------------------------------------------------------------------------------------


def _float_or_nan(value: Any) -> float:
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _date_or_nan(value: Any) -> float:
    if not isinstance(value, str):
        return math.nan
    try:
        return float(parse_datetime(value))
    except ValueError:
        return math.nan


class _Snapshot:
    """Immutable column arrays of the catalog at one moment; lazily extended with derived indexes."""

    def __init__(
        self,
        numbers: dict[str, list[float]],
        texts: dict[str, list[str]],
        geometries: list[BaseGeometry],
    ) -> None:
        self.size = len(geometries)
        self.numbers: dict[str, FloatArray] = {k: np.array(v, dtype=np.float64) for k, v in numbers.items()}
        self._texts = {k: list(v) for k, v in texts.items()}
        self._geometries = np.array(geometries, dtype=object)
        self._tree: STRtree | None = None
        self._codes: dict[str, tuple[list[str], IntArray]] = {}
        self._q_text: list[str] | None = None
        self._lock = threading.Lock()

    @property
    def tree(self) -> STRtree:
        with self._lock:
            if self._tree is None:
                self._tree = STRtree(self._geometries)
            return self._tree

    def codes(self, name: str) -> tuple[list[str], IntArray]:
        """Sorted distinct values of a text column and each row's index into them."""
        with self._lock:
            if name not in self._codes:
                uniques, inverse = np.unique(np.array(self._texts[name], dtype=str), return_inverse=True)
                self._codes[name] = ([str(u) for u in uniques], inverse.astype(np.intp).reshape(-1))
            return self._codes[name]

    def text_in(self, name: str, wanted: Iterable[str]) -> BoolArray:
        """Rows whose ``name`` column is one of ``wanted`` (lower-cased names), case-insensitively."""
        wanted_set = set(wanted)
        uniques, inverse = self.codes(name)
        hits = np.array([u.lower() in wanted_set for u in uniques] or [False], dtype=bool)
        result: BoolArray = hits[inverse] if self.size else np.zeros(0, dtype=bool)
        return result

    def q_text(self) -> list[str]:
        with self._lock:
            if self._q_text is None:
                columns = [self._texts[name] for name in Q_FIELDS]
                self._q_text = ["\n".join(parts).lower() for parts in zip(*columns, strict=True)]
            return self._q_text

    def spatial(self, geometry: BaseGeometry, relation: str) -> BoolArray:
        """Rows whose footprint is in ``relation`` with ``geometry`` (the footprint is the subject)."""
        mask = np.zeros(self.size, dtype=bool)
        if not self.size:
            return mask
        # STRtree.query tests predicate(geometry, footprint): "footprint within geometry" is
        # "geometry contains footprint", and the other way round.
        predicate = {"intersects": "intersects", "disjoint": "intersects", "within": "contains", "contains": "within"}
        mask[self.tree.query(geometry, predicate=predicate[relation])] = True
        return ~mask if relation == "disjoint" else mask

    def sort_key(self, name: str) -> FloatArray:
        if name in self.numbers:
            return self.numbers[name]
        return self.codes(name)[1].astype(np.float64)


class Catalog:
    """The images the sandbox's search finds.

    ``get``, ``add``, ``all`` and ``query`` are safe to call from several threads. Features returned by
    ``all`` and ``query`` are the stored objects: read them, do not modify them (``get`` returns a copy).
    """

    def __init__(self, config: SandboxConfig) -> None:
        # SandboxConfig.validate() has checked catalog_size >= 0 and catalog_end >= catalog_start.
        self.seed = config.seed
        self.size = config.catalog_size
        self.start_us = parse_datetime(config.catalog_start)
        # The end date is inclusive: images may be taken until its last microsecond.
        self.end_us = parse_datetime(config.catalog_end) + 86_400_000_000 - 1
        self._lock = threading.RLock()
        self._features: list[dict[str, Any]] = []
        self._index: dict[str, int] = {}
        self._numbers: dict[str, list[float]] = {name: [] for name in RANGE_FIELDS}
        self._texts: dict[str, list[str]] = {name: [] for name in TEXT_FIELDS}
        self._geometries: list[BaseGeometry] = []
        self._snapshot: _Snapshot | None = None
        for feature in tutorial_features():
            self._append(feature)
        self._append(_public_feature(copy.deepcopy(_PRICE_ITEM_RING), _PRICE_ITEM_PROPERTIES, _TUTORIAL_RIGHTS))
        # Tens of thousands of fresh dicts would trigger the cyclic garbage collector over and over.
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._generate()
        finally:
            if collecting:
                gc.enable()

    # -- public API --------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._features)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._index

    def get(self, item_id: str) -> dict[str, Any] | None:
        """A copy of the stored feature, or None."""
        with self._lock:
            position = self._index.get(item_id)
            return None if position is None else copy.deepcopy(self._features[position])

    def footprint(self, item_id: str) -> BaseGeometry | None:
        """The image's footprint as a shapely geometry, or None."""
        with self._lock:
            position = self._index.get(item_id)
            return None if position is None else self._geometries[position]

    def add(self, feature: Mapping[str, Any]) -> None:
        """Add (or replace, same id) an image, e.g. a delivered product in a private workspace.

        The feature needs ``properties.id``, ``properties.workspaceId`` and a GeoJSON ``geometry``.
        """
        props = feature.get("properties")
        if not isinstance(props, Mapping) or not isinstance(props.get("id"), str) or not props["id"]:
            raise ValueError("a catalog feature needs properties.id")
        if not isinstance(props.get("workspaceId"), str):
            raise ValueError("a catalog feature needs properties.workspaceId")
        stored = copy.deepcopy(dict(feature))
        stored.setdefault("type", "Feature")
        with self._lock:
            self._append(stored)

    def all(self) -> list[dict[str, Any]]:
        """Every stored feature (read-only), in insertion order."""
        with self._lock:
            return list(self._features)

    def query(self, **filters: Any) -> list[dict[str, Any]]:
        """Features matching OpenSearch parameters (API names and value forms), sorted by ``sortBy``.

        Paging parameters are ignored: this is every match. Raises :class:`FilterError`.
        """
        return self.features_at(self.select(parse_filters(filters)))

    def select(self, filters: SearchFilters) -> IntArray:
        """Positions of the matching features, sorted (ties broken by id)."""
        snap = self._current()
        mask = np.ones(snap.size, dtype=bool)
        if filters.ids is not None:
            mask &= snap.text_in("id", filters.ids)
        for name, rng in filters.ranges.items():
            mask &= rng.mask(snap.numbers[name])
        for name, names in filters.lists.items():
            mask &= snap.text_in(name, names)
        if filters.workspaces is not None:
            in_workspace = snap.text_in("workspaceId", filters.workspaces) | snap.text_in(
                "workspaceName", filters.workspaces
            )
            if PRIVATE_WORKSPACE_ALIAS in filters.workspaces:
                in_workspace |= ~snap.text_in("workspaceId", {PUBLIC_WORKSPACE_ID})
            mask &= in_workspace
        if filters.bbox is not None:
            relation = filters.relation if filters.geometry is None else "intersects"
            mask &= snap.spatial(filters.bbox, relation)
        if filters.geometry is not None:
            mask &= snap.spatial(filters.geometry, filters.relation)
        positions: IntArray = np.flatnonzero(mask).astype(np.intp)
        if filters.q is not None and positions.size:
            texts = snap.q_text()
            needle = filters.q
            positions = np.array([p for p in positions.tolist() if needle in texts[p]], dtype=np.intp)
        if positions.size < 2:
            return positions
        # np.lexsort sorts by the last key first: the id tie-break goes first in the list.
        keys: list[FloatArray] = [snap.sort_key("id")[positions]]
        for name, descending in reversed(filters.sort):
            values = snap.sort_key(name)[positions]
            values = -values if descending else values
            # Missing values last, whatever the direction.
            keys.append(np.where(np.isnan(values), np.inf, values))
        order = np.lexsort(keys)
        result: IntArray = positions[order]
        return result

    def features_at(self, positions: Iterable[int]) -> list[dict[str, Any]]:
        features = self._features
        return [features[int(p)] for p in positions]

    # -- internals ---------------------------------------------------------------------------------

    def _current(self) -> _Snapshot:
        with self._lock:
            if self._snapshot is None:
                self._snapshot = _Snapshot(self._numbers, self._texts, self._geometries)
            return self._snapshot

    def _append(self, feature: dict[str, Any]) -> None:
        props = feature["properties"]
        geometry = shape(feature["geometry"])
        numbers = {name: _date_or_nan(props.get(name)) for name in DATE_FIELDS}
        numbers.update({name: _float_or_nan(props.get(name)) for name in NUMBER_FIELDS})
        texts = {name: "" if props.get(name) is None else str(props.get(name)) for name in TEXT_FIELDS}
        self._store(feature, numbers, texts, geometry)

    def _store(
        self, feature: dict[str, Any], numbers: Mapping[str, float], texts: Mapping[str, str], geometry: BaseGeometry
    ) -> None:
        item_id = texts["id"]
        position = self._index.get(item_id)
        if position is None:
            self._index[item_id] = len(self._features)
            self._features.append(feature)
            self._geometries.append(geometry)
            for name, value in numbers.items():
                self._numbers[name].append(value)
            for name, text in texts.items():
                self._texts[name].append(text)
        else:
            self._features[position] = feature
            self._geometries[position] = geometry
            for name, value in numbers.items():
                self._numbers[name][position] = value
            for name, text in texts.items():
                self._texts[name][position] = text
        self._snapshot = None

    def _generate(self) -> None:
        """``self.size`` random images, vectorised: 25,000 take well under a second."""
        n = self.size
        if n == 0:
            return
        rng = np.random.default_rng([self.seed & 0xFFFFFFFF, 0x0A71A5])
        # Where: 15% over Cavtat, 15% over Toulouse, the rest anywhere between 60S and 72N.
        area = rng.random(n)
        lon = rng.uniform(-178.5, 178.5, n)
        lat = rng.uniform(-60.0, 72.0, n)
        for k, (minx, miny, maxx, maxy) in enumerate(DEMO_AREAS.values()):
            chosen = (area >= 0.15 * k) & (area < 0.15 * (k + 1))
            count = int(chosen.sum())
            lon[chosen] = rng.uniform(minx - 0.12, maxx + 0.12, count)
            lat[chosen] = rng.uniform(miny - 0.1, maxy + 0.1, count)
        # What: constellation, then platform, resolution and swath.
        constellation_code = rng.choice(3, size=n, p=[0.4, 0.4, 0.2])  # SPOT, PHR, PNEO
        second_platform = rng.random(n) < 0.5
        # When: a day in the range; time of day near 10:30 local solar time (sun-synchronous orbits).
        span_days = max(1, (self.end_us - self.start_us) // 86_400_000_000 + 1)
        day = rng.integers(0, span_days, n)
        local_hours = 10.5 + rng.normal(0.0, 0.35, n)
        utc_hours = np.mod(local_hours - lon / 15.0, 24.0)
        acquired = self.start_us + day * 86_400_000_000 + np.floor(utc_hours * 3_600_000) * 1000
        acquired = np.clip(acquired, self.start_us, self.end_us - 999)
        acquired = (acquired // 1000) * 1000  # millisecond precision, as the API writes it
        # Pleiades Neo flies since 2021: older "PNEO" images are Pleiades ones.
        pneo_start = parse_datetime("2021-06-01T00:00:00Z")
        constellation_code = np.where((constellation_code == 2) & (acquired < pneo_start), 1, constellation_code)
        res_base = np.array([1.5, 0.5, 0.3])[constellation_code]
        resolution = np.round(res_base * (1.0 + rng.uniform(0.0, 0.12, n)), 5)
        width_km = np.where(constellation_code == 0, rng.uniform(40, 60, n), rng.uniform(20, 30, n))
        height_km = rng.uniform(20, 60, n)
        # Quality: cloud cover skewed to clear skies, some snow, incidence mostly moderate.
        cloud = np.round(100.0 * rng.random(n) ** 3, 2)
        cloud = np.where(rng.random(n) < 0.12, 0.0, cloud)
        snow = np.where(rng.random(n) < 0.85, 0.0, np.round(60.0 * rng.random(n) ** 2, 2))
        incidence = np.clip(np.abs(rng.normal(0.0, 11.0, n)), 0.3, 45.0)
        track_angle = rng.uniform(0.0, 2.0 * math.pi, n)
        across = incidence * np.cos(track_angle)
        along = incidence * np.sin(track_angle)
        azimuth = rng.uniform(0.0, 360.0, n)
        sun_azimuth = rng.uniform(100.0, 220.0, n)
        sun_elevation = rng.uniform(15.0, 72.0, n)
        level_code = rng.choice(3, size=n, p=[0.75, 0.15, 0.10])  # SENSOR, ORTHO, ALBUM
        pansharpened = rng.random(n) < 0.5
        station_code = rng.integers(0, 4, n)
        reference = rng.integers(0, 1_000_000, n)
        strip = rng.integers(0, 10_000, n)
        scene = rng.integers(0, 100_000, n)
        processing_delay = rng.uniform(0.5, 3.0, n) * 86_400_000_000
        publication_delay = rng.uniform(1.0, 14.0, n) * 3_600_000_000
        # Footprints: a rectangle turned a little off north, corners nudged like real scenes.
        rotation = np.radians(rng.uniform(-8.0, 8.0, n))
        jitter = rng.uniform(-0.02, 0.02, (n, 4, 2))
        identifiers = rng.bytes(16 * n)
        correlations = rng.bytes(16 * n)

        km_lat = 1.0 / 110.574
        km_lon = 1.0 / (111.320 * np.cos(np.radians(lat)))
        unit = np.array([[-0.5, 0.5], [0.5, 0.5], [0.5, -0.5], [-0.5, -0.5]])  # NW, NE, SE, SW (as the API)
        corner_x = (unit[None, :, 0] + jitter[:, :, 0]) * width_km[:, None]
        corner_y = (unit[None, :, 1] + jitter[:, :, 1]) * height_km[:, None]
        cos_r, sin_r = np.cos(rotation)[:, None], np.sin(rotation)[:, None]
        east = corner_x * cos_r - corner_y * sin_r
        north = corner_x * sin_r + corner_y * cos_r
        ring = np.empty((n, 5, 2))
        ring[:, :4, 0] = lon[:, None] + east * km_lon[:, None]
        ring[:, :4, 1] = lat[:, None] + north * km_lat
        ring[:, 4] = ring[:, 0]
        ring = np.round(ring, 10)
        geometries = shapely.polygons(ring)

        constellations = ("SPOT", "PHR", "PNEO")
        platforms = (("SPOT6", "SPOT7"), ("PHR1A", "PHR1B"), ("PNEO3", "PNEO4"))
        levels = ("SENSOR", "ORTHO", "ALBUM")
        level_prefix = ("SEN", "ORT", "ALB")
        stations = ("FR1", "SV1", "KR1", "CA1")

        def iso(micros: npt.NDArray[np.int64], unit: str) -> list[str]:
            texts = np.datetime_as_string(micros.astype("datetime64[us]"), unit=unit)  # type: ignore[call-overload]
            return [t + "Z" for t in texts.tolist()]

        acquired_i = acquired.astype(np.int64)
        processed_i = (acquired + processing_delay).astype(np.int64)
        published_i = (acquired + processing_delay + publication_delay).astype(np.int64)
        acquisition_dates = iso(acquired_i, "ms")
        processing_dates = iso(processed_i, "s")
        publication_dates = iso(published_i, "us")
        expiration_dates = iso(published_i + 365 * 86_400_000_000, "us")
        ids = _uuid_strings(identifiers, n)
        correlation_ids = _uuid_strings(correlations, n)
        platform_names = [
            platforms[c][s]
            for c, s in zip(constellation_code.tolist(), second_platform.astype(int).tolist(), strict=True)
        ]
        tiles = [
            f"{'W' if x < 0 else 'E'}{round(abs(x)):03d}{'S' if y < 0 else 'N'}{round(abs(y)):02d}"
            for x, y in zip(lon.tolist(), lat.tolist(), strict=True)
        ]
        cloud_list = [0 if v == 0 else v for v in cloud.tolist()]
        snow_list = [0 if v == 0 else v for v in snow.tolist()]
        columns = zip(
            ids,
            correlation_ids,
            constellation_code.tolist(),
            platform_names,
            level_code.tolist(),
            pansharpened.tolist(),
            station_code.tolist(),
            reference.tolist(),
            strip.tolist(),
            scene.tolist(),
            tiles,
            acquisition_dates,
            processing_dates,
            publication_dates,
            expiration_dates,
            cloud_list,
            snow_list,
            resolution.tolist(),
            np.round(incidence, 10).tolist(),
            np.round(across, 11).tolist(),
            np.round(along, 11).tolist(),
            np.round(azimuth, 9).tolist(),
            np.round(sun_azimuth, 9).tolist(),
            np.round(sun_elevation, 10).tolist(),
            ring.tolist(),
            strict=True,
        )
        features: list[dict[str, Any]] = []
        kept: list[int] = []
        seen = set(self._index)
        for i, (
            item_id,
            correlation_id,
            code,
            platform,
            level_i,
            sharpened,
            station_i,
            ref,
            strip_i,
            scene_i,
            tile,
            acquisition_date,
            processing_date,
            publication_date,
            expiration_date,
            cloud_i,
            snow_i,
            res_i,
            incidence_i,
            across_i,
            along_i,
            azimuth_i,
            sun_azimuth_i,
            sun_elevation_i,
            ring_i,
        ) in enumerate(columns):
            if item_id in seen:
                continue
            seen.add(item_id)
            # acquisition_date is "YYYY-MM-DDTHH:MM:SS.mmmZ".
            a = acquisition_date
            day, clock, millis = a[0:4] + a[5:7] + a[8:10], a[11:13] + a[14:16] + a[17:19], a[20:23]
            station = stations[station_i]
            if code == 0:
                parent = f"DS_{platform}_{day}{clock}{millis[0]}_FR1_FR1_{station}_{station}_{tile}_{scene_i:05d}"
            else:
                parent = f"DS_{platform}_{day}{clock}{millis[0]}_FR1_PX_{tile}_{strip_i:04d}_{scene_i:05d}"
            level = levels[level_i]
            source_id = f"{level_prefix[level_i]}_{platform}_{day}_{clock}{millis}_000"
            features.append(
                {
                    "_links": real_links(item_id, PUBLIC_WORKSPACE_ID),
                    "geometry": {"coordinates": [ring_i], "type": "Polygon"},
                    "properties": {
                        "acquisitionDate": acquisition_date,
                        "acquisitionStation": station,
                        "archivingCenter": "FR1",
                        "azimuthAngle": azimuth_i,
                        "cloudCover": cloud_i,
                        "commercialReference": f"SO{a[2:4]}{ref:06d}",
                        "constellation": constellations[code],
                        "correlationId": correlation_id,
                        "expirationDate": expiration_date,
                        "format": "image/jp2",
                        "id": item_id,
                        "illuminationAzimuthAngle": sun_azimuth_i,
                        "illuminationElevationAngle": sun_elevation_i,
                        "incidenceAngle": incidence_i,
                        "incidenceAngleAcrossTrack": across_i,
                        "incidenceAngleAlongTrack": along_i,
                        "organisationName": "AIRBUS DS",
                        "parentIdentifier": parent,
                        "platform": platform,
                        "processingCenter": "AOC",
                        "processingDate": processing_date,
                        "processingLevel": level,
                        "processorName": "IMFv6",
                        "productCategory": "image",
                        "productType": "pansharpened" if level_i == 1 and sharpened else "bundle",
                        "productionStatus": "IN_CLOUD",
                        "publicationDate": publication_date,
                        "qualified": False,
                        "resolution": res_i,
                        "sensorType": "OPTICAL",
                        "snowCover": snow_i,
                        "sourceIdentifier": source_id,
                        "spectralRange": "VISIBLE",
                        "title": source_id,
                        "workspaceId": PUBLIC_WORKSPACE_ID,
                        "workspaceName": PUBLIC_WORKSPACE_NAME,
                        "workspaceTitle": "Public",
                    },
                    "rights": _TUTORIAL_RIGHTS,
                    "type": "Feature",
                }
            )
            kept.append(i)
        self._extend(
            features,
            kept,
            {
                "acquisitionDate": acquired_i.astype(np.float64),
                "publicationDate": published_i.astype(np.float64),
                "cloudCover": cloud,
                "snowCover": snow,
                "incidenceAngle": np.round(incidence, 10),
                "resolution": resolution,
            },
            list(geometries),
        )

    def _extend(
        self,
        features: list[dict[str, Any]],
        kept: list[int],
        numbers: Mapping[str, FloatArray],
        geometries: list[BaseGeometry],
    ) -> None:
        """Append new features (ids known to be fresh); ``kept`` selects their rows in the columns."""
        start = len(self._features)
        for offset, feature in enumerate(features):
            self._index[feature["properties"]["id"]] = start + offset
        self._features.extend(features)
        self._geometries.extend(geometries[i] for i in kept)
        for name, values in numbers.items():
            self._numbers[name].extend(values[kept].tolist())
        properties = [f["properties"] for f in features]
        for name in TEXT_FIELDS:
            self._texts[name].extend([str(p[name]) for p in properties])
        self._snapshot = None


def _uuid_strings(random_bytes: bytes, n: int) -> list[str]:
    """``n`` version-4 UUID strings from ``16 * n`` random bytes."""
    raw = np.frombuffer(random_bytes, dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    text = raw.tobytes().hex()
    return [
        f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}" for h in (text[32 * i : 32 * i + 32] for i in range(n))
    ]
