"""``OneAtlasNewImageTrigger``: an event trigger for Airflow's ``AssetWatcher`` that names every image
newly *published* in the catalogue over an area of interest, once.

How it decides what is new
    The trigger keeps a **watermark** (the latest ``publicationDate`` it has processed) and the ids of
    the images it has processed near that watermark. Every cycle searches
    ``publicationDate >= watermark - overlap`` (publication clocks are not strictly ordered: an image
    may become searchable with a date slightly earlier than one already seen), drops the ids already
    processed, filters the rest (cloud cover, coverage of the AOI) and emits **one event per cycle
    that found new images**, naming them all, oldest publication first. A catalogue that did not
    change emits nothing.

    Why a batch and not one event per image: Airflow 3.1 queues an asset-triggered run when the first
    event arrives and gives that run only the events recorded up to then; events recorded in the
    same moment, before the scheduler creates the run, reach no run until a later event comes. One
    event per cycle keeps every image of a cycle in the same run.

    On its very first start, with no ``published_since``, the trigger takes the catalogue as it is as
    its baseline: what is already published is not "new" (no surprise purchase of the archive).

Where the state lives
    Trigger kwargs are fixed when the DAG is parsed, and a watcher may move from one triggerer to
    another (restart, crash, HA), so the state is kept in an Airflow **Variable** every triggerer
    sees: ``oneatlas_new_images.<hash>``, the hash naming the connection, the AOI and the filters.
    Two watchers that define the same stream (same connection, AOI, filters, ``published_since``)
    share it, as Airflow itself shares one trigger between watchers with the same kwargs.

    The state is written a few seconds (``persist_delay``) *after* the events are handed to the
    triggerer, once they have reached the metadata DB: a triggerer killed in between re-emits those
    images after its restart rather than losing them. Ordering stays exactly once even then, because
    the order step looks an earlier order for the same image up in the account before ordering. In
    the normal restart (and hand-over) case the new trigger instance reads the Variable and emits no
    image twice.

One search per cycle between watchers
    Watchers of one triggerer process that share a connection and search filters register with one
    poll loop (:class:`CataloguePoller`, like ``poller.py`` does for order waits): one search per
    cycle covers all of them, from the earliest of their windows, and each filters it against its own
    state.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_provider_oneatlas.client.errors import (
    OneAtlasError,
    RateLimitedError,
    ServerError,
    TransportError,
    ValidationError,
)
from airflow_provider_oneatlas.client.models import ImageSummary
from airflow_provider_oneatlas.client.query import MAX_ITEMS_PER_PAGE, SEARCH_RESULT_CAP, SearchQuery, to_utc_datetime

log = logging.getLogger(__name__)

#: Errors that pass: the next cycle may well succeed. A watcher outlives a catalogue outage.
TRANSIENT_ERRORS = (TransportError, ServerError, RateLimitedError)

VARIABLE_PREFIX = "oneatlas_new_images."
STATE_VERSION = 1


def _iso(moment: datetime) -> str:
    """Microsecond precision: a watermark must not round below the date it was taken from."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _published(image: ImageSummary) -> datetime | None:
    if not image.publication_date:
        return None
    try:
        return to_utc_datetime(image.publication_date, "publicationDate")
    except ValidationError:
        return None


# --------------------------------------------------------------------------------------------------
# State, in an Airflow Variable
# --------------------------------------------------------------------------------------------------


