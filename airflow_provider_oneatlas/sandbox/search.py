"""OneAtlas search (OpenSearch): ``POST``/``GET`` ``/api/v1/opensearch`` and ``/api/v2/opensearch``.

The answer has the tutorial's shape::

    {"error": false, "features": [...], "itemsPerPage": 50, "startIndex": 0,
     "totalResults": 123, "type": "FeatureCollection"}

``startIndex`` is the 0-based position of the page's first result; ``totalResults`` is capped at
10,000 like the real API, and pages starting past the cap are refused (slice by acquisitionDate).
Links in each feature point at this server.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from airflow_provider_oneatlas.sandbox.auth import base_of, require_token
from airflow_provider_oneatlas.sandbox.catalog import (
    DEFAULT_ITEMS_PER_PAGE,
    MAX_ITEMS_PER_PAGE,
    SEARCH_RESULT_CAP,
    Catalog,
)
from airflow_provider_oneatlas.sandbox.errors import oneatlas_error
from airflow_provider_oneatlas.sandbox.filters import DATE_FIELDS, LIST_FIELDS, RANGE_FIELDS, FilterError, parse_filters
from airflow_provider_oneatlas.sandbox.samples import PUBLIC_WORKSPACE_ID, real_links

router = APIRouter()

SEARCH_PATHS = ("/api/v1/opensearch", "/api/v2/opensearch")
#: Query parameters that may repeat (``?constellation=SPOT&constellation=PHR``): values are joined.
_REPEATABLE = frozenset({*LIST_FIELDS, "workspace", "id", "ids", "sortBy"})


class _BadRequest(Exception):
    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def _page_number(params: Mapping[str, Any], name: str, default: int, low: int, high: int | None) -> int:
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise _BadRequest(f"{name}: {value!r} is not an integer")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise _BadRequest(f"{name}: {value!r} is not an integer") from None
    if not isinstance(value, int):
        raise _BadRequest(f"{name}: {value!r} is not an integer")
    if value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"from {low}"
        raise _BadRequest(f"{name}: {value} is out of range (an integer {bounds})")
    return value


def rebase(href: str, base: str) -> str:
    """The same path on this server (``base``), for http(s) links; other schemes unchanged."""
    parts = urlsplit(href)
    if parts.scheme not in ("http", "https"):
        return href
    return base + parts.path + (f"?{parts.query}" if parts.query else "")


def _rebased_link(link: Any, base: str) -> Any:
    if isinstance(link, Mapping) and isinstance(link.get("href"), str):
        return {**link, "href": rebase(link["href"], base)}
    if isinstance(link, list):
        return [_rebased_link(entry, base) for entry in link]
    return link


def download_links(item_id: str, workspace_id: str, base: str) -> list[dict[str, str]]:
    """The list form of a delivered item's ``download`` link: HTTP first, then the S3 location."""
    return [
        {"href": f"{base}/api/v1/items/{item_id}/download", "name": "download", "type": "HTTP"},
        {"href": f"s3://oneatlas-sandbox-deliveries/{workspace_id}/{item_id}.zip", "name": "download-s3", "type": "S3"},
    ]


def render_feature(feature: Mapping[str, Any], base: str) -> dict[str, Any]:
    """A stored feature as the search answers it: ``_links`` first, pointing at ``base``."""
    props = feature.get("properties") or {}
    item_id = str(props.get("id", ""))
    workspace_id = str(props.get("workspaceId", PUBLIC_WORKSPACE_ID))
    stored = feature.get("_links")
    links = dict(stored) if isinstance(stored, Mapping) else real_links(item_id, workspace_id)
    rendered = {name: _rebased_link(link, base) for name, link in links.items()}
    if workspace_id != PUBLIC_WORKSPACE_ID and "download" not in rendered:
        rendered["download"] = download_links(item_id, workspace_id, base)
    out: dict[str, Any] = {"_links": dict(sorted(rendered.items()))}
    for key in sorted(feature):
        if key != "_links":
            out[key] = feature[key]
    return out


