"""What users ask for, checked: search filters, product options, ids, dates and ranges.

Pure and light (no HTTP client, no response models): the operators import this at DAG parse time to
refuse bad input before a task ever runs; ``api.py`` builds requests from it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from airflow_provider_oneatlas.client.errors import ValidationError

#: Order kinds: a GB subscription needs the first, a tiles subscription the second.
ORDER_KIND_GB = "order.data.gb.product"
ORDER_KIND_TILES = "order.product"
ORDER_KINDS = (ORDER_KIND_GB, ORDER_KIND_TILES, "order.data.product")

MAX_ITEMS_PER_PAGE = 500
#: The search API never reports (nor pages) past this many results: slice the query by date instead.
SEARCH_RESULT_CAP = 10_000
MAX_ORDERS_PER_PAGE = 500

RELATIONS = ("intersects", "within", "contains", "disjoint")
CONSTELLATIONS = ("SPOT", "PHR", "PNEO")
PROCESSING_LEVELS = ("SENSOR", "ORTHO", "ALBUM")
PRODUCT_TYPES = ("bundle", "pansharpened", "bundle-fs", "pansharpened-fs")
RADIOMETRIC_PROCESSINGS = ("REFLECTANCE", "DISPLAY", "BASIC16")
IMAGE_FORMATS = ("image/jp2", "image/geotiff")
ORDER_STATUSES = ("ordered", "processing", "delivered", "failed", "error", "rejected")
CRS_RE = re.compile(r"^urn:ogc:def:crs:EPSG::(4326|326(0[1-9]|[1-5]\d|60)|327(0[1-9]|[1-5]\d|60))$")
_TAG_RE = re.compile(r"^[A-Za-z]+$")
_SORT_KEY_RE = re.compile(r"^[+-]?[A-Za-z][A-Za-z0-9]*$")
#: Identifiers seen in the real API are UUIDs, but not every one is well formed (the tutorial's
#: subscription ids are not), so ids are checked for a safe shape rather than for UUID syntax.
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{2,127}$")

CRS_ACCEPTED = "urn:ogc:def:crs:EPSG::4326 or a WGS84/UTM code urn:ogc:def:crs:EPSG::326NN / 327NN"


# --------------------------------------------------------------------------------------------------
# Input checks shared by builders, operators and the trigger
# --------------------------------------------------------------------------------------------------


def check_id(value: Any, field_name: str) -> str:
    """An order or item id: a non-empty identifier, not a URL or a path."""
    if not isinstance(value, str) or not _ID_RE.match(value.strip()):
        raise ValidationError(
            field_name,
            f"{value!r} is not a OneAtlas id",
            "an id such as 'e459d653-468f-471b-8d6e-90b13b14c655' (letters, digits, '-', '_', '.')",
        )
    return value.strip()


def check_number(value: Any, field_name: str, *, lower: float, upper: float) -> float | None:
    """A number from a DAG argument or a rendered template (which may be a string); None stays None."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError(
            field_name, f"{value!r} is not a number", f"a number from {lower:g} to {upper:g}"
        ) from None
    if not lower <= number <= upper or number != number:
        raise ValidationError(field_name, f"{value!r} is out of range", f"a number from {lower:g} to {upper:g}")
    return number


def check_count(value: Any, field_name: str, *, upper: int = 10_000_000) -> int | None:
    """A whole number from 1 to ``upper`` (a rendered template may be a string); None stays None."""
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError(field_name, f"{value!r} is not a whole number", f"an integer from 1 to {upper}") from None
    if (isinstance(value, float) and value != number) or not 1 <= number <= upper:
        raise ValidationError(field_name, f"{value!r} is out of range", f"an integer from 1 to {upper}")
    return number


def check_image_ids(value: Any, field_name: str = "image_ids") -> list[str]:
    """Image ids from an id, a list of ids, or the summaries the search returns (dicts with ``id``)."""
    items = value if isinstance(value, (list, tuple)) else [value]
    ids = []
    for item in items:
        if isinstance(item, dict):
            item = item.get("id")
        ids.append(check_id(item, field_name))
    if not ids:
        raise ValidationError(field_name, "no image given", "an image id, a list of ids, or search results")
    return ids


def check_product_type(value: Any) -> str:
    return _choice(value, "product_type", PRODUCT_TYPES)


def check_radiometric_processing(value: Any) -> str:
    return _choice(value, "radiometric_processing", RADIOMETRIC_PROCESSINGS, upper=True)


def check_image_format(value: Any) -> str:
    return _choice(value, "image_format", IMAGE_FORMATS)


def check_crs_code(value: Any) -> str:
    crs = value.strip() if isinstance(value, str) else value
    if not isinstance(crs, str) or not CRS_RE.match(crs):
        raise ValidationError("crs_code", f"unknown value {value!r}", CRS_ACCEPTED)
    return crs


