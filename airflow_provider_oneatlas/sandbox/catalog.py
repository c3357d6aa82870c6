"""The sandbox's image catalog: what OneAtlas search finds, built deterministically from a seed.

The catalog holds the tutorial's images (:mod:`samples`) and ``config.catalog_size`` generated images
(:mod:`generator`) with the same property set. About 30% of the generated images lie over two demo
areas (the tutorial's Cavtat AOI and Toulouse) so that searches there find plenty.

Search runs on column arrays (numpy) and a shapely STRtree, rebuilt lazily after :meth:`Catalog.add`:
a query over 25,000 images with a geometry, a date range and sorting takes a few milliseconds.

The filter grammar (:mod:`filters`) is the OpenSearch parameters of the real API; the HTTP layer
(``search.py``) and the tests use the same :class:`Catalog.query`.
"""

from __future__ import annotations

import copy
import gc
import math
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from shapely import STRtree
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from airflow_provider_oneatlas.sandbox.clock import Clock, clock_from_config
from airflow_provider_oneatlas.sandbox.config import ARCHIVE_END, SandboxConfig
from airflow_provider_oneatlas.sandbox.filters import (
    DATE_FIELDS,
    DEFAULT_SORT,
    GEOMETRY_TYPES,
    LIST_FIELDS,
    NUMBER_FIELDS,
    PRIVATE_WORKSPACE_ALIAS,
    Q_FIELDS,
    RANGE_FIELDS,
    RELATIONS,
    SORT_FIELDS,
    TEXT_FIELDS,
    BoolArray,
    FilterError,
    FloatArray,
    IntArray,
    Range,
    SearchFilters,
    parse_bbox,
    parse_datetime,
    parse_filters,
    parse_geometry,
    parse_names,
    parse_range,
    parse_sort,
)
from airflow_provider_oneatlas.sandbox.generator import DAY_US, DEMO_AREAS, archive_columns, build, live_columns
from airflow_provider_oneatlas.sandbox.samples import (
    PUBLIC_WORKSPACE_ID,
    PUBLIC_WORKSPACE_NAME,
    TUTORIAL_ITEM_IDS,
    TUTORIAL_PRICE_ITEM_ID,
    price_item_feature,
    real_links,
    tutorial_features,
)

# Names other modules and tests import from here; they live in the modules named above.
__all__ = [
    "DATE_FIELDS",
    "DEFAULT_ITEMS_PER_PAGE",
    "DEFAULT_SORT",
    "DEMO_AREAS",
    "GEOMETRY_TYPES",
    "LIST_FIELDS",
    "MAX_ITEMS_PER_PAGE",
    "NUMBER_FIELDS",
    "PRIVATE_WORKSPACE_ALIAS",
    "PUBLIC_WORKSPACE_ID",
    "PUBLIC_WORKSPACE_NAME",
    "RANGE_FIELDS",
    "RELATIONS",
    "SEARCH_RESULT_CAP",
    "SORT_FIELDS",
    "TEXT_FIELDS",
    "TUTORIAL_ITEM_IDS",
    "TUTORIAL_PRICE_ITEM_ID",
    "Catalog",
    "FilterError",
    "Range",
    "SearchFilters",
    "parse_bbox",
    "parse_datetime",
    "parse_filters",
    "parse_geometry",
    "parse_names",
    "parse_range",
    "parse_sort",
    "real_links",
    "tutorial_features",
]

