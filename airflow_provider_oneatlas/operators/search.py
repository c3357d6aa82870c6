"""``OneAtlasSearchOperator``: finds images in the Living Library catalogue."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context

from airflow_provider_oneatlas.client.errors import ValidationError
from airflow_provider_oneatlas.client.query import (
    SearchQuery,
    check_count,
    check_number,
    describe_query,
    to_utc_datetime,
)
from airflow_provider_oneatlas.operators.base import OneAtlasBaseOperator
from airflow_provider_oneatlas.storage.destination import to_destination
from airflow_provider_oneatlas.utils.arguments import is_templated
from airflow_provider_oneatlas.utils.windows import (
    DEFAULT_FIRST_RUN_LOOKBACK,
    as_timedelta,
    publication_window,
    run_window_end,
)
from airflow_provider_oneatlas.version_compat import AirflowSkipException


def stac_target(value: Any) -> Any:
    """The file to write the search's STAC items to; a bad one is refused naming ``stac_items``."""
    try:
        return to_destination(value)
    except ValidationError as exc:
        accepted = "a file: an ObjectStoragePath, an absolute path or a URL such as s3://aws_conn_id@bucket/items.json"
        raise ValidationError("stac_items", exc.problem, accepted) from None


class OneAtlasSearchOperator(OneAtlasBaseOperator):
    """Searches OneAtlas and returns compact image summaries, fit for dynamic task mapping.

    Server-side filters (all optional, see ``SearchQuery``):

    :param aoi: area of interest: GeoJSON (geometry, Feature, one-feature FeatureCollection), WKT,
        a shapely geometry or a bbox ``[minlon, minlat, maxlon, maxlat]`` (templated).
    :param acquisition_date: ``(start, end)``, when the images were taken: datetimes or ISO strings,
        either end may be None (templated). For a scheduled acquisition, search by publication date
        instead (below): an image is searchable only hours to days after it was acquired.
    :param publication_date: ``(start, end)``, when the images became searchable, half-open
        ``[start, end)`` (templated).
    :param published_since_previous_run: search the images published since the previous successful
        run's window ended, up to this run's end (the data interval's end, or the logical date for
        schedules whose intervals are empty, such as ``@daily`` on Airflow 3): consecutive runs cover
        contiguous windows, and a run after a pause covers the whole pause. Default False. An
        explicit ``acquisition_date`` or ``publication_date`` (after rendering; a pair of empty ends
        counts as none) wins over it and over ``max_image_age``: one DAG serves its schedule and
        manual runs over a fixed period.
    :param first_run_lookback: with ``published_since_previous_run``, how far back the first run
        looks: days or a ``timedelta`` (default 1 day; templated).
    :param max_image_age: only images acquired within this many days before the window's end (or a
        ``timedelta``), so that old archive images newly published are not bought by surprise
        (templated).
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
    :param stac_items: also store the kept images as a STAC ItemCollection (quicklook and thumbnail
        as assets) at this file: an ``ObjectStoragePath`` or URL (templated); its href is pushed as
        the XCom ``stac_items``.

    Returns a list of dicts: ``id``, ``acquisition_date``, ``cloud_cover``, ``constellation``,
    ``platform``, ``processing_level``, ``resolution``, ``incidence_angle``, ``workspace_id``,
    ``coverage`` (fraction of the AOI, when an AOI is given), ``footprint``, ``links``.
    """

    template_fields: Sequence[str] = (
        "oneatlas_conn_id",
        "aoi",
        "acquisition_date",
        "publication_date",
        "first_run_lookback",
        "max_image_age",
        "cloud_cover",
        "constellation",
        "processing_level",
        "workspace",
        "max_cloud_cover",
        "min_coverage",
        "limit",
        "stac_items",
    )
    template_fields_renderers = {"aoi": "json"}
    ui_color = "#a6c8ff"

    def __init__(
        self,
        *,
        aoi: Any = None,
        acquisition_date: Any = None,
        publication_date: Any = None,
        published_since_previous_run: bool = False,
        first_run_lookback: Any = DEFAULT_FIRST_RUN_LOOKBACK,
        max_image_age: Any = None,
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
        stac_items: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.stac_items = stac_items
        if stac_items is not None and not is_templated(stac_items):
            stac_target(stac_items)
        self.aoi = aoi
        self.acquisition_date = acquisition_date
        self.publication_date = publication_date
        self.published_since_previous_run = published_since_previous_run
        self.first_run_lookback = first_run_lookback
        self.max_image_age = max_image_age
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
            check_number(self.max_cloud_cover, "max_cloud_cover", lower=0, upper=100)
        if ready(self.min_coverage):
            check_number(self.min_coverage, "min_coverage", lower=0, upper=1)
        if ready(self.limit):
            check_count(self.limit, "limit")
        check_count(self.max_results, "max_results")
        if ready(self.first_run_lookback):
            as_timedelta(self.first_run_lookback, "first_run_lookback")
        if ready(self.max_image_age):
            as_timedelta(self.max_image_age, "max_image_age")
        fields = (
            self.acquisition_date,
            self.publication_date,
            self.cloud_cover,
            self.constellation,
            self.processing_level,
            self.workspace,
        )
        if not any(is_templated(v) for v in fields) or not skip_templated:
            self._query(with_aoi=False).to_body()

    def _query(self, *, with_aoi: bool = True, context: Context | None = None) -> SearchQuery:
        acquisition_date, publication_date = _given(self.acquisition_date), _given(self.publication_date)
        # An explicit window (a manual run over a fixed period) wins over the scheduled one.
        if context is not None and acquisition_date is None and publication_date is None:
            end = run_window_end(context)
            if self.published_since_previous_run:
                lookback = as_timedelta(self.first_run_lookback, "first_run_lookback") or DEFAULT_FIRST_RUN_LOOKBACK
                publication_date = publication_window(context, first_run_lookback=lookback)
                end = publication_date[1]
            max_age = as_timedelta(self.max_image_age, "max_image_age")
            if max_age is not None:
                acquisition_date = (to_utc_datetime(end, "max_image_age") - max_age, None)
        return SearchQuery(
            aoi=self.aoi if with_aoi else None,
            relation=self.relation,
            acquisition_date=acquisition_date,
            publication_date=publication_date,
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
        query = self._query(context=context)
        outcome = self.hook.search_images(
            query,  # every filter, the AOI included, is checked before any request
            max_cloud_cover=check_number(self.max_cloud_cover, "max_cloud_cover", lower=0, upper=100),
            min_coverage=check_number(self.min_coverage, "min_coverage", lower=0, upper=1),
            newest_first=self.newest_first,
            limit=check_count(self.limit, "limit"),
            max_results=self.max_results,
            include_footprint=self.include_footprint,
        )
        kept = len(outcome.images) + outcome.over_limit
        self.log.info("OneAtlas search: %s", describe_query(outcome.query or query))
        removed = ", ".join(f"{n} by {name}" for name, n in outcome.removed.items()) or "no client-side filter"
        self.log.info(
            "OneAtlas search: %d results read, %d kept by the filters (removed: %s)", outcome.read, kept, removed
        )
        if outcome.note:
            self.log.warning("OneAtlas search: %s", outcome.note)
        if outcome.over_limit:
            self.log.info("Keeping the first %d of %d images (limit)", len(outcome.images), kept)
        if self.stac_items is not None:
            from airflow_provider_oneatlas.stac.collections import public_href, write_search_items

            target = stac_target(self.stac_items)
            count = write_search_items(target, [outcome.features[s["id"]] for s in outcome.images])
            self.log.info("Stored %d search results as STAC items in %s", count, target)
            context["ti"].xcom_push(key="stac_items", value=public_href(target))
        if not outcome.images and self.skip_if_empty:
            raise AirflowSkipException("No OneAtlas image matches the search and the filters")
        return outcome.images


def _given(window: Any) -> Any:
    """A window, or None when it is absent or both its ends rendered empty (a Param left unset)."""
    if isinstance(window, (list, tuple)) and len(window) == 2 and all(end in (None, "", "None") for end in window):
        return None
    return window