def _choice(value: Any, field_name: str, choices: Sequence[str], *, upper: bool = False) -> str:
    if not isinstance(value, str):
        raise ValidationError(field_name, f"{value!r} is not a string", ", ".join(choices))
    text = value.strip().upper() if upper else value.strip()
    if text not in choices:
        raise ValidationError(field_name, f"unknown value {value!r}", ", ".join(choices))
    return text


def _choices(value: Any, field_name: str, choices: Sequence[str], *, upper: bool = False) -> list[str]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, Iterable) or isinstance(items, (bytes, Mapping)):
        raise ValidationError(
            field_name, f"{value!r} is not a list", "a list or comma-separated string of " + ", ".join(choices)
        )
    result = [_choice(item, field_name, choices, upper=upper) for item in items]
    if not result:
        raise ValidationError(field_name, "empty list", ", ".join(choices))
    return result


def to_utc_datetime(value: Any, field_name: str) -> datetime:
    """A datetime, date or ISO 8601 string as an aware UTC datetime. Naive values are taken as UTC."""
    if isinstance(value, datetime):
        result = value
    elif isinstance(value, date):
        result = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            result = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(
                field_name, f"{value!r} is not an ISO 8601 date", "e.g. '2024-05-01' or '2024-05-01T00:00:00Z'"
            ) from None
    elif hasattr(value, "isoformat") and hasattr(value, "tzinfo"):  # pendulum and friends
        result = datetime.fromisoformat(value.isoformat())
    else:
        raise ValidationError(field_name, f"{value!r} is not a date", "a datetime, a date or an ISO 8601 string")
    if result.tzinfo is None:
        result = result.replace(tzinfo=timezone.utc)
    utc = result.astimezone(timezone.utc)
    # A plain datetime, whatever came in: pendulum's arithmetic drops a stdlib tzinfo.
    return datetime(
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond, tzinfo=timezone.utc
    )


def format_datetime(value: datetime) -> str:
    text = value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond // 1000:03d}"
    return text + "Z"


def _range_bounds(value: Any, field_name: str) -> tuple[Any, Any]:
    if isinstance(value, Mapping):
        unknown = set(value) - {"min", "max", "start", "end"}
        if unknown:
            raise ValidationError(field_name, f"unknown keys {sorted(unknown)}", "{'min': ..., 'max': ...}")
        return value.get("min", value.get("start")), value.get("max", value.get("end"))
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return value[0], value[1]
    raise ValidationError(field_name, f"{value!r} is not a range", "a pair (low, high); either end may be None")


def number_range(value: Any, field_name: str, *, lower: float, upper: float) -> str | None:
    """``(low, high)`` -> the API's inclusive range string ``"[low,high]"``, open ends allowed."""
    if value is None:
        return None
    low, high = _range_bounds(value, field_name)
    bounds: list[float | None] = []
    for bound in (low, high):
        if bound is None or bound == "":
            bounds.append(None)
            continue
        if isinstance(bound, str):
            # A rendered template gives strings ("20"): take them when they are numbers.
            try:
                bound = float(bound)
            except ValueError:
                raise ValidationError(
                    field_name, f"{bound!r} is not a number", f"numbers from {lower} to {upper}"
                ) from None
        if isinstance(bound, bool) or not isinstance(bound, (int, float)) or bound != bound:
            raise ValidationError(field_name, f"{bound!r} is not a number", f"numbers from {lower} to {upper}")
        if not lower <= bound <= upper:
            raise ValidationError(field_name, f"{bound} is out of range", f"numbers from {lower} to {upper}")
        bounds.append(float(bound))
    if bounds[0] is not None and bounds[1] is not None and bounds[0] > bounds[1]:
        raise ValidationError(field_name, f"low {bounds[0]} is above high {bounds[1]}", "(low, high) with low <= high")
    return "[" + ",".join("" if b is None else _num(b) for b in bounds) + "]"


