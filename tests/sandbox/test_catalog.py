"""The catalog (``airflow_provider_oneatlas.sandbox.catalog``): the index, and the live catalogue over real HTTP,
where an image is found only once published on the sandbox clock and new images keep arriving.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

import pytest
from shapely.geometry import shape

from airflow_provider_oneatlas.sandbox.catalog import Catalog
from airflow_provider_oneatlas.sandbox.config import SandboxConfig
from airflow_provider_oneatlas.sandbox.generator import DEMO_AREAS
from airflow_provider_oneatlas.sandbox.samples import TUTORIAL_PRICE_ITEM_ID
from airflow_provider_oneatlas.sandbox.server import SandboxServer
from tests.conftest import TUTORIAL_AOI as TOULOUSE_AOI
from tests.conftest import TUTORIAL_SEARCH_AOI as CAVTAT_AOI
from tests.sandbox.conftest import Api, ids, search
from tests.sandbox.http import ARCHIVE_ONLY, DAY, START, utc, when, z

TOULOUSE_BBOX = ",".join(str(v) for v in DEMO_AREAS["toulouse"])


CAVTAT_BBOX = ",".join(str(v) for v in DEMO_AREAS["cavtat"])


def test_get_returns_a_copy_and_add_replaces_by_id() -> None:
    catalog = Catalog(SandboxConfig(**ARCHIVE_ONLY, catalog_size=10))
    item = catalog.get(TUTORIAL_PRICE_ITEM_ID)
    assert item is not None
    item["properties"]["cloudCover"] = 99
    assert catalog.get(TUTORIAL_PRICE_ITEM_ID)["properties"]["cloudCover"] == 1.25  # type: ignore[index]
    private = copy.deepcopy(item)
    private["properties"].update(id="p-1", workspaceId="ws-private", workspaceName="private", cloudCover=3)
    catalog.add(private)
    assert len(catalog) == 15
    assert [f["properties"]["id"] for f in catalog.query(workspace="private")] == ["p-1"]
    private["properties"]["cloudCover"] = 4
    catalog.add(private)
    assert len(catalog) == 15
    assert catalog.query(workspace="ws-private", cloudCover="4") == [catalog.all()[-1]]
    with pytest.raises(ValueError):
        catalog.add({"properties": {"workspaceId": "x"}, "geometry": TOULOUSE_AOI})


def test_a_large_catalog_searches_correctly() -> None:
    catalog = Catalog(SandboxConfig(**ARCHIVE_ONLY, seed=2, catalog_size=25_000))
    assert len(catalog) == 25_004
    aoi = shape(CAVTAT_AOI)
    found = catalog.query(
        geometry=CAVTAT_AOI, acquisitionDate="[2020-01-01T00:00:00Z,2023-01-01T00:00:00Z)", cloudCover="[0,20]"
    )
    expected = {
        f["properties"]["id"]
        for f in catalog.all()
        if shape(f["geometry"]).intersects(aoi)
        and when("2020-01-01T00:00:00Z") <= when(f["properties"]["acquisitionDate"]) < when("2023-01-01T00:00:00Z")
        and f["properties"]["cloudCover"] <= 20
    }
    assert {f["properties"]["id"] for f in found} == expected
    assert len(expected) > 100


def test_an_image_is_found_only_once_published_and_advancing_the_clock_publishes_it(
    live: Api, live_server: SandboxServer
) -> None:
    now = utc(START)
    # Ground truth from the whole index: an image acquired already but published later.
    stored = live.http.get("/_sandbox/clock").json()
    assert stored["now"] == "2024-05-01T00:00:00.000000Z"
    pending = [
        f
        for f in live_server.state.catalog.all(unpublished=True)
        if utc(f["properties"]["acquisitionDate"]) <= now < utc(f["properties"]["publicationDate"])
    ]
    assert pending, "the live stream has images in the making at any moment"
    image = min(pending, key=lambda f: f["properties"]["publicationDate"])
    image_id = image["properties"]["id"]
    published = utc(image["properties"]["publicationDate"])

    assert search(live, id=image_id)["totalResults"] == 0
    assert image_id not in ids(search(live, bbox="-180,-90,180,90", acquisitionDate=f"[{START},]"))
    assert live.get(f"/api/v1/items/{image_id}/quicklook").status_code == 404

    # One microsecond short of its publication: still not there.
    short = (published - now).total_seconds() - 1e-6
    assert live.admin("POST", "/clock", json={"advance": short}).status_code == 200
    assert search(live, id=image_id)["totalResults"] == 0
    assert live.admin("POST", "/clock", json={"advance": 1e-6}).json()["now"] == z(published)
    found = search(live, id=image_id)
    assert ids(found) == [image_id]
    assert found["features"][0]["properties"]["publicationDate"] == image["properties"]["publicationDate"]
    assert live.get(f"/api/v1/items/{image_id}/quicklook").status_code == 200


def test_new_images_keep_arriving_day_after_day_over_the_demo_areas(live: Api) -> None:
    """A daily run over a demo field finds 0..n new images, some cloudy some clear, late ones included."""
    per_day: dict[str, list[int]] = {"toulouse": [], "cavtat": []}
    late = 0
    clear = cloudy = 0
    seen: set[str] = set()
    day_start = utc(START)
    for _ in range(30):
        live.admin("POST", "/clock", json={"advance": DAY})
        day_end = day_start + timedelta(days=1)
        window = f"[{z(day_start)},{z(day_end)}["
        for area, bbox in (("toulouse", TOULOUSE_BBOX), ("cavtat", CAVTAT_BBOX)):
            document = search(live, bbox=bbox, publicationDate=window, sortBy="publicationDate")
            found = document["features"]
            per_day[area].append(len(found))
            for feature in found:
                props = feature["properties"]
                assert props["id"] not in seen
                seen.add(props["id"])
                assert day_start <= utc(props["publicationDate"]) < day_end
                acquired = utc(props["acquisitionDate"])
                assert acquired < utc(props["publicationDate"]) <= acquired + timedelta(days=4)
                late += acquired.date() < utc(props["publicationDate"]).date()
                clear += props["cloudCover"] <= 10
                cloudy += props["cloudCover"] >= 30
            dates = [f["properties"]["publicationDate"] for f in found]
            assert dates == sorted(dates)
        day_start = day_end
    for area, counts in per_day.items():
        assert sum(counts) >= 20, (area, counts)  # a few a day on average
        assert 0 in counts, (area, counts)  # some days bring nothing new
        assert max(counts) >= 3, (area, counts)  # others several
        assert sum(1 for c in counts if c > 0) >= 15, (area, counts)
    assert late >= 10  # published a day or more after acquisition
    assert clear >= 10 and cloudy >= 10


def test_publication_windows_over_http_tile_a_week(live: Api) -> None:
    live.admin("POST", "/clock", json={"now": "2024-05-08T00:00:00Z"})
    whole = ids(search(live, publicationDate="[2024-05-01T00:00:00Z,2024-05-08T00:00:00Z["))
    assert len(whole) > 10
    pieces: list[str] = []
    for day in range(1, 8):
        window = f"[2024-05-0{day}T00:00:00Z,2024-05-0{day + 1}T00:00:00Z["
        pieces += ids(search(live, publicationDate=window))
    assert sorted(pieces) == sorted(whole) and len(pieces) == len(set(pieces))
    # Inclusive upper bound and exclusive lower bound spelled the ISO way.
    assert search(live, publicationDate="]2024-05-01T00:00:00Z,2024-05-08T00:00:00Z]")["totalResults"] >= len(whole) - 1


def test_sorting_by_publication_date(live: Api) -> None:
    live.admin("POST", "/clock", json={"advance": 5 * DAY})
    ascending = search(live, bbox=TOULOUSE_BBOX, sortBy="publicationDate")["features"]
    descending = search(live, bbox=TOULOUSE_BBOX, sortBy="-publicationDate")["features"]
    dates = [utc(f["properties"]["publicationDate"]) for f in ascending]
    assert len(dates) > 10 and dates == sorted(dates)
    assert [utc(f["properties"]["publicationDate"]) for f in descending] == sorted(dates, reverse=True)
    assert max(dates) <= utc(START) + timedelta(days=5)


def test_an_explicit_catalog_end_ends_the_live_stream_too() -> None:
    """A catalogue that ends in 2024 has nothing new today: no image acquired after catalog_end."""
    ended = Catalog(SandboxConfig(catalog_size=50, catalog_end="2024-12-31"))  # the real clock: today
    newest = max(utc(f["properties"]["acquisitionDate"]) for f in ended.all(unpublished=True))
    assert newest < utc("2025-01-01T00:00:00Z")
    yesterday = datetime.now(timezone.utc) - timedelta(days=1)
    assert ended.query(publicationDate=f"[{z(yesterday)},]") == []
    # Unset, the stream runs up to today.
    open_ended = Catalog(SandboxConfig(catalog_size=50))
    assert max(utc(f["properties"]["acquisitionDate"]) for f in open_ended.all()) > yesterday - timedelta(days=4)
