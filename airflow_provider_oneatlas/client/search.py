"""The filtered search: every catalogue result of a query, kept or dropped by client-side filters.

The search API filters on cloud cover and geometry intersection; what users want on top of that is
"images that cover enough of my field", newest first, at most N. That is a workflow over the paged
search, and it lives with the client so the search operator, a trigger or a script share it. The AOI
is parsed once and reused by the search body and the coverage filter.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_oneatlas.client.errors import ValidationError
from airflow_provider_oneatlas.client.query import SearchQuery

if TYPE_CHECKING:
    from airflow_provider_oneatlas.client.client import OneAtlasClient


@dataclass
class SearchOutcome:
    """What :func:`search_images` kept, and what each client-side filter removed."""

    images: list[dict[str, Any]] = field(default_factory=list)
    read: int = 0
    #: filter name -> how many results it removed, in the order the filters run
    removed: dict[str, int] = field(default_factory=dict)
    #: results dropped by ``limit`` after filtering and sorting
    over_limit: int = 0
    #: the query as sent (its AOI checked and normalized)
    query: SearchQuery | None = None
    #: a hint when nothing was found at all, e.g. that the catalogue holds no image over the AOI
    note: str | None = None
    #: image id -> its raw catalogue feature, for each image in ``images`` (what STAC items are made of)
    features: dict[str, dict[str, Any]] = field(default_factory=dict)


def search_images(
    client: OneAtlasClient,
    query: SearchQuery,
    *,
    max_cloud_cover: float | None = None,
    min_coverage: float | None = None,
    newest_first: bool = True,
    limit: int | None = None,
    max_results: int | None = None,
    include_footprint: bool = True,
) -> SearchOutcome:
    """Read every result of ``query`` (past the API's cap, see ``iter_search``) and filter them.

    ``max_cloud_cover`` drops images cloudier than this percent (or with none given);
    ``min_coverage`` drops images covering less than this fraction of the query's AOI (geodesic
    areas; needs an areal AOI). Each kept image is a summary dict (``ImageSummary.to_dict()``) with
    ``coverage`` added when the query has an AOI. Every input is checked before any request.
    """
    from airflow_provider_oneatlas.client.geometry import coverage_against, to_search_geometry

    coverage = None
    if query.aoi is not None:
        geometry = to_search_geometry(query.aoi, field="aoi")  # parsed here, once for the whole search
        query = dataclasses.replace(query, aoi=geometry)
        # Coverage is a fraction of an area: it has no meaning for a point or a line.
        if geometry["type"] in ("Polygon", "MultiPolygon"):
            coverage = coverage_against(geometry)
        elif min_coverage is not None:
            raise ValidationError(
                "min_coverage", f"needs an areal AOI, got a {geometry['type']}", "a Polygon or MultiPolygon aoi"
            )
    query.validate()  # every other filter, before any request

    outcome = SearchOutcome(query=query)
    if max_cloud_cover is not None:
        outcome.removed["max_cloud_cover"] = 0
    if min_coverage is not None:
        outcome.removed["min_coverage"] = 0
    for image in client.iter_search(query, max_results=max_results):
        outcome.read += 1
        if max_cloud_cover is not None and (image.cloud_cover is None or image.cloud_cover > max_cloud_cover):
            outcome.removed["max_cloud_cover"] += 1
            continue
        summary = image.to_dict()
        if coverage is not None:
            summary["coverage"] = round(coverage(image.footprint), 6) if image.footprint else 0.0
            if min_coverage is not None and summary["coverage"] < min_coverage:
                outcome.removed["min_coverage"] += 1
                continue
        if not include_footprint:
            summary.pop("footprint", None)
        outcome.images.append(summary)
        outcome.features[image.id] = image.raw
    if outcome.read == 0 and query.aoi is not None and (query.acquisition_date or query.publication_date):
        outcome.note = _empty_window_note(client, query)
    if newest_first:
        outcome.images.sort(key=lambda s: (s.get("acquisition_date") or "", s["id"]), reverse=True)
    if limit is not None and len(outcome.images) > limit:
        outcome.over_limit = len(outcome.images) - limit
        outcome.images = outcome.images[:limit]
        outcome.features = {s["id"]: outcome.features[s["id"]] for s in outcome.images}
    return outcome


def _empty_window_note(client: OneAtlasClient, query: SearchQuery) -> str | None:
    """Nothing in the window: one page-of-one search over the AOI with no date tells "nothing new"
    from "no image here at all" (a field whose longitude and latitude are swapped, say)."""
    probe = dataclasses.replace(query, acquisition_date=None, publication_date=None, items_per_page=1, start_page=1)
    total = client.search(probe).total_results
    if total == 0:
        return (
            "the catalogue holds no image over this AOI at any date with these filters: check the AOI "
            "(GeoJSON positions are [longitude, latitude]) and the filters"
        )
    return None