SEARCH_RESULT_CAP = 10_000
DEFAULT_ITEMS_PER_PAGE = 50
MAX_ITEMS_PER_PAGE = 500


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

    The catalog is live: it holds images not yet published, and shows an image (to search, ``get``,
    ``all``, ``len``...) only once its ``publicationDate`` has passed on its :class:`Clock` (images
    without a publication date are always shown). Besides the archive, a live stream of images
    (:func:`generator.live_day_columns`) arrives day after day: every day from ``live_history_days``
    before any time the clock has shown up to that time is generated.

    ``get``, ``add``, ``all`` and ``query`` are safe to call from several threads. Features returned by
    ``all`` and ``query`` are the stored objects: read them, do not modify them (``get`` returns a copy).
    """

    def __init__(self, config: SandboxConfig, clock: Clock | None = None) -> None:
        # SandboxConfig.validate() has checked catalog_size >= 0 and catalog_end >= catalog_start.
        self.seed = config.seed
        self.size = config.catalog_size
        self.start_us = parse_datetime(config.catalog_start)
        # The end date is inclusive: images may be taken until its last microsecond.
        self.end_us = parse_datetime(config.catalog_end or ARCHIVE_END) + 86_400_000_000 - 1
        # An explicit catalog_end bounds the live stream too: no generated image is acquired after it.
        self.live_last_day = None if config.catalog_end is None else self.end_us // DAY_US
        self.clock = clock if clock is not None else clock_from_config(config)
        self.live_stream = config.live_stream
        self.live_history_days = config.live_history_days
        self._live_days: set[int] = set()
        self._lock = threading.RLock()
        self._features: list[dict[str, Any]] = []
        self._index: dict[str, int] = {}
        self._numbers: dict[str, list[float]] = {name: [] for name in RANGE_FIELDS}
        self._texts: dict[str, list[str]] = {name: [] for name in TEXT_FIELDS}
        self._geometries: list[BaseGeometry] = []
        self._snapshot: _Snapshot | None = None
        for feature in tutorial_features():
            self._append(feature)
        self._append(price_item_feature())
        # Tens of thousands of fresh dicts would trigger the cyclic garbage collector over and over.
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._generate()
        finally:
            if collecting:
                gc.enable()
        self._ensure_live(self.clock.now_us())

    # -- public API --------------------------------------------------------------------------------

    def __len__(self) -> int:
        """How many images are published now."""
        return int(np.count_nonzero(self._visible(self._current(), self.now_us())))

    def __contains__(self, item_id: object) -> bool:
        return isinstance(item_id, str) and self._position(item_id) is not None

    def now_us(self) -> int:
        """The clock's now in microseconds, after generating the live stream up to it."""
        now = self.clock.now_us()
        self._ensure_live(now)
        return now

    def get(self, item_id: str) -> dict[str, Any] | None:
        """A copy of the stored feature, or None (also for an image not published yet)."""
        with self._lock:
            position = self._position(item_id)
            return None if position is None else copy.deepcopy(self._features[position])

    def footprint(self, item_id: str) -> BaseGeometry | None:
        """The image's footprint as a shapely geometry, or None."""
        with self._lock:
            position = self._position(item_id)
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

    def all(self, *, unpublished: bool = False) -> list[dict[str, Any]]:
        """Every feature published now (read-only), in insertion order; with ``unpublished``, all stored."""
        now = self.now_us()
        with self._lock:
            if unpublished:
                return list(self._features)
            snap = self._current()
            return self.features_at(np.flatnonzero(self._visible(snap, now)))

    def query(self, **filters: Any) -> list[dict[str, Any]]:
        """Features published now matching OpenSearch parameters (API names and value forms), sorted.

        Paging parameters are ignored: this is every match. Raises :class:`FilterError`.
        """
        return self.features_at(self.select(parse_filters(filters)))

    def select(self, filters: SearchFilters, now_us: float | None = None) -> IntArray:
        """Positions of the features published at ``now_us`` (default: the clock's now) that match,
        sorted (ties broken by id)."""
        now = self.now_us() if now_us is None else now_us
        snap = self._current()
        mask = self._visible(snap, now)
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

    @staticmethod
    def _visible(snap: _Snapshot, now_us: float) -> BoolArray:
        """Rows published at ``now_us``; an image without a publication date always is."""
        published = snap.numbers["publicationDate"]
        result: BoolArray = ~(published > now_us)
        return result

    def _position(self, item_id: str) -> int | None:
        """The row of a published image, or None."""
        with self._lock:
            position = self._index.get(item_id)
            if position is None:
                return None
            published = self._numbers["publicationDate"][position]
            return None if published > self.now_us() else position

    def _ensure_live(self, now_us: int) -> None:
        """Generate the live stream's days from ``live_history_days`` before ``now_us`` up to its day."""
        if not self.live_stream:
            return
        today = now_us // DAY_US
        last = today if self.live_last_day is None else min(today, self.live_last_day)
        days = [d for d in range(today - self.live_history_days, last + 1) if d not in self._live_days]
        if not days:
            return
        with self._lock:
            days = [d for d in days if d not in self._live_days]
            columns = live_columns(self.seed, days)
            self._live_days.update(days)
            if columns is not None:
                batch = build(columns, self._index)
                self._extend(batch.features, batch.kept, batch.numbers, batch.geometries)

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
        """``self.size`` archive images (see :mod:`generator`)."""
        columns = archive_columns(self.seed, self.size, self.start_us, self.end_us)
        if columns is not None:
            batch = build(columns, self._index)
            self._extend(batch.features, batch.kept, batch.numbers, batch.geometries)

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
