"""OneAtlasNewImageTrigger against the live sandbox catalogue, with its state in a real Airflow DB.

The sandbox clock is stopped at ``T0`` and moved by the tests: an image is searchable only once its
``publicationDate`` has passed on that clock, and the live stream brings new images day after day.
Triggers run as the triggerer runs them (``run()`` in an event loop, rebuilt from ``serialize()``).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_oneatlas.client.query import SearchQuery
from airflow_provider_oneatlas.hooks.oneatlas import OneAtlasHook
from airflow_provider_oneatlas.triggers.catalogue import (
    CataloguePoller,
    OneAtlasNewImageTrigger,
    VariableStore,
    WatchState,
    images_from_events,
)
from tests.conftest import TOULOUSE_FIELD

T0 = "2025-06-01T00:00:00Z"
DAY = 86400
SEARCH_PATH = "/api/v1/opensearch"


@pytest.fixture
def sandbox_config() -> dict[str, Any]:
    return {"clock_start": T0, "clock_speed": 0}


@pytest.fixture(scope="module")
def metadata_db() -> Path:
    """A migrated Airflow metadata DB (sqlite in the test session's AIRFLOW_HOME): where Variables live."""
    home = Path(os.environ["AIRFLOW_HOME"])
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True, check=False, timeout=300
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return home / "airflow.db"


@pytest.fixture
def variables(metadata_db: Path) -> Iterator[None]:
    """No watcher state left over from another test."""
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session

    def clear() -> None:
        with create_session() as session:
            session.query(Variable).filter(Variable.key.like("oneatlas_new_images.%")).delete(synchronize_session=False)

    clear()
    yield
    clear()


def advance(sandbox: Any, seconds: float) -> None:
    requests.post(f"{sandbox.base_url}/_sandbox/clock", json={"advance": seconds}, timeout=10).raise_for_status()


def clock(sandbox: Any) -> datetime:
    now = requests.get(f"{sandbox.base_url}/_sandbox/clock", timeout=10).json()["now"]
    return datetime.fromisoformat(now.replace("Z", "+00:00"))


def search_requests(sandbox: Any, since: int = 0) -> tuple[int, int]:
    """(search requests logged since index ``since``, the log's next index)."""
    log = requests.get(f"{sandbox.base_url}/_sandbox/requests", params={"since": since}, timeout=10).json()
    return sum(1 for e in log["requests"] if e["path"] == SEARCH_PATH), log["next"]


def published_between(conn_id: str, start: datetime, end: datetime, **filters: Any) -> list[dict[str, Any]]:
    """Ground truth through the sync client: what was published in ``[start, end)`` over the field."""
    hook = OneAtlasHook(conn_id)
    query = SearchQuery(aoi=TOULOUSE_FIELD, processing_level="SENSOR", publication_date=(start, end))
    return hook.search_images(query, **filters).images


def rebuilt(trigger: OneAtlasNewImageTrigger) -> OneAtlasNewImageTrigger:
    """What a (new) triggerer runs: the class from its path, the kwargs from ``serialize()``."""
    path, kwargs = trigger.serialize()
    module, _, name = path.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    instance: OneAtlasNewImageTrigger = cls(**json.loads(json.dumps(kwargs)))
    return instance


class Running:
    """A trigger's ``run()`` as a task, collecting its events' payloads."""

    def __init__(self, trigger: OneAtlasNewImageTrigger) -> None:
        self.trigger = trigger
        self.events: list[dict[str, Any]] = []
        self.task = asyncio.create_task(self._consume())

    async def _consume(self) -> None:
        async for event in self.trigger.run():
            self.events.append(dict(event.payload))

    @property
    def images(self) -> list[dict[str, Any]]:
        return [image for event in self.events for image in event["images"]]

    @property
    def ids(self) -> list[str]:
        return [image["id"] for image in self.images]

    async def stop(self) -> None:
        if self.task.done():
            self.task.result()  # a trigger that died: its error
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def settle(seconds: float, *running: Running) -> None:
    """Let the triggers poll for a while (several cycles); fail at once if one dies."""
    await asyncio.sleep(seconds)
    for r in running:
        if r.task.done():
            r.task.result()
            raise AssertionError("the trigger ended")


async def until(condition: Any, *running: Running, timeout: float = 60.0) -> None:
    """Let the triggers poll until ``condition()`` holds: a loaded machine makes cycles slow, so a
    fixed sleep would not show what a cycle does. Fails if a trigger dies or time runs out."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached within {timeout} s")
        await settle(0.1, *running)


def watching() -> int:
    """How many watchers have taken their baseline (or state) and joined a poller: started."""
    return sum(len(poller.watches) for poller in CataloguePoller._pollers.values())


def watcher(conn_id: str, **kwargs: Any) -> OneAtlasNewImageTrigger:
    settings = {"poll_interval": 0.2, "persist_delay": 0.0} | kwargs
    return OneAtlasNewImageTrigger(TOULOUSE_FIELD, conn_id, **settings)


# -- construction --------------------------------------------------------------------------------


def test_serialization_round_trip_and_state_key() -> None:
    trigger = OneAtlasNewImageTrigger(TOULOUSE_FIELD, "conn", max_cloud_cover=20, published_since="2025-06-01")
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_oneatlas.triggers.catalogue.OneAtlasNewImageTrigger"
    again = rebuilt(trigger)
    assert again.serialize() == (path, kwargs)
    assert kwargs["published_since"] == "2025-06-01T00:00:00.000000Z"
    # The state follows the stream's definition, not how often it is polled ...
    assert watcher("conn", max_cloud_cover=20, published_since="2025-06-01").state_key == trigger.state_key
    # ... and another field, filter or connection is another stream.
    assert OneAtlasNewImageTrigger(TOULOUSE_FIELD, "conn", max_cloud_cover=30).state_key != trigger.state_key
    assert OneAtlasNewImageTrigger(TOULOUSE_FIELD, "other", max_cloud_cover=20).state_key != trigger.state_key


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"aoi": [1.3, 43.5, 1.4, 43.6]}, "aoi"),
        ({"aoi": "POLYGON ((1 2, 3 4))"}, "aoi"),
        ({"max_cloud_cover": 120}, "max_cloud_cover"),
        ({"min_coverage": 2}, "min_coverage"),
        ({"processing_level": "RAW"}, "processing_level"),
        ({"published_since": "yesterday"}, "published_since"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"aoi": {"type": "Point", "coordinates": [1.3, 43.6]}, "min_coverage": 0.5}, "min_coverage"),
    ],
)
def test_bad_input_is_refused_at_parse_time(kwargs: dict[str, Any], field: str) -> None:
    arguments = {"aoi": TOULOUSE_FIELD} | kwargs
    with pytest.raises(ValueError, match=field):
        OneAtlasNewImageTrigger(**arguments)


def test_a_bad_aoi_stops_the_watcher_before_any_request(oneatlas_conn: str, sandbox: Any) -> None:
    """The AOI's geometry is checked when the watcher starts (DAG parsing stays free of shapely)."""
    swapped = {"type": "Polygon", "coordinates": [[[43.5, 1.3], [43.6, 1.3], [43.6, 191.4], [43.5, 1.3]]]}
    trigger = OneAtlasNewImageTrigger(swapped, oneatlas_conn, poll_interval=0.2)

    async def first() -> None:
        async for _ in trigger.run():
            break

    with pytest.raises(ValueError, match="aoi"):
        asyncio.run(first())
    assert search_requests(sandbox)[0] == 0


# -- what it emits -------------------------------------------------------------------------------


def test_emits_exactly_the_newly_published_images_once(oneatlas_conn: str, sandbox: Any, variables: None) -> None:
    async def scenario() -> None:
        trigger = rebuilt(watcher(oneatlas_conn, max_cloud_cover=60, min_coverage=0.2))
        running = Running(trigger)
        # The first start takes the catalogue as it is (already published: not new).
        await until(lambda: watching() == 1, running)
        await settle(1.0, running)
        assert running.events == []
        start = clock(sandbox)
        expected: list[dict[str, Any]] = []
        for _ in range(4):  # four days, one at a time, each seen by several cycles
            before = clock(sandbox)
            count = len(running.events)
            await asyncio.to_thread(advance, sandbox, DAY)
            day = await asyncio.to_thread(
                published_between,
                oneatlas_conn,
                before,
                clock(sandbox),
                max_cloud_cover=60,
                min_coverage=0.2,
                newest_first=False,
            )
            await until(lambda: len(running.events) >= count + (1 if day else 0), running)
            await settle(1.0, running)  # more cycles: no second event for the same day
            expected += day
            # One event for the cycle that found the day's images, naming them all; none on a quiet day.
            assert len(running.events) == count + (1 if day else 0), (day, running.events[count:])
        # Nothing changes: several more cycles, no event.
        count = len(running.events)
        searches, _ = search_requests(sandbox)
        await settle(1.5, running)
        assert len(running.events) == count
        assert search_requests(sandbox)[0] > searches + 3  # it did keep searching
        await running.stop()

        assert expected, "the live stream published no eligible image in four days: pick another T0"
        assert running.ids == [i["id"] for i in sorted(expected, key=lambda i: (i["publication_date"], i["id"]))]
        assert len(set(running.ids)) == len(running.ids)
        # Everything published over the field meanwhile was looked at; the filtered ones were not emitted.
        everything = published_between(oneatlas_conn, start, clock(sandbox))
        assert len(everything) > len(expected), "no image was filtered out: the filters are not exercised"
        for event in running.events:
            assert event["watch"] == trigger.state_key
        for image in running.images:
            assert image["cloud_cover"] <= 60 and image["coverage"] >= 0.2
            assert image["acquisition_date"] < image["publication_date"]
            assert start.isoformat() < image["publication_date"].replace("Z", "+00:00")
        assert images_from_events([{"payload": e} for e in running.events]) == running.images

    asyncio.run(scenario())


def test_published_since_emits_what_was_published_since_then(oneatlas_conn: str, sandbox: Any, variables: None) -> None:
    since = datetime(2025, 5, 28, tzinfo=timezone.utc)

    async def scenario() -> list[str]:
        running = Running(watcher(oneatlas_conn, published_since=since.isoformat()))
        await until(lambda: len(running.ids) >= len(expected), running)
        await settle(1.0, running)  # more cycles: nothing more, nothing twice
        await running.stop()
        return running.ids

    expected = published_between(oneatlas_conn, since, clock(sandbox), newest_first=False)
    assert expected
    ids = asyncio.run(scenario())
    assert ids == [i["id"] for i in sorted(expected, key=lambda i: (i["publication_date"], i["id"]))]


def test_a_restart_emits_nothing_twice_and_misses_nothing(oneatlas_conn: str, sandbox: Any, variables: None) -> None:
    async def scenario() -> None:
        first = Running(rebuilt(watcher(oneatlas_conn)))
        await until(lambda: watching() == 1, first)  # its baseline taken
        await asyncio.to_thread(advance, sandbox, 2 * DAY)
        await until(lambda: bool(first.events), first)  # two days bring images over the field
        await settle(1.0, first)
        await first.stop()  # the triggerer goes away (its state was written after the events)

        # While no triggerer runs, more images are published.
        before = clock(sandbox)
        await asyncio.to_thread(advance, sandbox, 2 * DAY)
        missed_meanwhile = published_between(oneatlas_conn, before, clock(sandbox), newest_first=False)

        second = Running(rebuilt(watcher(oneatlas_conn)))  # same kwargs, a new instance
        await until(lambda: len(second.ids) >= len(missed_meanwhile), second)
        await settle(1.2, second)
        await second.stop()
        assert not set(first.ids) & set(second.ids)
        assert sorted(second.ids) == sorted(i["id"] for i in missed_meanwhile)

    asyncio.run(scenario())


def test_killed_between_emit_and_persist_emits_again_rather_than_miss(
    oneatlas_conn: str, sandbox: Any, variables: None
) -> None:
    """Events not yet recorded when the triggerer dies come again (the order step dedupes them)."""

    async def scenario() -> None:
        first = Running(rebuilt(watcher(oneatlas_conn, persist_delay=60)))
        await until(lambda: watching() == 1, first)
        await asyncio.to_thread(advance, sandbox, 3 * DAY)
        await until(lambda: bool(first.events), first)
        await settle(0.5, first)
        await first.stop()  # killed while waiting to record them

        second = Running(rebuilt(watcher(oneatlas_conn)))
        await until(lambda: len(second.ids) >= len(first.ids), second)
        await settle(1.0, second)
        await second.stop()
        assert second.ids == first.ids

    asyncio.run(scenario())


def test_state_is_an_airflow_variable(oneatlas_conn: str, sandbox: Any, variables: None) -> None:
    trigger = watcher(oneatlas_conn)

    async def scenario() -> int:
        running = Running(trigger)
        await until(lambda: watching() == 1, running)
        await asyncio.to_thread(advance, sandbox, 2 * DAY)
        await until(lambda: bool(running.events), running)
        await settle(0.5, running)  # the state is written after the events
        await running.stop()
        assert running.events
        return len(running.images)

    emitted = asyncio.run(scenario())
    from airflow.models.variable import Variable

    state = json.loads(Variable.get(trigger.state_key))
    assert state["version"] == 1 and state["emitted"] == emitted
    loaded = asyncio.run(VariableStore().load(trigger.state_key))
    assert isinstance(loaded, WatchState) and loaded.watermark is not None
    assert loaded.watermark <= clock(sandbox)
    # Only ids the next overlapped search can return again are kept.
    edge = loaded.watermark - timedelta(seconds=trigger.overlap_seconds)
    assert all(datetime.fromisoformat(p.replace("Z", "+00:00")) >= edge for p in loaded.seen.values())


# -- sharing ----------------------------------------------------------------------------------------


def test_watchers_sharing_connection_and_filters_cost_one_search_per_cycle(
    oneatlas_conn: str, sandbox: Any, variables: None
) -> None:
    async def scenario() -> None:
        # Same connection and search filters, different coverage thresholds: two streams, one search.
        loose = Running(rebuilt(watcher(oneatlas_conn, max_cloud_cover=60, poll_interval=0.5)))
        strict = Running(rebuilt(watcher(oneatlas_conn, max_cloud_cover=60, min_coverage=0.9, poll_interval=0.5)))
        assert loose.trigger.state_key != strict.trigger.state_key
        # Both started (each made its own baseline search) and joined the one shared poller.
        await until(lambda: watching() == 2, loose, strict)
        await settle(0.5, loose, strict)
        (poller,) = [p for p in CataloguePoller._pollers.values() if p.watches]
        assert len(poller.watches) == 2
        _, index = search_requests(sandbox)
        cycles_before = poller.cycles
        await asyncio.to_thread(advance, sandbox, 3 * DAY)
        await settle(3.0, loose, strict)
        searches, _ = search_requests(sandbox, index)
        cycles = poller.cycles - cycles_before
        await loose.stop()
        await strict.stop()

        assert cycles >= 4
        assert searches <= cycles + 1, (searches, cycles)  # one search a cycle (+1 in flight), not two
        assert loose.events, "three days brought no image"
        assert set(strict.ids) <= set(loose.ids)
        assert all(image["coverage"] >= 0.9 for image in strict.images)

    asyncio.run(scenario())


def test_two_instances_of_one_watcher_in_one_process_emit_each_image_once(
    oneatlas_conn: str, sandbox: Any, variables: None
) -> None:
    async def scenario() -> None:
        one = Running(rebuilt(watcher(oneatlas_conn)))
        two = Running(rebuilt(watcher(oneatlas_conn)))
        await until(lambda: watching() == 2, one, two)
        await asyncio.to_thread(advance, sandbox, 3 * DAY)
        await until(lambda: bool(one.ids or two.ids), one, two)
        await settle(1.5, one, two)  # more cycles of both: a duplicate would show now
        await one.stop()
        await two.stop()
        emitted = one.ids + two.ids
        assert emitted and len(emitted) == len(set(emitted))

    asyncio.run(scenario())


def test_images_from_events_names_each_image_once_oldest_first() -> None:
    """What the DAG reads: several events folded into one run, one image named twice (re-emitted)."""

    class Event:  # the shape of an AssetEvent in ``triggering_asset_events``: ``extra["payload"]``
        def __init__(self, *images: dict[str, Any]) -> None:
            self.extra = {"from_trigger": True, "payload": {"images": list(images), "watch": "k"}}

    a = {"id": "image-a", "publication_date": "2025-06-01T10:00:00.000000Z"}
    b = {"id": "image-b", "publication_date": "2025-06-02T10:00:00.000000Z"}
    c = {"id": "image-c", "publication_date": "2025-06-01T12:00:00.000000Z"}
    assert images_from_events([Event(a, b), Event(b, c), Event()]) == [a, c, b]
    assert images_from_events(None) == [] and images_from_events([{"payload": {"images": "junk"}}]) == []
