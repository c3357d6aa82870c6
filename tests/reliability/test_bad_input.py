"""Malformed input is refused with the provider's ``ValidationError`` before anything is sent.

Each case names the parameter at fault (``.field``), the error says what would be accepted, and no
HTTP request leaves the process: neither the sandbox's request log nor ``requests`` sees one. Inputs
that are plain values an operator can check when it is constructed must be refused then, at DAG
parse time; the others (AOIs, which need the geometry library, writability, rendered templates) when
the task runs, still before any request.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oneatlas.client.api import ProductSpec
from airflow_provider_oneatlas.client.errors import AoiError, ValidationError
from airflow_provider_oneatlas.hooks.oneatlas import OneAtlasHook
from airflow_provider_oneatlas.operators.download import OneAtlasDownloadOperator
from airflow_provider_oneatlas.operators.order import OneAtlasOrderOperator
from airflow_provider_oneatlas.operators.price import OneAtlasPriceOperator
from airflow_provider_oneatlas.operators.quicklook import OneAtlasQuicklookOperator
from airflow_provider_oneatlas.operators.search import OneAtlasSearchOperator
from airflow_provider_oneatlas.sandbox.config import SandboxConfig
from airflow_provider_oneatlas.sandbox.server import SandboxServer
from tests.conftest import SANDBOX_KEY, TOULOUSE_FIELD
from tests.reliability.conftest import ITEM_ID, set_connection

OTHER_ID = "0f2b8c1e-5b7a-4c4e-8a51-3f6d2e9a7b10"


@dataclass
class Env:
    context: Any
    tmp: Path
    a_file: Path
    sandbox: SandboxServer
    http_log: list[tuple[str, str]]

    @property
    def hook(self) -> OneAtlasHook:
        return OneAtlasHook()


Call = Callable[[Env], Any]


@pytest.fixture(scope="module")
def module_sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(processing_after=0.2, delivered_after=0.6, download_size=64 * 1024)) as server:
        yield server


@pytest.fixture
def env(
    module_sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    context: Any,
    http_log: list[tuple[str, str]],
) -> Env:
    set_connection(monkeypatch, module_sandbox.base_url, password=SANDBOX_KEY)
    a_file = tmp_path / "a-regular-file"
    a_file.write_text("not a directory")
    return Env(context, tmp_path, a_file, module_sandbox, http_log)


def check_rejected(env: Env, call: Call, field: str, *, at_parse: bool, aoi: bool = False) -> ValidationError:
    before = env.sandbox.state.request_count
    error: ValidationError | None = None
    try:
        outcome = call(env)
    except ValidationError as exc:
        error = exc
    except Exception as exc:
        pytest.fail(
            f"refused with {type(exc).__name__} instead of the provider's ValidationError(field={field!r}): {exc!r}"
        )
    if error is None:
        when = "when the operator was constructed (DAG parse time)" if at_parse else "before any request"
        pytest.fail(f"not refused {when}: got {repr(outcome)[:300]}")
    if aoi:
        assert isinstance(error, AoiError), f"an AOI problem should be an AoiError, got {type(error).__name__}"
    assert error.field == field, f"the error names {error.field!r}, the parameter at fault is {field!r}: {error}"
    assert error.accepted and error.accepted.strip(), f"the error does not say what is accepted: {error}"
    text = str(error)
    assert text.startswith(f"{field}: ") and f"(accepted: {error.accepted})" in text
    sent = [r for r in env.sandbox.state.requests_since(before) if not r["path"].startswith("/_sandbox")]
    assert sent == [], f"requests reached the sandbox before the input was refused: {sent}"
    assert env.http_log == [], f"requests were sent before the input was refused: {env.http_log}"
    return error


def case(case_id: str, field: str, call: Call, *, at_parse: bool) -> Any:
    return pytest.param(call, field, at_parse, id=case_id)


# --------------------------------------------------------------------------------------------------
# Areas of interest
# --------------------------------------------------------------------------------------------------

_RING = TOULOUSE_FIELD["coordinates"][0]
_TOKYO = [[139.60, 35.60], [139.80, 35.60], [139.80, 35.75], [139.60, 35.75], [139.60, 35.60]]


def _poly(ring: Any) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [ring]}


def _feature(geometry: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": {}, "geometry": geometry}


#: (id, value, also refused by a search?) The search API accepts points and lines, and no AOI.
BAD_AOIS: list[tuple[str, Any, bool]] = [
    ("unclosed-ring", _poly(_RING[:-1]), True),
    ("too-short-ring", _poly([[1.30, 43.55], [1.40, 43.55], [1.30, 43.55]]), True),
    ("self-intersecting-bowtie", _poly([[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]), True),
    ("longitude-out-of-range", _poly([[200.0, 43.55], [201.0, 43.55], [201.0, 43.62], [200.0, 43.55]]), True),
    ("latitude-out-of-range", _poly([[1.30, 95.0], [1.40, 95.0], [1.40, 96.0], [1.30, 95.0]]), True),
    ("lat-lon-swapped", _poly([[lat, lon] for lon, lat in _TOKYO]), True),
    ("3d-coordinates", _poly([[*p, 150.0] for p in _RING]), True),
    ("nan-coordinate", _poly([[math.nan, 43.55], *_RING[1:-1], [math.nan, 43.55]]), True),
    ("infinite-coordinate", _poly([[math.inf, 43.55], *_RING[1:-1], [math.inf, 43.55]]), True),
    ("string-coordinate", _poly([["1.30", "43.55"], *_RING[1:-1], ["1.30", "43.55"]]), True),
    ("empty-polygon", {"type": "Polygon", "coordinates": []}, True),
    ("empty-ring", {"type": "Polygon", "coordinates": [[]]}, True),
    ("empty-string", "", True),
    ("blank-string", "   ", True),
    ("none-for-an-order", None, False),  # no AOI is fine for a search, not for an order
    ("empty-dict", {}, True),
    ("point-for-an-order", {"type": "Point", "coordinates": [1.35, 43.6]}, False),
    ("linestring-for-an-order", {"type": "LineString", "coordinates": [[1.3, 43.55], [1.4, 43.62]]}, False),
    (
        "flattened-coordinates-as-in-the-tutorial",
        {"type": "Polygon", "coordinates": [c for p in _RING for c in p]},
        True,
    ),
    ("missing-nesting-level", {"type": "Polygon", "coordinates": _RING}, True),
    ("multipolygon-nesting-for-polygon", {"type": "Polygon", "coordinates": [[_RING]]}, True),
    ("bad-wkt", "POLYGON((1.30 43.55, 1.40 43.55, 1.40 43.62", True),
    ("wkt-not-closed", "POLYGON((1.30 43.55, 1.40 43.55, 1.40 43.62, 1.30 43.62))", True),
    ("bad-json-string", '{"type": "Polygon", "coordinates": [[[1.30, 43.55], [1.40, 43.55],', True),
    ("json-string-in-a-string", '"{\\"type\\": \\"Polygon\\"}"', True),
    ("place-name", "Toulouse", True),
    (
        "featurecollection-with-2-features",
        {"type": "FeatureCollection", "features": [_feature(_poly(_RING)), _feature(_poly(_RING))]},
        True,
    ),
    ("featurecollection-empty", {"type": "FeatureCollection", "features": []}, True),
    ("feature-without-geometry", _feature(None), True),
    ("lower-case-type", {"type": "polygon", "coordinates": [_RING]}, True),
    ("geometrycollection", {"type": "GeometryCollection", "geometries": [_poly(_RING)]}, True),
    (
        "projected-crs",
        {**_poly(_RING), "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2154"}}},
        True,
    ),
    ("bbox-min-above-max", [1.40, 43.55, 1.30, 43.62], True),
    ("bbox-zero-area", [1.30, 43.55, 1.30, 43.62], True),
    ("bbox-three-numbers", [1.30, 43.55, 1.40], True),
    ("bbox-string-bad-number", "1.30,43.55,east,43.62", True),
    ("a-number", 42, True),
    ("zero-area-collinear", _poly([[0, 0], [1, 1], [2, 2], [0, 0]]), True),
    (
        "hole-outside-shell",
        {"type": "Polygon", "coordinates": [_RING, [[5, 5], [6, 5], [6, 6], [5, 6], [5, 5]]]},
        True,
    ),
    (
        "multipolygon-overlapping-parts",
        {"type": "MultiPolygon", "coordinates": [[_RING], [[[p[0] + 0.05, p[1]] for p in _RING]]]},
        True,
    ),
]


@pytest.mark.parametrize(("value", "search_refuses"), [pytest.param(v, s, id=i) for i, v, s in BAD_AOIS])
def test_bad_aoi_is_refused_by_the_order_operator(env: Env, value: Any, search_refuses: bool) -> None:
    def call(env: Env) -> Any:
        op = OneAtlasOrderOperator(task_id="order", image_ids=[ITEM_ID], aoi=value, kind="order.data.gb.product")
        return op.execute(env.context)

    check_rejected(env, call, "aoi", at_parse=False, aoi=True)


@pytest.mark.parametrize("value", [pytest.param(v, id=i) for i, v, s in BAD_AOIS if s])
def test_bad_aoi_is_refused_by_the_search_operator(env: Env, value: Any) -> None:
    def call(env: Env) -> Any:
        return OneAtlasSearchOperator(task_id="search", aoi=value).execute(env.context)

    check_rejected(env, call, "aoi", at_parse=False, aoi=True)


@pytest.mark.parametrize("value", [pytest.param(v, id=i) for i, v, s in BAD_AOIS if s][:12])
def test_bad_aoi_is_refused_by_the_hook(env: Env, value: Any) -> None:
    check_rejected(env, lambda env: env.hook.get_price([ProductSpec(ITEM_ID, value)]), "aoi", at_parse=False, aoi=True)


# --------------------------------------------------------------------------------------------------
# Ids
# --------------------------------------------------------------------------------------------------

BAD_IDS: list[tuple[str, Any]] = [
    ("dot-dot-slash", "../x"),
    ("space", "a b"),
    ("empty", ""),
    ("300-chars", "x" * 300),
    ("url", "https://data.api.oneatlas.airbus.com/api/v1/orders/abc"),
    ("encoded-traversal", "..%2F..%2Fetc"),
    ("slash", "abc/def"),
    ("query", "abc?x=1"),
]


def _id_entry_points() -> list[tuple[str, str, bool, Callable[[Env, Any], Any]]]:
    """(name, field, at parse time, call)."""
    from airflow_provider_oneatlas.sensors.oneatlas import OneAtlasOrderSensor

    return [
        ("sensor", "order_id", True, lambda env, v: OneAtlasOrderSensor(task_id="w", order_id=v, deferrable=False)),
        (
            "download-order_id",
            "order_id",
            True,
            lambda env, v: OneAtlasDownloadOperator(task_id="d", order_id=v, destination=str(env.tmp)),
        ),
        (
            "download-item_ids",
            "item_ids",
            True,
            lambda env, v: OneAtlasDownloadOperator(task_id="d", item_ids=[v], destination=str(env.tmp)),
        ),
        (
            "quicklook-image_ids",
            "image_ids",
            True,
            lambda env, v: OneAtlasQuicklookOperator(task_id="q", image_ids=[OTHER_ID, v], destination=str(env.tmp)),
        ),
        (
            "order-image_ids",
            "image_ids",
            True,
            lambda env, v: OneAtlasOrderOperator(task_id="o", image_ids=[{"id": v}], aoi=TOULOUSE_FIELD),
        ),
        (
            "price-image_ids",
            "image_ids",
            True,
            lambda env, v: OneAtlasPriceOperator(task_id="p", image_ids=v, aoi=TOULOUSE_FIELD),
        ),
        ("hook-get_order", "order_id", False, lambda env, v: env.hook.get_order(v)),
        ("hook-quicklook", "item_id", False, lambda env, v: env.hook.get_quicklook(v)),
        ("hook-download_item", "item_id", False, lambda env, v: env.hook.download_item(io.BytesIO(), v)),
    ]


@pytest.mark.parametrize(
    ("call", "field", "at_parse"),
    [
        case(
            f"{entry}-{name}",
            field,
            (lambda fn, v: lambda env: fn(env, v))(fn, value),
            at_parse=at_parse,
        )
        for entry, field, at_parse, fn in _id_entry_points()
        for name, value in BAD_IDS
    ],
)
def test_bad_id_is_refused(env: Env, call: Call, field: str, at_parse: bool) -> None:
    check_rejected(env, call, field, at_parse=at_parse)


# --------------------------------------------------------------------------------------------------
# Everything else, at DAG parse time
# --------------------------------------------------------------------------------------------------


def _search(**kwargs: Any) -> Call:
    return lambda env: OneAtlasSearchOperator(task_id="search", **kwargs)


def _order_op(**kwargs: Any) -> OneAtlasOrderOperator:
    args = {"task_id": "order", "image_ids": [ITEM_ID], "aoi": TOULOUSE_FIELD} | kwargs
    return OneAtlasOrderOperator(**args)


def _order(**kwargs: Any) -> Call:
    return lambda env: _order_op(**kwargs)


def _download_to(destination: Any) -> Call:
    return lambda env: OneAtlasDownloadOperator(task_id="d", item_ids=[ITEM_ID], destination=destination)


def _quicklook(**kwargs: Any) -> Call:
    def build(env: Env) -> Any:
        args = {"task_id": "q", "image_ids": [ITEM_ID], "destination": str(env.tmp)} | kwargs
        return OneAtlasQuicklookOperator(**args)

    return build


PARSE_TIME = [
    # dates
    case(
        "dates-wrong-order", "acquisition_date", _search(acquisition_date=("2024-05-31", "2024-05-01")), at_parse=True
    ),
    case("dates-dd/mm/yyyy", "acquisition_date", _search(acquisition_date=("01/05/2024", None)), at_parse=True),
    case("dates-month-13", "acquisition_date", _search(acquisition_date=("2024-13-01", None)), at_parse=True),
    case("dates-words", "acquisition_date", _search(acquisition_date=("yesterday", "today")), at_parse=True),
    case("dates-integers", "acquisition_date", _search(acquisition_date=(20240501, 20240531)), at_parse=True),
    case("dates-single-string", "acquisition_date", _search(acquisition_date="2024-05-01"), at_parse=True),
    case("dates-three-values", "acquisition_date", _search(acquisition_date=("2024", "2025", "2026")), at_parse=True),
    case("dates-unknown-keys", "acquisition_date", _search(acquisition_date={"from": "2024-05-01"}), at_parse=True),
    # cloud cover and other ranges
    case("cloud-negative", "cloud_cover", _search(cloud_cover=(-1, 10)), at_parse=True),
    case("cloud-above-100", "cloud_cover", _search(cloud_cover=(0, 101)), at_parse=True),
    case("cloud-reversed", "cloud_cover", _search(cloud_cover=(50, 10)), at_parse=True),
    case("cloud-text", "cloud_cover", _search(cloud_cover=("a", 10)), at_parse=True),
    case("cloud-nan", "cloud_cover", _search(cloud_cover=(math.nan, 10)), at_parse=True),
    case("cloud-scalar", "cloud_cover", _search(cloud_cover=50), at_parse=True),
    case("cloud-bool", "cloud_cover", _search(cloud_cover=(True, 10)), at_parse=True),
    case("max-cloud-130", "max_cloud_cover", _search(max_cloud_cover=130), at_parse=True),
    case("max-cloud-negative", "max_cloud_cover", _search(max_cloud_cover=-5), at_parse=True),
    case("max-cloud-text", "max_cloud_cover", _search(max_cloud_cover="cloudy"), at_parse=True),
    case("min-coverage-1.5", "min_coverage", _search(min_coverage=1.5), at_parse=True),
    case("min-coverage-negative", "min_coverage", _search(min_coverage=-0.1), at_parse=True),
    case("incidence-95", "incidence_angle", _search(incidence_angle=(0, 95)), at_parse=True),
    case("resolution-negative", "resolution", _search(resolution=(-1, 2)), at_parse=True),
    case("snow-150", "snow_cover", _search(snow_cover=(0, 150)), at_parse=True),
    # search choices and counts
    case("limit-0", "limit", _search(limit=0), at_parse=True),
    case("limit-negative", "limit", _search(limit=-3), at_parse=True),
    case("limit-text", "limit", _search(limit="many"), at_parse=True),
    case("limit-fraction", "limit", _search(limit=2.5), at_parse=True),
    case("max-results-0", "max_results", _search(max_results=0), at_parse=True),
    case("relation-unknown", "relation", _search(relation="overlaps"), at_parse=True),
    case("constellation-unknown", "constellation", _search(constellation="LANDSAT"), at_parse=True),
    case("constellation-number", "constellation", _search(constellation=["SPOT", 7]), at_parse=True),
    case("processing-level-unknown", "processing_level", _search(processing_level="L1C"), at_parse=True),
    case("search-product-type-typo", "product_type", _search(product_type="bundel"), at_parse=True),
    case("sort-by-with-space", "sort_by", _search(sort_by="acquisition date"), at_parse=True),
    case("workspace-empty-name", "workspace", _search(workspace=[""]), at_parse=True),
    case("platform-number", "platform", _search(platform=[1]), at_parse=True),
    # product options
    case("product-type-typo", "product_type", _order(product_type="bundel"), at_parse=True),
    case("product-type-capitalised", "product_type", _order(product_type="Bundle"), at_parse=True),
    case("radiometric-typo", "radiometric_processing", _order(radiometric_processing="REFLECTANSE"), at_parse=True),
    case("radiometric-unknown", "radiometric_processing", _order(radiometric_processing="8bit"), at_parse=True),
    case("image-format-png", "image_format", _order(image_format="image/png"), at_parse=True),
    case("image-format-bare", "image_format", _order(image_format="jp2"), at_parse=True),
    case("crs-short-form", "crs_code", _order(crs_code="EPSG:4326"), at_parse=True),
    case("crs-lambert93", "crs_code", _order(crs_code="urn:ogc:def:crs:EPSG::2154"), at_parse=True),
    case("crs-utm-zone-61", "crs_code", _order(crs_code="urn:ogc:def:crs:EPSG::32661"), at_parse=True),
    # kind
    case("kind-unknown", "kind", _order(kind="productOrder"), at_parse=True),
    case("kind-upper-case", "kind", _order(kind="ORDER.PRODUCT"), at_parse=True),
    case("kind-number", "kind", _order(kind=5), at_parse=True),
    case(
        "price-kind-unknown",
        "kind",
        lambda env: OneAtlasPriceOperator(task_id="p", image_ids=[ITEM_ID], aoi=TOULOUSE_FIELD, kind="bogus"),
        at_parse=True,
    ),
    # budgets
    case("budget-negative", "max_credits", _order(max_credits=-5), at_parse=True),
    case("budget-negative-text", "max_credits", _order(max_credits="-1"), at_parse=True),
    case("budget-text", "max_credits", _order(max_credits="lots"), at_parse=True),
    case("budget-nan", "max_credits", _order(max_credits=math.nan), at_parse=True),
    case("budget-infinite", "max_credits", _order(max_credits=math.inf), at_parse=True),
    # tags and references
    case("tag-with-digits", "tags", _order(tags=["farm2024"]), at_parse=True),
    case("tag-with-dash", "tags", _order(tags=["farm-a"]), at_parse=True),
    case("tag-with-space", "tags", _order(tags=["two words"]), at_parse=True),
    case("tag-empty", "tags", _order(tags=[""]), at_parse=True),
    case("tag-number", "tags", _order(tags=[5]), at_parse=True),
    case("customer-ref-blank", "customer_ref", _order(customer_ref="   "), at_parse=True),
    case("customer-ref-300-chars", "customer_ref", _order(customer_ref="r" * 300), at_parse=True),
    # destinations that are not destinations
    case("destination-relative", "destination", _download_to("relative/path"), at_parse=True),
    case("destination-dot-relative", "destination", _download_to("./imagery"), at_parse=True),
    case("destination-tilde", "destination", _download_to("~/imagery"), at_parse=True),
    case("destination-empty", "destination", _download_to(""), at_parse=True),
    case("destination-blank", "destination", _download_to("   "), at_parse=True),
    case("destination-not-a-url", "destination", _download_to("::nope"), at_parse=True),
    case("destination-bad-scheme", "destination", _download_to("ht!tp://bucket/x"), at_parse=True),
    case("destination-unknown-scheme", "destination", _download_to("nosuchproto://bucket/x"), at_parse=True),
    case("destination-number", "destination", _download_to(42), at_parse=True),
    case("destination-none", "destination", _download_to(None), at_parse=True),
    case("destination-bytes", "destination", _download_to(b"/data/imagery"), at_parse=True),
    case("quicklook-destination-relative", "destination", _quicklook(destination="previews"), at_parse=True),
    # widths
    case("width-0", "width", _quicklook(width=0), at_parse=True),
    case("width-5000", "width", _quicklook(width=5000), at_parse=True),
    case("width-negative", "width", _quicklook(width=-1), at_parse=True),
    case("width-text", "width", _quicklook(width="64"), at_parse=True),
    case("width-float", "width", _quicklook(width=64.0), at_parse=True),
    case("width-bool", "width", _quicklook(width=True), at_parse=True),
]


@pytest.mark.parametrize(("call", "field", "at_parse"), PARSE_TIME)
def test_bad_plain_value_is_refused_at_parse_time(env: Env, call: Call, field: str, at_parse: bool) -> None:
    check_rejected(env, call, field, at_parse=at_parse)


# --------------------------------------------------------------------------------------------------
# At run time, before any request: the hook, writability, rendered templates
# --------------------------------------------------------------------------------------------------


def _download_execute(destination: Callable[[Env], str]) -> Call:
    def run(env: Env) -> Any:
        op = OneAtlasDownloadOperator(task_id="d", item_ids=[ITEM_ID], destination=destination(env))
        return op.execute(env.context)

    return run


def _rendered(build: Callable[[], Any], *, method: str = "execute", **rendered: Any) -> Call:
    """Construct with templates, set what Jinja would render, then run ``method``."""

    def run(env: Env) -> Any:
        op = build()
        for name, value in rendered.items():
            setattr(op, name, value)
        return getattr(op, method)(env.context)

    return run


def _sensor_templated() -> Any:
    from airflow_provider_oneatlas.sensors.oneatlas import OneAtlasOrderSensor

    return OneAtlasOrderSensor(task_id="w", order_id="{{ ti.xcom_pull('order') }}", deferrable=False)


RUN_TIME = [
    # paging and widths through the hook
    case("items-per-page-0", "items_per_page", lambda env: env.hook.search(items_per_page=0), at_parse=False),
    case("items-per-page-501", "items_per_page", lambda env: env.hook.search(items_per_page=501), at_parse=False),
    case("items-per-page-text", "items_per_page", lambda env: env.hook.search(items_per_page="50"), at_parse=False),
    case("start-page-0", "start_page", lambda env: env.hook.search(start_page=0), at_parse=False),
    case(
        "start-page-past-the-cap",
        "start_page",
        lambda env: env.hook.search(items_per_page=500, start_page=21),
        at_parse=False,
    ),
    case("search-api-version-3", "api_version", lambda env: env.hook.search(api_version=3), at_parse=False),
    case("search-relation", "relation", lambda env: env.hook.search(relation="touches"), at_parse=False),
    case("search-bbox-reversed", "bbox", lambda env: env.hook.search(bbox=[1.4, 43.5, 1.3, 43.6]), at_parse=False),
    case("orders-per-page-0", "items_per_page", lambda env: env.hook.list_orders(items_per_page=0), at_parse=False),
    case("orders-per-page-501", "items_per_page", lambda env: env.hook.list_orders(items_per_page=501), at_parse=False),
    case("orders-page-0", "page", lambda env: env.hook.list_orders(page=0), at_parse=False),
    case("orders-page-text", "page", lambda env: env.hook.list_orders(page="2"), at_parse=False),
    case("orders-status-unknown", "status", lambda env: env.hook.list_orders(status="done"), at_parse=False),
    case(
        "find-orders-ref-300-chars",
        "customer_ref",
        lambda env: env.hook.find_orders(customer_ref="r" * 300),
        at_parse=False,
    ),
    case("thumbnail-width-0", "width", lambda env: env.hook.get_thumbnail(ITEM_ID, 0), at_parse=False),
    case("quicklook-width-5000", "width", lambda env: env.hook.get_quicklook(ITEM_ID, 5000), at_parse=False),
    case(
        "hook-price-crs",
        "crs_code",
        lambda env: env.hook.get_price([ProductSpec(ITEM_ID, TOULOUSE_FIELD, crs_code="EPSG:2154")]),
        at_parse=False,
    ),
    case(
        "hook-price-no-product",
        "products",
        lambda env: env.hook.get_price([]),
        at_parse=False,
    ),
    case(
        "hook-order-tags",
        "tags",
        lambda env: env.hook.create_order([ProductSpec(ITEM_ID, TOULOUSE_FIELD)], tags=["a1"]),
        at_parse=False,
    ),
    case(
        "hook-order-kind",
        "kind",
        lambda env: env.hook.create_order([ProductSpec(ITEM_ID, TOULOUSE_FIELD)], kind="order"),
        at_parse=False,
    ),
    case(
        "hook-order-empty-ref",
        "customer_ref",
        lambda env: env.hook.create_order([ProductSpec(ITEM_ID, TOULOUSE_FIELD)], customer_ref=""),
        at_parse=False,
    ),
    # destinations that cannot be written (tests run as root: a mode-0500 directory would not do)
    case(
        "destination-under-a-file",
        "destination",
        _download_execute(lambda env: f"{env.a_file}/sub/"),
        at_parse=False,
    ),
    case("destination-is-a-file", "destination", _download_execute(lambda env: str(env.a_file)), at_parse=False),
    case(
        "destination-url-under-a-file",
        "destination",
        _download_execute(lambda env: f"file://{env.a_file}/sub"),
        at_parse=False,
    ),
    case(
        "destination-in-proc", "destination", _download_execute(lambda env: "/proc/oneatlas-imagery/"), at_parse=False
    ),
    case(
        "destination-unknown-scheme-at-run-time",
        "destination",
        lambda env: _with(
            OneAtlasDownloadOperator(task_id="d", item_ids=[ITEM_ID], destination="{{ params.where }}"),
            destination="nosuchproto://bucket/imagery/",
        ).execute(env.context),
        at_parse=False,
    ),
    case(
        "quicklook-destination-under-a-file",
        "destination",
        lambda env: OneAtlasQuicklookOperator(
            task_id="q", image_ids=[ITEM_ID], destination=f"{env.a_file}/previews/"
        ).execute(env.context),
        at_parse=False,
    ),
    case(
        "download-item_ids-at-run-time",
        "item_ids",
        lambda env: OneAtlasDownloadOperator(task_id="d", item_ids=["../x"], destination=str(env.tmp)).execute(
            env.context
        ),
        at_parse=False,
    ),
    # rendered templates: checked when the task runs, still before any request
    case(
        "rendered-max-cloud-cover",
        "max_cloud_cover",
        _rendered(lambda: OneAtlasSearchOperator(task_id="s", max_cloud_cover="{{ params.c }}"), max_cloud_cover="abc"),
        at_parse=False,
    ),
    case(
        "rendered-dates-wrong-order",
        "acquisition_date",
        _rendered(
            lambda: OneAtlasSearchOperator(task_id="s", acquisition_date=("{{ ds }}", "{{ ds }}")),
            acquisition_date=("2024-05-31", "2024-05-01"),
        ),
        at_parse=False,
    ),
    case(
        "rendered-budget",
        "max_credits",
        _rendered(lambda: _order_op(max_credits="{{ params.budget }}"), max_credits="-5"),
        at_parse=False,
    ),
    case(
        "rendered-tags",
        "tags",
        _rendered(lambda: _order_op(tags=["{{ params.tag }}"]), tags=["a1"]),
        at_parse=False,
    ),
    case(
        "rendered-crs",
        "crs_code",
        _rendered(lambda: _order_op(crs_code="{{ params.crs }}"), crs_code="EPSG:4326"),
        at_parse=False,
    ),
    case(
        "rendered-sensor-order-id",
        "order_id",
        _rendered(_sensor_templated, method="poke", order_id="../x"),
        at_parse=False,
    ),
    case(
        "rendered-download-order-without-id",
        "order_id",
        lambda env: _with(
            OneAtlasDownloadOperator(task_id="d", order_id="{{ ti.xcom_pull('order') }}", destination=str(env.tmp)),
            order_id={"status": "delivered"},
        ).execute(env.context),
        at_parse=False,
    ),
    case(
        "rendered-download-destination",
        "destination",
        lambda env: _with(
            OneAtlasDownloadOperator(task_id="d", item_ids=[ITEM_ID], destination="{{ params.where }}"),
            destination="relative/imagery",
        ).execute(env.context),
        at_parse=False,
    ),
    case(
        "rendered-quicklook-results-without-id",
        "image_ids",
        lambda env: _with(
            OneAtlasQuicklookOperator(task_id="q", image_ids="{{ ti.xcom_pull('search') }}", destination=str(env.tmp)),
            image_ids=[{"identifier": ITEM_ID}],
        ).execute(env.context),
        at_parse=False,
    ),
]


def _with(op: Any, **rendered: Any) -> Any:
    for name, value in rendered.items():
        setattr(op, name, value)
    return op


@pytest.mark.parametrize(("call", "field", "at_parse"), RUN_TIME)
def test_bad_value_is_refused_before_any_request(env: Env, call: Call, field: str, at_parse: bool) -> None:
    check_rejected(env, call, field, at_parse=at_parse)


def test_an_unwritable_destination_is_left_untouched(env: Env) -> None:
    """Refusing a destination under a regular file must not create anything either."""
    with pytest.raises(ValidationError):
        _download_execute(lambda env: f"{env.a_file}/sub/")(env)
    assert env.a_file.read_text() == "not a directory"
    assert sorted(p.name for p in env.tmp.iterdir()) == [env.a_file.name]


def test_corpus_size() -> None:
    """The issue asks for at least 60 malformed inputs; count the distinct ones."""
    distinct = len(BAD_AOIS) + len(BAD_IDS) + len(PARSE_TIME) + len(RUN_TIME)
    assert distinct >= 60