@dataclass
class WatchState:
    """What a watcher has processed: the watermark and the ids published since ``watermark - overlap``."""

    watermark: datetime | None = None
    #: image id -> its publicationDate (ISO), for images at the watermark's edge
    seen: dict[str, str] = field(default_factory=dict)
    #: images published before this are never new (``published_since``); None: no floor
    floor: datetime | None = None
    emitted: int = 0

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": STATE_VERSION,
                "watermark": _iso(self.watermark) if self.watermark else None,
                "floor": _iso(self.floor) if self.floor else None,
                "seen": dict(sorted(self.seen.items())),
                "emitted": self.emitted,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | None) -> WatchState | None:
        if not text:
            return None
        try:
            doc = json.loads(text)
            return cls(
                watermark=to_utc_datetime(doc["watermark"], "watermark") if doc.get("watermark") else None,
                seen={str(k): str(v) for k, v in dict(doc.get("seen") or {}).items()},
                floor=to_utc_datetime(doc["floor"], "floor") if doc.get("floor") else None,
                emitted=int(doc.get("emitted") or 0),
            )
        except (ValueError, TypeError, KeyError, ValidationError) as exc:
            # A hand-edited or foreign value: start again from a baseline rather than fail forever.
            log.warning("OneAtlas watcher state is unreadable (%s); starting from a new baseline", exc)
            return None

    def merge(self, other: WatchState) -> None:
        """Union with a state another instance wrote (two triggerers, a hand-over)."""
        if other.watermark and (self.watermark is None or other.watermark > self.watermark):
            self.watermark = other.watermark
        self.seen.update(other.seen)
        self.emitted = max(self.emitted, other.emitted)

    def prune(self, overlap: timedelta) -> None:
        """Keep only the ids the next (overlapped) search can return again."""
        if self.watermark is None:
            return
        edge = self.watermark - overlap
        self.seen = {i: p for i, p in self.seen.items() if to_utc_datetime(p, "seen") >= edge}


class VariableStore:
    """Watcher state in Airflow Variables, readable by every triggerer.

    In a triggerer (Airflow 3: the Task SDK's supervisor comms are set) it goes through
    ``airflow.sdk.Variable``, whose calls are synchronous and reach the API server through the
    triggerer's supervisor: they are run in a thread (``sync_to_async``), as the triggerer requires.
    Elsewhere (a script, a test) ``airflow.models.Variable`` reads and writes the metadata DB.
    Airflow 3.0 and 3.1 have no async Variable API; the same code serves both.
    """

    @staticmethod
    def _in_execution_context() -> bool:
        import sys

        runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
        return getattr(runner, "SUPERVISOR_COMMS", None) is not None

    def _get(self, key: str) -> str | None:
        if self._in_execution_context():
            from airflow.sdk import Variable as SdkVariable

            value = SdkVariable.get(key, default=None)
        else:
            from airflow.models.variable import Variable

            value = Variable.get(key, default_var=None)
        return None if value is None else str(value)

    def _set(self, key: str, value: str) -> None:
        description = "State of a OneAtlas new-image watcher (watermark and ids already emitted); do not edit."
        if self._in_execution_context():
            from airflow.sdk import Variable as SdkVariable

            SdkVariable.set(key, value, description=description)
        else:
            from airflow.models.variable import Variable

            Variable.set(key, value, description=description)

    async def load(self, key: str) -> WatchState | None:
        from asgiref.sync import sync_to_async

        return WatchState.from_json(await sync_to_async(self._get)(key))

    async def save(self, key: str, state: WatchState) -> None:
        from asgiref.sync import sync_to_async

        text = state.to_json()
        await sync_to_async(self._set)(key, text)
        # airflow.sdk.Variable.set logs and swallows a failed write: read it back to know.
        written = await sync_to_async(self._get)(key)
        if written != text:
            log.error("OneAtlas watcher state %s was not saved (a restart may emit its latest images again)", key)


# --------------------------------------------------------------------------------------------------
# The shared poll loop
# --------------------------------------------------------------------------------------------------


@dataclass
class CatalogueUpdate:
    """One cycle's search: every image published since the earliest watched window start."""

    images: list[ImageSummary] = field(default_factory=list)
    since: datetime | None = None
    error: OneAtlasError | None = None


@dataclass(eq=False)
class CatalogueWatch:
    since: datetime | None
    poll_interval: float
    updates: asyncio.Queue[CatalogueUpdate] = field(default_factory=asyncio.Queue)