def _num(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


#: What an empty window from a scheduled run means, and how to fix it.
EMPTY_WINDOW_FIX = (
    "a window with start before end. With schedule='@daily', Airflow 3 runs have zero-length data "
    "intervals (CronTriggerTimetable): search by publication date since the previous run "
    "(OneAtlasSearchOperator(published_since_previous_run=True)), or give the DAG a timetable with "
    "real intervals (schedule=CronDataIntervalTimetable('@daily', timezone='UTC'))"
)


def date_range(value: Any, field_name: str = "acquisition_date") -> tuple[datetime | None, datetime | None] | None:
    """``(start, end)`` as UTC datetimes, open ends allowed. A zero-length window is refused: it comes
    from a schedule whose runs have empty data intervals, and would find nothing, silently."""
    if value is None:
        return None
    low, high = _range_bounds(value, field_name)
    start = None if low is None else to_utc_datetime(low, field_name)
    end = None if high is None else to_utc_datetime(high, field_name)
    if start is not None and end is not None:
        if start > end:
            raise ValidationError(
                field_name,
                f"start {format_datetime(start)} is after end {format_datetime(end)}",
                "(start, end) with start <= end",
            )
        if start == end:
            raise ValidationError(
                field_name, f"the window starts and ends at {format_datetime(start)}: it is empty", EMPTY_WINDOW_FIX
            )
    return start, end


def format_date_range(start: datetime | None, end: datetime | None, *, end_exclusive: bool = False) -> str:
    """The API's date range (acquisitionDate, publicationDate); half-open when slicing or for
    contiguous windows, so no image falls in two of them."""
    left = "" if start is None else format_datetime(start)
    right = "" if end is None else format_datetime(end)
    return f"[{left},{right}{')' if end_exclusive else ']'}"


# --------------------------------------------------------------------------------------------------
# Search
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchQuery:
    """Typed search filters; ``to_body()`` builds the OpenSearch request body.

    Ranges are pairs ``(low, high)`` with ``None`` for an open end; dates may be datetimes, dates or
    ISO strings. ``extra`` passes any other OpenSearch parameter through unchanged.
    """

    aoi: Any = None
    relation: str | None = None
    bbox: Any = None
    acquisition_date: Any = None
    #: When images became searchable: ``(start, end)``, half-open ``[start, end)`` so that contiguous
    #: windows of scheduled runs never see an image twice.
    publication_date: Any = None
    cloud_cover: Any = None
    incidence_angle: Any = None
    snow_cover: Any = None
    resolution: Any = None
    constellation: Any = None
    platform: Any = None
    processing_level: Any = None
    product_type: Any = None
    workspace: Any = None
    q: str | None = None
    sort_by: Any = None
    items_per_page: int = 50
    start_page: int = 1
    extra: Mapping[str, Any] = field(default_factory=dict)

    def validate(self) -> SearchQuery:
        self.to_body()
        return self

    def date_bounds(self) -> tuple[datetime | None, datetime | None]:
        bounds = date_range(self.acquisition_date)
        return bounds if bounds else (None, None)

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.aoi is not None:
            from airflow_provider_oneatlas.client.geometry import to_search_geometry

            body["geometry"] = to_search_geometry(self.aoi, field="aoi")
        if self.relation is not None:
            body["relation"] = _choice(self.relation, "relation", RELATIONS)
        if self.bbox is not None:
            from airflow_provider_oneatlas.client.geometry import bbox_string

            body["bbox"] = bbox_string(self.bbox, field="bbox")
        if self.acquisition_date is not None:
            start, end = self.date_bounds()
            body["acquisitionDate"] = format_date_range(start, end)
        if self.publication_date is not None:
            bounds = date_range(self.publication_date, "publication_date")
            if bounds is not None:
                body["publicationDate"] = format_date_range(*bounds, end_exclusive=True)
        for key, attr, upper in (
            ("cloudCover", "cloud_cover", 100.0),
            ("incidenceAngle", "incidence_angle", 90.0),
            ("snowCover", "snow_cover", 100.0),
            ("resolution", "resolution", 1000.0),
        ):
            text = number_range(getattr(self, attr), attr, lower=0.0, upper=upper)
            if text is not None:
                body[key] = text
        if self.constellation is not None:
            body["constellation"] = ",".join(_choices(self.constellation, "constellation", CONSTELLATIONS, upper=True))
        if self.processing_level is not None:
            body["processingLevel"] = ",".join(
                _choices(self.processing_level, "processing_level", PROCESSING_LEVELS, upper=True)
            )
        if self.product_type is not None:
            body["productType"] = ",".join(_choices(self.product_type, "product_type", PRODUCT_TYPES))
        for key, attr in (("platform", "platform"), ("workspace", "workspace")):
            value = getattr(self, attr)
            if value is not None:
                items = value.split(",") if isinstance(value, str) else list(value)
                if not items or not all(isinstance(i, str) and i.strip() for i in items):
                    raise ValidationError(attr, f"{value!r} is not a list of names", "a name or a list of names")
                body[key] = ",".join(i.strip() for i in items)
        if self.q is not None:
            if not isinstance(self.q, str):
                raise ValidationError("q", f"{self.q!r} is not a string", "free text")
            body["q"] = self.q
        if self.sort_by is not None:
            keys = self.sort_by.split(",") if isinstance(self.sort_by, str) else list(self.sort_by)
            if not keys or not all(isinstance(k, str) and _SORT_KEY_RE.match(k.strip()) for k in keys):
                raise ValidationError(
                    "sort_by",
                    f"{self.sort_by!r} is not a list of property names",
                    "e.g. '-acquisitionDate,cloudCover' (minus for descending)",
                )
            body["sortBy"] = ",".join(k.strip() for k in keys)
        if (
            isinstance(self.items_per_page, bool)
            or not isinstance(self.items_per_page, int)
            or not (1 <= self.items_per_page <= MAX_ITEMS_PER_PAGE)
        ):
            raise ValidationError(
                "items_per_page",
                f"{self.items_per_page!r} is out of range",
                f"an integer from 1 to {MAX_ITEMS_PER_PAGE}",
            )
        if isinstance(self.start_page, bool) or not isinstance(self.start_page, int) or self.start_page < 1:
            raise ValidationError("start_page", f"{self.start_page!r} is not a page number", "an integer from 1")
        if (self.start_page - 1) * self.items_per_page >= SEARCH_RESULT_CAP:
            raise ValidationError(
                "start_page",
                f"page {self.start_page} starts past the API's {SEARCH_RESULT_CAP}-result cap",
                "iter_search(), which slices the date range to reach every result",
            )
        body["itemsPerPage"] = self.items_per_page
        body["startPage"] = self.start_page
        for key, value in self.extra.items():
            body.setdefault(key, value)
        return body


@dataclass(frozen=True)
class ProductSpec:
    """One product of a price or order request: an image, the options, and the AOI to cut."""

    item_id: str
    aoi: Any
    product_type: str = "bundle"
    radiometric_processing: str = "REFLECTANCE"
    image_format: str = "image/jp2"
    crs_code: str = "urn:ogc:def:crs:EPSG::4326"

    def to_payload(self) -> dict[str, Any]:
        from airflow_provider_oneatlas.client.geometry import to_aoi

        crs = check_crs_code(self.crs_code)
        return {
            "productType": check_product_type(self.product_type),
            "radiometricProcessing": check_radiometric_processing(self.radiometric_processing),
            "imageFormat": check_image_format(self.image_format),
            "crsCode": crs,
            "id": check_id(self.item_id, "item_id"),
            "aoi": to_aoi(self.aoi, field="aoi"),
        }


def check_kind(kind: Any) -> str:
    return _choice(kind, "kind", ORDER_KINDS)


def check_customer_ref(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 256:
        raise ValidationError(
            "customer_ref", f"{value!r} is not a reference", "a non-empty string of up to 256 characters"
        )
    return value


def check_tags(value: Any) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Iterable) or isinstance(items, Mapping):
        raise ValidationError("tags", f"{value!r} is not a list", "a list of words made of letters only")
    result = []
    for tag in items:
        if not isinstance(tag, str) or not _TAG_RE.match(tag):
            raise ValidationError(
                "tags", f"{tag!r} is not a tag", "words made of letters only (A-Z, a-z), as the API requires"
            )
        result.append(tag)
    return result


def order_body(
    kind: str,
    products: Sequence[ProductSpec],
    *,
    customer_ref: str | None = None,
    tags: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The body shared by ``/api/v1/prices`` and ``/api/v1/orders``."""
    if not products:
        raise ValidationError("products", "no product given", "at least one image id with its options")
    body: dict[str, Any] = {"kind": check_kind(kind), "products": [p.to_payload() for p in products]}
    ref = check_customer_ref(customer_ref)
    if ref is not None:
        body["customerRef"] = ref
    checked_tags = check_tags(tags)
    if checked_tags:
        body["tags"] = checked_tags
    return body


def check_width(width: Any) -> int | None:
    """A quicklook/thumbnail width in pixels."""
    if width is None:
        return None
    if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= 4096:
        raise ValidationError("width", f"{width!r} is not a width in pixels", "an integer from 1 to 4096")
    return width


def describe_query(query: SearchQuery) -> str:
    """One line saying what a search asks for: the windows, the AOI's bounding box, the filters.

    For the task log, so that "nothing new" can be told apart from a wrong window or a field whose
    longitude and latitude are swapped.
    """
    body = query.to_body()
    parts = []
    for key, label in (("publicationDate", "published"), ("acquisitionDate", "acquired")):
        if key in body:
            parts.append(f"{label} {body[key]}")
    if "geometry" in body:
        from airflow_provider_oneatlas.client.geometry import parse_bbox

        west, south, east, north = parse_bbox(body["geometry"], field="aoi")
        parts.append(
            f"AOI {body['geometry']['type']} bbox lon {west:.5f}..{east:.5f}, lat {south:.5f}..{north:.5f}"
            f" ({body.get('relation', 'intersects')})"
        )
    skip = {"geometry", "relation", "publicationDate", "acquisitionDate", "itemsPerPage", "startPage"}
    parts.extend(f"{key}={value}" for key, value in body.items() if key not in skip)
    return "; ".join(parts) or "no filter"

