"""``OneAtlasSearchOperator``: finds images in the Living Library catalogue."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context

from airflow_provider_oneatlas.client.errors import ValidationError
from airflow_provider_oneatlas.client.query import SearchQuery
from airflow_provider_oneatlas.operators.base import OneAtlasBaseOperator, is_templated
from airflow_provider_oneatlas.version_compat import AirflowSkipException


def as_number(value: Any, field: str, *, lower: float, upper: float) -> float | None:
    """A number from a DAG argument or a rendered template (which may be a string)."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError(field, f"{value!r} is not a number", f"a number from {lower:g} to {upper:g}") from None
    if not lower <= number <= upper or number != number:
        raise ValidationError(field, f"{value!r} is out of range", f"a number from {lower:g} to {upper:g}")
    return number


def as_count(value: Any, field: str, *, upper: int = 10_000_000) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError(field, f"{value!r} is not a whole number", f"an integer from 1 to {upper}") from None
    if (isinstance(value, float) and value != number) or not 1 <= number <= upper:
        raise ValidationError(field, f"{value!r} is out of range", f"an integer from 1 to {upper}")
    return number


class OneAtlasSearchOperator(OneAtlasBaseOperator):
    """Searches OneAtlas and returns compact image summaries, fit for dynamic task mapping.

    Server-side filters (all optional, see ``SearchQuery``):

    :param aoi: area of interest: GeoJSON (geometry, Feature, one-feature FeatureCollection), WKT,
        a shapely geometry or a bbox ``[minlon, minlat, maxlon, maxlat]`` (templated).
    :param acquisition_date: ``(start, end)``, datetimes or ISO strings, either end may be None
        (templated; e.g. ``("{{ data_interval_start }}", "{{ data_interval_end }}")``).
    :param relation: ``intersects`` (default), ``within``, ``contains`` or ``disjoint``.
    :param cloud_cover: ``(min, max)`` percent, 0-100 (templated).
    :param incidence_angle: ``(min, max)`` degrees.
    :param snow_cover: ``(min, max)`` percent.
    :param resolution: ``(min, max)`` metres.
    :param constellation: ``SPOT``, ``PHR``, ``PNEO`` or a list of them (templated).
    :param platform: platform name(s), e.g. ``SPOT7``.
    :param processing_level: ``SENSOR``, ``ORTHO`` or ``ALBUM`` (templated).
    :param product_type: ``bundle``, ``pansharpened``, ...
    :param workspace: workspace id(s) or name(s) such as ``public`` (templated).
    :param sort_by: e.g. ``-acquisitionDate,cloudCover``.
    :param q: free-text query.
    :param extra_filters: other OpenSearch parameters, passed through.

    Client-side filters, applied to what the server returned:

    :param max_cloud_cover: drop images cloudier than this percent (templated).
    :param min_coverage: drop images whose footprint covers less than this fraction (0-1) of the AOI
        (geodesic areas; templated).
    :param newest_first: sort the result by acquisition date, newest first (default True).
    :param limit: keep at most this many images (default 50): XCom stays small.
    :param max_results: stop reading the catalogue after this many raw results (default 10,000).
    :param include_footprint: keep each image's footprint polygon in the summaries (default True).
    :param skip_if_empty: raise ``AirflowSkipException`` when nothing is left (default False).

    Returns a list of dicts: ``id``, ``acquisition_date``, ``cloud_cover``, ``constellation``,
    ``platform``, ``processing_level``, ``resolution``, ``incidence_angle``, ``workspace_id``,
    ``coverage`` (fraction of the AOI, when an AOI is given), ``footprint``, ``links``.
    """

    template_fields: Sequence[str] = (
        "oneatlas_conn_id",
        "aoi",
        "acquisition_date",
        "cloud_cover",
        "constellation",
        "processing_level",
        "workspace",
        "max_cloud_cover",
        "min_coverage",
        "limit",
    )
    template_fields_renderers = {"aoi": "json"}
    ui_color = "#a6c8ff"

    def __init__(
        self,
        *,
        aoi: Any = None,
        acquisition_date: Any = None,
        relation: str | None = None,
        cloud_cover: Any = None,
        incidence_angle: Any = None,
        snow_cover: Any = None,
        resolution: Any = None,
        constellation: Any = None,
        platform: Any = None,
        processing_level: Any = None,
        product_type: Any = None,
        workspace: Any = None,
        sort_by: Any = None,
        q: str | None = None,
        extra_filters: dict[str, Any] | None = None,
        max_cloud_cover: Any = None,
        min_coverage: Any = None,
        newest_first: bool = True,
        limit: Any = 50,
        max_results: int = 10_000,
        include_footprint: bool = True,
        skip_if_empty: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.aoi = aoi
        self.acquisition_date = acquisition_date
        self.relation = relation
        self.cloud_cover = cloud_cover
        self.incidence_angle = incidence_angle
        self.snow_cover = snow_cover
        self.resolution = resolution
        self.constellation = constellation
        self.platform = platform
        self.processing_level = processing_level
        self.product_type = product_type
        self.workspace = workspace
        self.sort_by = sort_by
        self.q = q
        self.extra_filters = extra_filters or {}
        self.max_cloud_cover = max_cloud_cover
        self.min_coverage = min_coverage
        self.newest_first = newest_first
        self.limit = limit
        self.max_results = max_results
        self.include_footprint = include_footprint
        self.skip_if_empty = skip_if_empty
        # Cheap checks at parse time (no geometry library): a broken DAG fails when it is loaded.
        self._check_scalars(skip_templated=True)

    def _check_scalars(self, *, skip_templated: bool) -> None:
        def ready(value: Any) -> bool:
            return not (skip_templated and is_templated(value))

        if ready(self.max_cloud_cover):
            as_number(self.max_cloud_cover, "max_cloud_cover", lower=0, upper=100)
        if ready(self.min_coverage):
            as_number(self.min_coverage, "min_coverage", lower=0, upper=1)
        if ready(self.limit):
            as_count(self.limit, "limit")
        as_count(self.max_results, "max_results")
        fields = (self.acquisition_date, self.cloud_cover, self.constellation, self.processing_level, self.workspace)
        if not any(is_templated(v) for v in fields) or not skip_templated:
            self._query(with_aoi=False).to_body()

    def _query(self, *, with_aoi: bool = True) -> SearchQuery:
        return SearchQuery(
            aoi=self.aoi if with_aoi else None,
            relation=self.relation,
            acquisition_date=self.acquisition_date,
            cloud_cover=self.cloud_cover,
            incidence_angle=self.incidence_angle,
            snow_cover=self.snow_cover,
            resolution=self.resolution,
            constellation=self.constellation,
            platform=self.platform,
            processing_level=self.processing_level,
            product_type=self.product_type,
            workspace=self.workspace,
            sort_by=self.sort_by,
            q=self.q,
            extra=self.extra_filters,
        )

    def execute(self, context: Context) -> list[dict[str, Any]]:
        self._check_scalars(skip_templated=False)
        query = self._query().validate()  # every filter, the AOI included, before any request
        max_cloud = as_number(self.max_cloud_cover, "max_cloud_cover", lower=0, upper=100)
        min_coverage = as_number(self.min_coverage, "min_coverage", lower=0, upper=1)
        limit = as_count(self.limit, "limit")
        aoi_shape = None
        if self.aoi is not None:
            from shapely.geometry import shape

            from airflow_provider_oneatlas.client.geometry import to_search_geometry

            candidate = shape(to_search_geometry(self.aoi, field="aoi"))
            # Coverage is a fraction of an area: it has no meaning for a point or a line.
            if candidate.geom_type in ("Polygon", "MultiPolygon"):
                aoi_shape = candidate
            elif min_coverage is not None:
                raise ValidationError(
                    "min_coverage", f"needs an areal AOI, got a {candidate.geom_type}", "a Polygon or MultiPolygon aoi"
                )
        coverage = None
        if aoi_shape is not None:
            from airflow_provider_oneatlas.client.geometry import coverage_against

            coverage = coverage_against(aoi_shape)  # the AOI is parsed once, not once per image
        kept: list[dict[str, Any]] = []
        seen = 0
        for image in self.hook.iter_search(query, max_results=self.max_results):
            seen += 1
            if max_cloud is not None and (image.cloud_cover is None or image.cloud_cover > max_cloud):
                continue
            summary = image.to_dict()
            if coverage is not None:
                summary["coverage"] = round(coverage(image.footprint), 6) if image.footprint else 0.0
                if min_coverage is not None and summary["coverage"] < min_coverage:
                    continue
            if not self.include_footprint:
                summary.pop("footprint", None)
            kept.append(summary)
        if self.newest_first:
            kept.sort(key=lambda s: (s.get("acquisition_date") or "", s["id"]), reverse=True)
        self.log.info("OneAtlas search: %d results read, %d kept by the filters", seen, len(kept))
        if limit is not None and len(kept) > limit:
            self.log.info("Keeping the first %d of %d images (limit)", limit, len(kept))
            kept = kept[:limit]
        if not kept and self.skip_if_empty:
            raise AirflowSkipException("No OneAtlas image matches the search and the filters")
        return kept