class CataloguePoller:
    """One search per cycle for every watcher of this event loop with the same connection and filters."""

    _pollers: ClassVar[dict[tuple[int, str], CataloguePoller]] = {}

    def __init__(self, key: tuple[int, str], client_factory: Callable[[], Awaitable[Any]], query: SearchQuery) -> None:
        self.key = key
        self.client_factory = client_factory
        self.query = query
        self.watches: set[CatalogueWatch] = set()
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.cycles = 0
        self.searches = 0

    @classmethod
    def search_key(cls, connection_key: str, query: SearchQuery) -> str:
        body = query.to_body()
        for key in ("publicationDate", "startPage", "itemsPerPage", "sortBy"):
            body.pop(key, None)
        return hashlib.sha256(f"{connection_key}\0{json.dumps(body, sort_keys=True)}".encode()).hexdigest()[:32]

    @classmethod
    @contextlib.asynccontextmanager
    async def watching(
        cls,
        connection_key: str,
        client_factory: Callable[[], Awaitable[Any]],
        query: SearchQuery,
        *,
        since: datetime | None,
        poll_interval: float,
    ) -> AsyncIterator[CatalogueWatch]:
        key = (id(asyncio.get_running_loop()), cls.search_key(connection_key, query))
        poller = cls._pollers.get(key)
        if poller is None or (poller.task is not None and poller.task.done()):
            poller = cls(key, client_factory, query)
            cls._pollers[key] = poller
        watch = CatalogueWatch(since, poll_interval)
        poller.watches.add(watch)
        if poller.task is None:
            poller.task = asyncio.create_task(poller._run(), name=f"oneatlas-catalogue-poller-{key[1][:8]}")
        else:
            poller.wake.set()  # a new watcher gets its first search now, not after the current sleep
        try:
            yield watch
        finally:
            poller.watches.discard(watch)
            if not poller.watches:
                poller.wake.set()

    async def _run(self) -> None:
        try:
            client = await self.client_factory()
        except OneAtlasError as exc:
            for watch in list(self.watches):
                watch.updates.put_nowait(CatalogueUpdate(error=exc))
            self._pollers.pop(self.key, None)
            return
        try:
            async with client:
                while self.watches:
                    watched = list(self.watches)
                    starts = [w.since for w in watched]
                    since = None if any(s is None for s in starts) else min(s for s in starts if s is not None)
                    interval = min(w.poll_interval for w in watched)
                    try:
                        images = await self._search(client, since)
                    except OneAtlasError as exc:
                        update = CatalogueUpdate(since=since, error=exc)
                        if isinstance(exc, RateLimitedError) and exc.retry_after:
                            interval = max(interval, exc.retry_after)
                    else:
                        update = CatalogueUpdate(images=images, since=since)
                    for watch in watched:
                        watch.updates.put_nowait(update)
                    self.cycles += 1
                    self.wake.clear()
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self.wake.wait(), timeout=interval)
        except Exception as exc:
            log.exception("OneAtlas catalogue poller failed")
            for watch in list(self.watches):
                watch.updates.put_nowait(CatalogueUpdate(error=OneAtlasError(f"catalogue poll failed: {exc!r}")))
            raise
        finally:
            if self._pollers.get(self.key) is self:
                del self._pollers[self.key]

    async def _search(self, client: Any, since: datetime | None) -> list[ImageSummary]:
        images, searches = await search_published_since(client, self.query, since)
        self.searches += searches
        return images


async def search_published_since(
    client: Any, query: SearchQuery, since: datetime | None
) -> tuple[list[ImageSummary], int]:
    """Every image of ``query`` published since ``since``, oldest publication first (every page), and
    how many searches that took."""
    images: list[ImageSummary] = []
    page = 1
    while True:
        paged = dataclasses.replace(
            query,
            publication_date=(since, None) if since is not None else None,
            sort_by="publicationDate",
            items_per_page=MAX_ITEMS_PER_PAGE,
            start_page=page,
        )
        result = await client.search(paged)
        images.extend(result.features)
        read = page * MAX_ITEMS_PER_PAGE
        if not result.features or read >= result.total_results:
            return images, page
        if read >= SEARCH_RESULT_CAP:
            # Only a window opened far in the past gets here; its newest images come next cycle.
            log.warning("OneAtlas catalogue watch: over %d images published since %s", SEARCH_RESULT_CAP, since)
            return images, page
        page += 1


# --------------------------------------------------------------------------------------------------
# The trigger
# --------------------------------------------------------------------------------------------------