def search_document(catalog: Catalog, params: Mapping[str, Any], base: str) -> dict[str, Any]:
    """The search answer for ``params`` (API names and value forms). Raises FilterError/_BadRequest."""
    items_per_page = _page_number(params, "itemsPerPage", DEFAULT_ITEMS_PER_PAGE, 0, MAX_ITEMS_PER_PAGE)
    start_page = _page_number(params, "startPage", 1, 1, None)
    start = (start_page - 1) * items_per_page
    if start >= SEARCH_RESULT_CAP:
        raise _BadRequest(
            f"startPage: page {start_page} of {items_per_page} results starts at result {start + 1}, past the "
            f"{SEARCH_RESULT_CAP} results a search can reach",
            hint=f"A search reaches its first {SEARCH_RESULT_CAP} results only: narrow it by acquisitionDate "
            "(slice the date range) to reach the others",
        )
    filters = parse_filters(params)
    positions = catalog.select(filters)
    total = min(int(positions.size), SEARCH_RESULT_CAP)
    page = positions[start : min(start + items_per_page, SEARCH_RESULT_CAP)]
    return {
        "error": False,
        "features": [render_feature(feature, base) for feature in catalog.features_at(page)],
        "itemsPerPage": items_per_page,
        "startIndex": start,
        "totalResults": total,
        "type": "FeatureCollection",
    }


def _hint(parameter: str) -> str:
    if parameter in RANGE_FIELDS:
        example = "[2019-01-01T00:00:00Z,2019-12-31T23:59:59Z]" if parameter in DATE_FIELDS else "[0,30]"
        return (
            f"A range such as '{example}': '[' and ']' include the bound, '(' and ')' (or a bracket turned "
            "outwards, '[a,b[') exclude it, "
            "a missing bound is open ('[0,' or ',30]'), a single value means equality"
        )
    return {
        "geometry": "GeoJSON (or WKT) Point, LineString, Polygon or MultiPolygon; a Polygon is a list of rings "
        "of [longitude, latitude] pairs",
        "bbox": "'minlon,minlat,maxlon,maxlat', e.g. '1.24,43.47,1.57,43.71'",
        "relation": "One of intersects (default), within, contains, disjoint",
        "sortBy": "Comma-separated property names, a minus for descending: '-acquisitionDate,cloudCover'",
        "q": "Free text, searched in titles and identifiers",
    }.get(parameter, "A name or a comma-separated list of names")


async def _request_params(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key in request.query_params:
        values = request.query_params.getlist(key)
        params[key] = ",".join(values) if key in _REPEATABLE else values[-1]
    if request.method == "POST":
        raw = await request.body()
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError as exc:
                raise _BadRequest(f"the request body is not valid JSON: {exc}") from None
            if not isinstance(body, dict):
                raise _BadRequest("the request body must be a JSON object of search parameters")
            params.update(body)
    return params


async def _search(request: Request) -> Response:
    catalog: Catalog = request.app.state.sandbox.catalog
    base = base_of(request)
    try:
        params = await _request_params(request)
        document = await run_in_threadpool(search_document, catalog, params, base)
    except FilterError as exc:
        return oneatlas_error(400, str(exc), hint=_hint(exc.parameter), internal_code="INVALID_PARAMETER")
    except _BadRequest as exc:
        return oneatlas_error(400, exc.message, hint=exc.hint, internal_code="INVALID_PARAMETER")
    body = await run_in_threadpool(json.dumps, document)
    return Response(content=body, media_type="application/json")


for _path in SEARCH_PATHS:
    for _method in ("GET", "POST"):
        router.add_api_route(
            _path,
            _search,
            methods=[_method],
            dependencies=[Depends(require_token)],
            name=f"opensearch_{_path.split('/')[2]}_{_method.lower()}",
        )
