"""The live catalogue (``airflow_provider_oneatlas.sandbox.catalog`` with its clock), over real HTTP:
an image is found only once published, new images keep arriving, publication windows tile time."""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_oneatlas.sandbox.catalog import Catalog
from airflow_provider_oneatlas.sandbox.clock import Clock, parse_instant
from airflow_provider_oneatlas.sandbox.config import SandboxConfig
from airflow_provider_oneatlas.sandbox.generator import DEMO_AREAS
from airflow_provider_oneatlas.sandbox.samples import TUTORIAL_ITEM_IDS, TUTORIAL_PRICE_ITEM_ID
from airflow_provider_oneatlas.sandbox.server import SandboxServer
from tests.sandbox.conftest import Api, MakeApi, MakeSandbox

START = "2024-05-01T00:00:00Z"
DAY = 86_400
TOULOUSE_BBOX = ",".join(str(v) for v in DEMO_AREAS["toulouse"])
CAVTAT_BBOX = ",".join(str(v) for v in DEMO_AREAS["cavtat"])


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def z(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def search(api: Api, **params: Any) -> dict[str, Any]:
    answer = api.post("/api/v1/opensearch", json={"itemsPerPage": 500, **params})
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def ids(document: dict[str, Any]) -> list[str]:
    return [f["properties"]["id"] for f in document["features"]]


@pytest.fixture
def live_server(make_sandbox: MakeSandbox) -> SandboxServer:
    """A sandbox whose clock stands still at 2024-05-01T00:00Z until the test moves it."""
    return make_sandbox(catalog_size=300, clock_start=START, clock_speed=0)


@pytest.fixture
def live(live_server: SandboxServer, make_api: MakeApi) -> Api:
    return make_api(live_server)


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


def test_the_tutorial_images_stay_searchable(make_sandbox: MakeSandbox, make_api: MakeApi) -> None:
    # Real time (the default clock): their publication dates are long past.
    api = make_api(make_sandbox(catalog_size=20))
    document = search(api, id=",".join([*TUTORIAL_ITEM_IDS, TUTORIAL_PRICE_ITEM_ID]))
    assert sorted(ids(document)) == sorted([*TUTORIAL_ITEM_IDS, TUTORIAL_PRICE_ITEM_ID])
    assert {f["properties"]["publicationDate"][:16] for f in document["features"]} >= {"2018-08-30T07:06"}
    # A pinned clock in 2024 still sees them.
    pinned = make_api(make_sandbox(catalog_size=20, clock_start=START, clock_speed=0))
    assert search(pinned, id=TUTORIAL_ITEM_IDS[0])["totalResults"] == 1


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


def test_the_stream_is_the_same_whatever_the_order_days_are_generated_in() -> None:
    config = SandboxConfig(catalog_size=0, seed=4)
    step_by_step = Catalog(config, Clock(parse_instant("t", START), speed=0))
    for _ in range(20):
        step_by_step.clock.advance(DAY)
        step_by_step.all()
    at_once = Catalog(config, Clock(parse_instant("t", START) + 20 * DAY, speed=0))
    # at_once generated the 30 days before its time; step_by_step those before 2024-05-01 as well.
    since = utc(START) + timedelta(days=20 - 30)

    def recent(catalog: Catalog) -> dict[str, dict[str, Any]]:
        return {
            f["properties"]["id"]: f["properties"]
            for f in catalog.all()
            if utc(f["properties"]["acquisitionDate"]) >= since
        }

    assert len(recent(at_once)) > 50
    assert recent(step_by_step) == recent(at_once)
    other_seed = Catalog(SandboxConfig(catalog_size=0, seed=5), Clock(parse_instant("t", START) + 20 * DAY, speed=0))
    assert recent(other_seed).keys().isdisjoint(recent(at_once))


def test_contiguous_publication_windows_never_repeat_nor_miss_an_image() -> None:
    """Property: any cut of time into half-open windows returns each published image exactly once."""
    clock = Clock(parse_instant("t", START) + 40 * DAY, speed=0)
    catalog = Catalog(
        SandboxConfig(catalog_size=400, catalog_start="2024-03-01", catalog_end="2024-06-30", seed=9), clock
    )
    low, high = utc(START) - timedelta(days=40), utc(START) + timedelta(days=40)
    truth = {f["properties"]["id"] for f in catalog.all() if low <= utc(f["properties"]["publicationDate"]) < high}
    assert len(truth) > 150
    # Windows whose bounds fall exactly on publication instants are the edge that matters.
    instants = sorted(utc(f["properties"]["publicationDate"]) for f in catalog.all() if f["properties"]["id"] in truth)
    rng = random.Random(1)
    for trial in range(40):
        cuts = {low, high}
        for _ in range(rng.randint(1, 60)):
            cuts.add(rng.choice(instants) if rng.random() < 0.5 else low + (high - low) * rng.random())
        edges = sorted(cuts)
        bracket = rng.choice([("[", "["), ("[", ")")])  # the two spellings of a half-open window
        found: list[str] = []
        for start, end in itertools.pairwise(edges):
            window = f"{bracket[0]}{z(start)},{z(end)}{bracket[1]}"
            found += [f["properties"]["id"] for f in catalog.query(publicationDate=window)]
        assert len(found) == len(set(found)), f"trial {trial}: an image in two windows"
        assert set(found) == truth, f"trial {trial}: missed {truth - set(found)}"


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


def test_a_bad_publication_date_range_names_the_field(live: Api) -> None:
    answer = live.post("/api/v1/opensearch", json={"publicationDate": "[2024-05-02T00:00:00Z,2024-05-01T00:00:00Z["})
    assert answer.status_code == 400
    assert answer.json()["message"].startswith("publicationDate: invalid range")
    assert "[a,b[" in answer.json()["hint"]