class OneAtlasNewImageTrigger(BaseEventTrigger):
    """Fires one event per cycle naming the images newly published over ``aoi``; for ``AssetWatcher``.

    :param aoi: the area of interest (GeoJSON Polygon or MultiPolygon, [lon, lat]).
    :param oneatlas_conn_id: the OneAtlas connection.
    :param processing_level: ``SENSOR`` (orderable, the default), ``ORTHO`` or ``ALBUM``; None: any.
    :param max_cloud_cover: percent of clouds, at most (images without a cloud cover are dropped).
    :param min_coverage: fraction (0-1) of the AOI an image must cover (geodesic areas).
    :param constellation: ``SPOT``, ``PHR``, ``PNEO`` or a list of them; None: any.
    :param published_since: ISO date-time; on the first start, images published since then are new.
        None (the default): what the catalogue holds at the first start is the baseline, not new.
    :param poll_interval: seconds between searches.
    :param overlap_seconds: how far behind the watermark each search starts (publication clocks are
        not strictly ordered); ids already processed in that overlap are never emitted again.
    :param persist_delay: seconds between handing events to the triggerer and recording them as
        emitted: the triggerer writes events to the metadata DB about every second.

    Each event's payload is ``{"images": [{...}, ...], "watch": "<variable key>"}``, each image with
    ``id``, ``acquisition_date``, ``publication_date``, ``cloud_cover``, ``coverage`` (when the AOI is
    areal), ``processing_level``, ``constellation``, ``platform``, ``resolution`` and
    ``incidence_angle``, oldest publication first. A DAG scheduled on the watcher's asset finds it in
    ``triggering_asset_events[asset][i].extra["payload"]``; :func:`images_from_events` reads them.
    """

    def __init__(
        self,
        aoi: Any,
        oneatlas_conn_id: str = "oneatlas_default",
        processing_level: str | None = "SENSOR",
        max_cloud_cover: float | None = None,
        min_coverage: float | None = None,
        constellation: Any = None,
        published_since: Any = None,
        poll_interval: float = 300.0,
        overlap_seconds: float = 6 * 3600.0,
        persist_delay: float = 5.0,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Airflow's BaseTrigger is untyped
        from airflow_provider_oneatlas.client.query import check_number

        # Checked here, when the DAG is parsed, without the geometry library (parsing must stay light):
        # the AOI's shape is checked in full when the watcher starts, before any request.
        if isinstance(aoi, str):
            try:
                aoi = json.loads(aoi)
            except ValueError:
                raise ValidationError("aoi", "is not GeoJSON text", "a GeoJSON Polygon or MultiPolygon") from None
        if not isinstance(aoi, dict) or not isinstance(aoi.get("type"), str):
            raise ValidationError(
                "aoi", f"{str(aoi)[:80]!r} is not a GeoJSON geometry", "a GeoJSON Polygon or MultiPolygon dict"
            )
        self.aoi: dict[str, Any] = aoi
        self.oneatlas_conn_id = oneatlas_conn_id
        self.processing_level = processing_level
        self.max_cloud_cover = check_number(max_cloud_cover, "max_cloud_cover", lower=0, upper=100)
        self.min_coverage = check_number(min_coverage, "min_coverage", lower=0, upper=1)
        if self.min_coverage is not None and aoi["type"] not in ("Polygon", "MultiPolygon", "Feature"):
            raise ValidationError(
                "min_coverage", f"needs an areal AOI, got a {aoi['type']}", "a Polygon or MultiPolygon aoi"
            )
        self.constellation = list(constellation) if isinstance(constellation, (list, tuple)) else constellation
        self.published_since = (
            None if published_since in (None, "") else _iso(to_utc_datetime(published_since, "published_since"))
        )
        for name, value, lowest in (
            ("poll_interval", poll_interval, 0.1),
            ("overlap_seconds", overlap_seconds, 0.0),
            ("persist_delay", persist_delay, 0.0),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= lowest:
                raise ValidationError(name, f"{value!r} is not a number of seconds", f"a number >= {lowest:g}")
        self.poll_interval = float(poll_interval)
        self.overlap_seconds = float(overlap_seconds)
        self.persist_delay = float(persist_delay)
        self._query(None).validate()  # the filters, without the AOI

    def _query(self, aoi: Any) -> SearchQuery:
        """The search every cycle runs (its publication window is added per cycle)."""
        return SearchQuery(
            aoi=aoi,
            processing_level=self.processing_level,
            cloud_cover=(0, self.max_cloud_cover) if self.max_cloud_cover is not None else None,
            constellation=self.constellation,
        )

    @property
    def state_key(self) -> str:
        """The Variable that holds this watcher's state: the stream's definition, hashed (tuning knobs
        such as ``poll_interval`` left out, so that changing them does not re-emit anything)."""
        definition = {
            "conn": self.oneatlas_conn_id,
            "aoi": self.aoi,
            "processing_level": self.processing_level,
            "max_cloud_cover": self.max_cloud_cover,
            "constellation": self.constellation,
            "min_coverage": self.min_coverage,
            "published_since": self.published_since,
        }
        digest = hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:24]
        return VARIABLE_PREFIX + digest

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "aoi": self.aoi,
                "oneatlas_conn_id": self.oneatlas_conn_id,
                "processing_level": self.processing_level,
                "max_cloud_cover": self.max_cloud_cover,
                "min_coverage": self.min_coverage,
                "constellation": self.constellation,
                "published_since": self.published_since,
                "poll_interval": self.poll_interval,
                "overlap_seconds": self.overlap_seconds,
                "persist_delay": self.persist_delay,
            },
        )

    # -- the run ----------------------------------------------------------------------------------

    #: One lock per state key in this process: two instances of one watcher never emit concurrently.
    _locks: ClassVar[dict[tuple[int, str], asyncio.Lock]] = {}

    def _lock(self) -> asyncio.Lock:
        key = (id(asyncio.get_running_loop()), self.state_key)
        return self._locks.setdefault(key, asyncio.Lock())

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_oneatlas.client.geometry import coverage_against, to_search_geometry
        from airflow_provider_oneatlas.hooks.oneatlas import OneAtlasHook

        aoi = to_search_geometry(self.aoi, field="aoi")  # before any request
        if self.min_coverage is not None and aoi["type"] not in ("Polygon", "MultiPolygon"):
            raise ValidationError(
                "min_coverage", f"needs an areal AOI, got a {aoi['type']}", "a Polygon or MultiPolygon aoi"
            )
        query = self._query(aoi)
        query.validate()
        hook = OneAtlasHook(oneatlas_conn_id=self.oneatlas_conn_id)
        config = await hook.aget_config()  # a wrong connection fails the watcher, with its reason

        async def make_client() -> Any:
            return hook.get_async_client(config)

        store = VariableStore()
        overlap = timedelta(seconds=self.overlap_seconds)
        key = self.state_key
        coverage = coverage_against(aoi) if aoi["type"] in ("Polygon", "MultiPolygon") else None

        state = await store.load(key)
        while state is None:
            try:
                state = await self._first_state(make_client, query)
            except TRANSIENT_ERRORS as exc:
                # A watcher outlives a catalogue outage, even at its first start.
                self.log.warning("OneAtlas watcher %s cannot take its baseline yet: %s", key, exc)
                await asyncio.sleep(self.poll_interval)
                continue
            await store.save(key, state)
            self.log.info(
                "OneAtlas watcher %s starts: images published since %s are new",
                key,
                _iso(state.floor) if state.floor else (_iso(state.watermark) if state.watermark else "now"),
            )
        else:
            self.log.info(
                "OneAtlas watcher %s resumes at watermark %s (%d images emitted so far)",
                key,
                _iso(state.watermark) if state.watermark else None,
                state.emitted,
            )

        def window_start() -> datetime | None:
            if state.watermark is None:
                return state.floor
            start = state.watermark - overlap
            return max(start, state.floor) if state.floor else start

        connection_key = f"{config.cache_key}:{config.service_urls['search']}"
        async with CataloguePoller.watching(
            connection_key, make_client, query, since=window_start(), poll_interval=self.poll_interval
        ) as watch:
            errors = 0
            while True:
                update = await watch.updates.get()
                if update.error is not None:
                    if not isinstance(update.error, TRANSIENT_ERRORS):
                        raise update.error
                    errors += 1
                    self.log.warning("OneAtlas catalogue search failed (%d in a row): %s", errors, update.error)
                    continue
                errors = 0
                async with self._lock():
                    fresh = self._new_images(update.images, state, window_start())
                    if fresh:
                        # Another triggerer (or another instance here) may have emitted since we read.
                        stored = await store.load(key)
                        if stored is not None:
                            # What lies before the merged watermark's overlap was processed (and pruned).
                            state.merge(stored)
                            fresh = self._new_images([img for img, _ in fresh], state, window_start())
                    changed = self._advance(update.images, state, window_start())
                    batch = [summary for image, _ in fresh if (summary := self._summary(image, coverage))]
                    if batch:
                        for summary in batch:
                            self.log.info(
                                "OneAtlas new image %s: published %s, acquired %s, cloud cover %s, coverage %s",
                                summary["id"],
                                summary["publication_date"],
                                summary["acquisition_date"],
                                summary["cloud_cover"],
                                summary.get("coverage"),
                            )
                        yield TriggerEvent({"images": batch, "watch": key})
                        # The triggerer writes events to the DB about every second: record them as
                        # emitted only once they are surely there (killed before: they come again).
                        await asyncio.sleep(self.persist_delay)
                        state.emitted += len(batch)
                    if batch or changed:
                        state.prune(overlap)
                        await store.save(key, state)
                watch.since = window_start()

    async def _first_state(self, make_client: Callable[[], Awaitable[Any]], query: SearchQuery) -> WatchState:
        """No state yet: from ``published_since``, else the catalogue as it is now (the baseline)."""
        if self.published_since is not None:
            return WatchState(floor=to_utc_datetime(self.published_since, "published_since"))
        client = await make_client()
        async with client:
            newest = await client.search(dataclasses.replace(query, sort_by="-publicationDate", items_per_page=1))
            latest = [p for p in (_published(f) for f in newest.features) if p is not None]
            if not latest:
                # Nothing over the AOI yet: whatever appears is new.
                return WatchState()
            watermark = latest[0]
            # Everything the first overlapped search will return is the baseline: processed, not new.
            baseline, _ = await search_published_since(
                client, query, watermark - timedelta(seconds=self.overlap_seconds)
            )
            seen = {}
            for image in baseline:
                published = _published(image)
                if published is not None:
                    seen[image.id] = _iso(published)
                    watermark = max(watermark, published)
            state = WatchState(watermark=watermark, seen=seen)
        return state

    @staticmethod
    def _new_images(
        images: list[ImageSummary], state: WatchState, since: datetime | None
    ) -> list[tuple[ImageSummary, datetime]]:
        fresh = []
        for image in images:
            published = _published(image)
            if published is None or image.id in state.seen:
                continue
            if since is not None and published < since:
                continue  # older than this watcher's window (the shared search reached further back)
            fresh.append((image, published))
        fresh.sort(key=lambda pair: (pair[1], pair[0].id))
        return fresh

    @staticmethod
    def _advance(images: list[ImageSummary], state: WatchState, since: datetime | None) -> bool:
        """Every image of this watcher's window is processed (emitted, filtered out or seen before):
        record them all, and move the watermark to the latest publication."""
        changed = False
        for image in images:
            published = _published(image)
            if published is None or (since is not None and published < since):
                continue
            if image.id not in state.seen:
                state.seen[image.id] = _iso(published)
                changed = True
            if state.watermark is None or published > state.watermark:
                state.watermark = published
                changed = True
        return changed

    def _summary(self, image: ImageSummary, coverage: Callable[[Any], float] | None) -> dict[str, Any] | None:
        """The image as the event names it, or None when a client-side filter drops it."""
        if self.max_cloud_cover is not None and (image.cloud_cover is None or image.cloud_cover > self.max_cloud_cover):
            return None
        summary: dict[str, Any] = {
            "id": image.id,
            "acquisition_date": image.acquisition_date,
            "publication_date": image.publication_date,
            "cloud_cover": image.cloud_cover,
            "processing_level": image.processing_level,
            "constellation": image.constellation,
            "platform": image.platform,
            "resolution": image.resolution,
            "incidence_angle": image.incidence_angle,
        }
        if coverage is not None:
            summary["coverage"] = round(coverage(image.footprint), 6) if image.footprint else 0.0
            if self.min_coverage is not None and summary["coverage"] < self.min_coverage:
                return None
        return summary


def images_from_events(events: Any) -> list[dict[str, Any]]:
    """The images named by this trigger's asset events (``triggering_asset_events[asset]``), once
    each, oldest publication first. Accepts ``AssetEvent`` objects (their ``extra``) or the payloads.

    Several events may reach one DAG run (the scheduler folds the events queued since the last run
    into one), and one image may be named twice (a watcher killed between emitting and recording):
    each image comes out once.
    """
    found: dict[str, dict[str, Any]] = {}
    for event in events or ():
        extra = getattr(event, "extra", event)
        payload = extra.get("payload", extra) if isinstance(extra, dict) else None
        images = payload.get("images") if isinstance(payload, dict) else None
        for image in images if isinstance(images, list) else ():
            if isinstance(image, dict) and isinstance(image.get("id"), str):
                found.setdefault(image["id"], image)
    return sorted(found.values(), key=lambda i: (str(i.get("publication_date") or ""), i["id"]))
