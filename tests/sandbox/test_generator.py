"""Generated images (``airflow_provider_oneatlas.sandbox.generator``): the seeded archive and the live stream."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from shapely.geometry import box, shape

from airflow_provider_oneatlas.sandbox.catalog import PUBLIC_WORKSPACE_ID, Catalog
from airflow_provider_oneatlas.sandbox.clock import Clock, parse_instant
from airflow_provider_oneatlas.sandbox.config import SandboxConfig
from airflow_provider_oneatlas.sandbox.generator import DEMO_AREAS
from tests.conftest import tutorial
from tests.sandbox.http import ARCHIVE_ONLY, DAY, START, utc, when


def test_same_seed_same_catalog_other_seed_other_catalog() -> None:
    first = Catalog(SandboxConfig(**ARCHIVE_ONLY, seed=3, catalog_size=400))
    again = Catalog(SandboxConfig(**ARCHIVE_ONLY, seed=3, catalog_size=400))
    other = Catalog(SandboxConfig(**ARCHIVE_ONLY, seed=4, catalog_size=400))
    assert len(first) == 400 + 4
    assert [f["properties"] for f in first.all()] == [f["properties"] for f in again.all()]
    assert [f["geometry"] for f in first.all()] == [f["geometry"] for f in again.all()]
    generated = {f["properties"]["id"] for f in first.all()[4:]}
    assert generated.isdisjoint(f["properties"]["id"] for f in other.all()[4:])
    assert len(generated) == 400


def test_generated_items_look_like_the_tutorials() -> None:
    catalog = Catalog(
        SandboxConfig(**ARCHIVE_ONLY, seed=1, catalog_size=3000, catalog_start="2019-03-01", catalog_end="2024-06-30")
    )
    reference = tutorial("search.json")["features"][0]
    start, end = when("2019-03-01T00:00:00Z"), when("2024-07-01T00:00:00Z")
    platforms = {"SPOT": {"SPOT6", "SPOT7"}, "PHR": {"PHR1A", "PHR1B"}, "PNEO": {"PNEO3", "PNEO4"}}
    resolutions = {"SPOT": (1.4, 1.8), "PHR": (0.45, 0.6), "PNEO": (0.28, 0.36)}
    in_demo = 0
    generated = catalog.all()[4:]
    for feature in generated:
        props = feature["properties"]
        assert list(feature) == list(reference)
        assert set(props) == set(reference["properties"])
        assert set(feature["_links"]) == set(reference["_links"])
        assert start <= when(props["acquisitionDate"]) < end
        assert when(props["acquisitionDate"]) < when(props["processingDate"]) < when(props["publicationDate"])
        assert props["platform"] in platforms[props["constellation"]]
        low, high = resolutions[props["constellation"]]
        assert low <= props["resolution"] <= high
        assert 0 <= props["cloudCover"] <= 100 and 0 <= props["snowCover"] <= 100
        assert 0 <= props["incidenceAngle"] <= 45
        assert props["processingLevel"] in {"SENSOR", "ORTHO", "ALBUM"}
        assert props["workspaceId"] == PUBLIC_WORKSPACE_ID and props["workspaceName"] == "public"
        assert props["title"] == props["sourceIdentifier"] and props["platform"] in props["parentIdentifier"]
        footprint = shape(feature["geometry"])
        assert footprint.is_valid and footprint.geom_type == "Polygon"
        minx, miny, maxx, maxy = footprint.bounds
        width_km = (maxx - minx) * 111.32 * math.cos(math.radians((miny + maxy) / 2))
        height_km = (maxy - miny) * 110.57
        assert 15 <= width_km <= 75 and 15 <= height_km <= 75, (width_km, height_km)
        point = footprint.centroid
        if any(box(*area).buffer(0.2).contains(point) for area in DEMO_AREAS.values()):
            in_demo += 1
    # About 30% over the demo areas; clear skies more common than cloudy ones; mostly SENSOR.
    assert 0.25 <= in_demo / len(generated) <= 0.35
    clouds = [f["properties"]["cloudCover"] for f in generated]
    assert sum(c <= 30 for c in clouds) > 2 * sum(c > 70 for c in clouds)
    levels = [f["properties"]["processingLevel"] for f in generated]
    assert levels.count("SENSOR") > levels.count("ORTHO") + levels.count("ALBUM")
    assert {f["properties"]["constellation"] for f in generated} == {"SPOT", "PHR", "PNEO"}
    # Pleiades Neo flies since 2021.
    assert all(
        when(f["properties"]["acquisitionDate"]) >= when("2021-06-01T00:00:00Z")
        for f in generated
        if f["properties"]["constellation"] == "PNEO"
    )


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
