"""The sandbox's generated images: a seeded archive, and (see :func:`live_columns`) a live stream.

Both go through :func:`build`, which turns columns of random draws into features with the tutorial's
property set, vectorised: 25,000 images take well under a second.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

from airflow_provider_oneatlas.sandbox.filters import parse_datetime
from airflow_provider_oneatlas.sandbox.samples import (
    PUBLIC_WORKSPACE_ID,
    PUBLIC_WORKSPACE_NAME,
    TUTORIAL_RIGHTS,
    real_links,
)

#: Demo areas (min lon, min lat, max lon, max lat) where many generated images lie.
DEMO_AREAS: dict[str, tuple[float, float, float, float]] = {
    "cavtat": (18.19, 42.42, 18.45, 42.66),
    "toulouse": (1.24, 43.47, 1.57, 43.71),
}

DAY_US = 86_400_000_000

AnyArray = npt.NDArray[Any]

#: The random draws of ``n`` images, by name (see :func:`archive_columns`).
Columns = dict[str, Any]


@dataclass
class Batch:
    """Generated features and their columns; ``kept`` selects the rows of fresh ids in the columns."""

    features: list[dict[str, Any]]
    kept: list[int]
    numbers: Mapping[str, AnyArray]
    geometries: list[BaseGeometry]


def archive_columns(seed: int, size: int, start_us: int, end_us: int) -> Columns | None:
    """The random draws of ``size`` archive images acquired between ``start_us`` and ``end_us``."""
    n = size
    if n == 0:
        return None
    rng = np.random.default_rng([seed & 0xFFFFFFFF, 0x0A71A5])
    # Where: 15% over Cavtat, 15% over Toulouse, the rest anywhere between 60S and 72N.
    area = rng.random(n)
    lon = rng.uniform(-178.5, 178.5, n)
    lat = rng.uniform(-60.0, 72.0, n)
    for k, (minx, miny, maxx, maxy) in enumerate(DEMO_AREAS.values()):
        chosen = (area >= 0.15 * k) & (area < 0.15 * (k + 1))
        count = int(chosen.sum())
        lon[chosen] = rng.uniform(minx - 0.12, maxx + 0.12, count)
        lat[chosen] = rng.uniform(miny - 0.1, maxy + 0.1, count)
    # What: constellation, then platform, resolution and swath.
    constellation_code = rng.choice(3, size=n, p=[0.4, 0.4, 0.2])  # SPOT, PHR, PNEO
    second_platform = rng.random(n) < 0.5
    # When: a day in the range; time of day near 10:30 local solar time (sun-synchronous orbits).
    span_days = max(1, (end_us - start_us) // 86_400_000_000 + 1)
    day = rng.integers(0, span_days, n)
    local_hours = 10.5 + rng.normal(0.0, 0.35, n)
    utc_hours = np.mod(local_hours - lon / 15.0, 24.0)
    acquired = start_us + day * 86_400_000_000 + np.floor(utc_hours * 3_600_000) * 1000
    acquired = np.clip(acquired, start_us, end_us - 999)
    acquired = (acquired // 1000) * 1000  # millisecond precision, as the API writes it
    # Pleiades Neo flies since 2021: older "PNEO" images are Pleiades ones.
    pneo_start = parse_datetime("2021-06-01T00:00:00Z")
    constellation_code = np.where((constellation_code == 2) & (acquired < pneo_start), 1, constellation_code)
    res_base = np.array([1.5, 0.5, 0.3])[constellation_code]
    resolution = np.round(res_base * (1.0 + rng.uniform(0.0, 0.12, n)), 5)
    width_km = np.where(constellation_code == 0, rng.uniform(40, 60, n), rng.uniform(20, 30, n))
    height_km = rng.uniform(20, 60, n)
    # Quality: cloud cover skewed to clear skies, some snow, incidence mostly moderate.
    cloud = np.round(100.0 * rng.random(n) ** 3, 2)
    cloud = np.where(rng.random(n) < 0.12, 0.0, cloud)
    snow = np.where(rng.random(n) < 0.85, 0.0, np.round(60.0 * rng.random(n) ** 2, 2))
    incidence = np.clip(np.abs(rng.normal(0.0, 11.0, n)), 0.3, 45.0)
    track_angle = rng.uniform(0.0, 2.0 * math.pi, n)
    across = incidence * np.cos(track_angle)
    along = incidence * np.sin(track_angle)
    azimuth = rng.uniform(0.0, 360.0, n)
    sun_azimuth = rng.uniform(100.0, 220.0, n)
    sun_elevation = rng.uniform(15.0, 72.0, n)
    level_code = rng.choice(3, size=n, p=[0.75, 0.15, 0.10])  # SENSOR, ORTHO, ALBUM
    pansharpened = rng.random(n) < 0.5
    station_code = rng.integers(0, 4, n)
    reference = rng.integers(0, 1_000_000, n)
    strip = rng.integers(0, 10_000, n)
    scene = rng.integers(0, 100_000, n)
    processing_delay = rng.uniform(0.5, 3.0, n) * 86_400_000_000
    publication_delay = rng.uniform(1.0, 14.0, n) * 3_600_000_000
    # Footprints: a rectangle turned a little off north, corners nudged like real scenes.
    rotation = np.radians(rng.uniform(-8.0, 8.0, n))
    jitter = rng.uniform(-0.02, 0.02, (n, 4, 2))
    identifiers = rng.bytes(16 * n)
    correlations = rng.bytes(16 * n)

    return {
        "lon": lon,
        "lat": lat,
        "constellation_code": constellation_code,
        "second_platform": second_platform,
        "acquired": acquired,
        "resolution": resolution,
        "width_km": width_km,
        "height_km": height_km,
        "cloud": cloud,
        "snow": snow,
        "incidence": incidence,
        "across": across,
        "along": along,
        "azimuth": azimuth,
        "sun_azimuth": sun_azimuth,
        "sun_elevation": sun_elevation,
        "level_code": level_code,
        "pansharpened": pansharpened,
        "station_code": station_code,
        "reference": reference,
        "strip": strip,
        "scene": scene,
        "processing_delay": processing_delay,
        "publication_delay": publication_delay,
        "rotation": rotation,
        "jitter": jitter,
        "identifiers": identifiers,
        "correlations": correlations,
    }


#: Live stream: how many images a day over each demo area (0 to 3, with these odds), and elsewhere.
LIVE_PER_DEMO_AREA_ODDS = (0.3, 0.35, 0.25, 0.1)
LIVE_ELSEWHERE_MAX = 3
#: Publication delay after acquisition, in hours: (probability, low, high) bands. An image acquired on
#: day D publishes the same day, or on D+1 to D+3.
LIVE_PUBLICATION_BANDS = ((0.45, 3.0, 20.0), (0.4, 20.0, 48.0), (0.15, 48.0, 78.0))


def live_day_columns(seed: int, day: int) -> Columns | None:
    """The images acquired on ``day`` (days since 1970-01-01 UTC) in the live stream.

    A day's images depend only on the seed and the day, so the stream is the same whatever order its
    days are generated in: a few images over each demo area (some cloudy, some clear, some days none)
    and a few elsewhere, published hours to three days after acquisition.
    """
    rng = np.random.default_rng([seed & 0xFFFFFFFF, 0x11FE, day & 0xFFFFFFFF])
    areas = list(DEMO_AREAS.values())
    counts = [int(rng.choice(len(LIVE_PER_DEMO_AREA_ODDS), p=LIVE_PER_DEMO_AREA_ODDS)) for _ in areas]
    elsewhere = int(rng.integers(0, LIVE_ELSEWHERE_MAX + 1))
    n = sum(counts) + elsewhere
    if n == 0:
        return None
    lon = rng.uniform(-178.5, 178.5, n)
    lat = rng.uniform(-60.0, 72.0, n)
    at = 0
    for count, (minx, miny, maxx, maxy) in zip(counts, areas, strict=True):
        lon[at : at + count] = rng.uniform(minx - 0.12, maxx + 0.12, count)
        lat[at : at + count] = rng.uniform(miny - 0.1, maxy + 0.1, count)
        at += count
    constellation_code = rng.choice(3, size=n, p=[0.4, 0.4, 0.2])  # SPOT, PHR, PNEO
    second_platform = rng.random(n) < 0.5
    local_hours = 10.5 + rng.normal(0.0, 0.35, n)
    utc_hours = np.clip(np.mod(local_hours - lon / 15.0, 24.0), 0.0, 23.999)
    acquired = day * DAY_US + np.floor(utc_hours * 3_600_000) * 1000
    pneo_start = parse_datetime("2021-06-01T00:00:00Z")
    constellation_code = np.where((constellation_code == 2) & (acquired < pneo_start), 1, constellation_code)
    res_base = np.array([1.5, 0.5, 0.3])[constellation_code]
    resolution = np.round(res_base * (1.0 + rng.uniform(0.0, 0.12, n)), 5)
    width_km = np.where(constellation_code == 0, rng.uniform(40, 60, n), rng.uniform(20, 30, n))
    height_km = rng.uniform(30, 60, n)
    # Half clear (under 10%), half cloudy (30% to 100%): a cloud-cover threshold keeps some, not all.
    cloud = np.where(rng.random(n) < 0.5, np.round(rng.uniform(0.0, 10.0, n), 2), np.round(rng.uniform(30, 100, n), 2))
    snow = np.zeros(n)
    incidence = np.clip(np.abs(rng.normal(0.0, 11.0, n)), 0.3, 45.0)
    track_angle = rng.uniform(0.0, 2.0 * math.pi, n)
    across = incidence * np.cos(track_angle)
    along = incidence * np.sin(track_angle)
    azimuth = rng.uniform(0.0, 360.0, n)
    sun_azimuth = rng.uniform(100.0, 220.0, n)
    sun_elevation = rng.uniform(15.0, 72.0, n)
    level_code = np.where(rng.random(n) < 0.85, 0, 1)  # SENSOR (orderable), else ORTHO
    pansharpened = rng.random(n) < 0.5
    station_code = rng.integers(0, 4, n)
    reference = rng.integers(0, 1_000_000, n)
    strip = rng.integers(0, 10_000, n)
    scene = rng.integers(0, 100_000, n)
    band = rng.choice(len(LIVE_PUBLICATION_BANDS), size=n, p=[b[0] for b in LIVE_PUBLICATION_BANDS])
    low = np.array([b[1] for b in LIVE_PUBLICATION_BANDS])[band]
    high = np.array([b[2] for b in LIVE_PUBLICATION_BANDS])[band]
    delay = np.floor(rng.uniform(low, high) * 3_600_000_000)
    # Processing takes most of the delay; publication follows processing.
    processing_delay = np.floor(delay * 0.8)
    publication_delay = delay - processing_delay
    rotation = np.radians(rng.uniform(-8.0, 8.0, n))
    jitter = rng.uniform(-0.02, 0.02, (n, 4, 2))
    identifiers = rng.bytes(16 * n)
    correlations = rng.bytes(16 * n)
    return {
        "lon": lon,
        "lat": lat,
        "constellation_code": constellation_code,
        "second_platform": second_platform,
        "acquired": acquired,
        "resolution": resolution,
        "width_km": width_km,
        "height_km": height_km,
        "cloud": cloud,
        "snow": snow,
        "incidence": incidence,
        "across": across,
        "along": along,
        "azimuth": azimuth,
        "sun_azimuth": sun_azimuth,
        "sun_elevation": sun_elevation,
        "level_code": level_code,
        "pansharpened": pansharpened,
        "station_code": station_code,
        "reference": reference,
        "strip": strip,
        "scene": scene,
        "processing_delay": processing_delay,
        "publication_delay": publication_delay,
        "rotation": rotation,
        "jitter": jitter,
        "identifiers": identifiers,
        "correlations": correlations,
    }


def live_columns(seed: int, days: Iterable[int]) -> Columns | None:
    """The live stream's images acquired on ``days``, as one set of columns."""
    parts = [c for c in (live_day_columns(seed, day) for day in days) if c is not None]
    if not parts:
        return None
    out: Columns = {}
    for name in parts[0]:
        if name in ("identifiers", "correlations"):
            out[name] = b"".join(part[name] for part in parts)
        else:
            out[name] = np.concatenate([part[name] for part in parts])
    return out


def build(draws: Columns, known: Collection[str]) -> Batch:
    """Features from the draws; ids already in ``known`` (or repeated) are left out."""
    n = len(draws["lon"])
    lon: AnyArray = draws["lon"]
    lat: AnyArray = draws["lat"]
    constellation_code: AnyArray = draws["constellation_code"]
    second_platform: AnyArray = draws["second_platform"]
    acquired: AnyArray = draws["acquired"]
    resolution: AnyArray = draws["resolution"]
    width_km: AnyArray = draws["width_km"]
    height_km: AnyArray = draws["height_km"]
    cloud: AnyArray = draws["cloud"]
    snow: AnyArray = draws["snow"]
    incidence: AnyArray = draws["incidence"]
    across: AnyArray = draws["across"]
    along: AnyArray = draws["along"]
    azimuth: AnyArray = draws["azimuth"]
    sun_azimuth: AnyArray = draws["sun_azimuth"]
    sun_elevation: AnyArray = draws["sun_elevation"]
    level_code: AnyArray = draws["level_code"]
    pansharpened: AnyArray = draws["pansharpened"]
    station_code: AnyArray = draws["station_code"]
    reference: AnyArray = draws["reference"]
    strip: AnyArray = draws["strip"]
    scene: AnyArray = draws["scene"]
    processing_delay: AnyArray = draws["processing_delay"]
    publication_delay: AnyArray = draws["publication_delay"]
    rotation: AnyArray = draws["rotation"]
    jitter: AnyArray = draws["jitter"]
    identifiers: bytes = draws["identifiers"]
    correlations: bytes = draws["correlations"]

    km_lat = 1.0 / 110.574
    km_lon = 1.0 / (111.320 * np.cos(np.radians(lat)))
    unit = np.array([[-0.5, 0.5], [0.5, 0.5], [0.5, -0.5], [-0.5, -0.5]])  # NW, NE, SE, SW (as the API)
    corner_x = (unit[None, :, 0] + jitter[:, :, 0]) * width_km[:, None]
    corner_y = (unit[None, :, 1] + jitter[:, :, 1]) * height_km[:, None]
    cos_r, sin_r = np.cos(rotation)[:, None], np.sin(rotation)[:, None]
    east = corner_x * cos_r - corner_y * sin_r
    north = corner_x * sin_r + corner_y * cos_r
    ring = np.empty((n, 5, 2))
    ring[:, :4, 0] = lon[:, None] + east * km_lon[:, None]
    ring[:, :4, 1] = lat[:, None] + north * km_lat
    ring[:, 4] = ring[:, 0]
    ring = np.round(ring, 10)
    geometries = shapely.polygons(ring)

    constellations = ("SPOT", "PHR", "PNEO")
    platforms = (("SPOT6", "SPOT7"), ("PHR1A", "PHR1B"), ("PNEO3", "PNEO4"))
    levels = ("SENSOR", "ORTHO", "ALBUM")
    level_prefix = ("SEN", "ORT", "ALB")
    stations = ("FR1", "SV1", "KR1", "CA1")

    def iso(micros: npt.NDArray[np.int64], unit: str) -> list[str]:
        texts = np.datetime_as_string(micros.astype("datetime64[us]"), unit=unit)  # type: ignore[call-overload]
        return [t + "Z" for t in texts.tolist()]

    acquired_i = acquired.astype(np.int64)
    processed_i = (acquired + processing_delay).astype(np.int64)
    published_i = (acquired + processing_delay + publication_delay).astype(np.int64)
    acquisition_dates = iso(acquired_i, "ms")
    processing_dates = iso(processed_i, "s")
    publication_dates = iso(published_i, "us")
    expiration_dates = iso(published_i + 365 * 86_400_000_000, "us")
    ids = _uuid_strings(identifiers, n)
    correlation_ids = _uuid_strings(correlations, n)
    platform_names = [
        platforms[c][s] for c, s in zip(constellation_code.tolist(), second_platform.astype(int).tolist(), strict=True)
    ]
    tiles = [
        f"{'W' if x < 0 else 'E'}{round(abs(x)):03d}{'S' if y < 0 else 'N'}{round(abs(y)):02d}"
        for x, y in zip(lon.tolist(), lat.tolist(), strict=True)
    ]
    cloud_list = [0 if v == 0 else v for v in cloud.tolist()]
    snow_list = [0 if v == 0 else v for v in snow.tolist()]
    columns = zip(
        ids,
        correlation_ids,
        constellation_code.tolist(),
        platform_names,
        level_code.tolist(),
        pansharpened.tolist(),
        station_code.tolist(),
        reference.tolist(),
        strip.tolist(),
        scene.tolist(),
        tiles,
        acquisition_dates,
        processing_dates,
        publication_dates,
        expiration_dates,
        cloud_list,
        snow_list,
        resolution.tolist(),
        np.round(incidence, 10).tolist(),
        np.round(across, 11).tolist(),
        np.round(along, 11).tolist(),
        np.round(azimuth, 9).tolist(),
        np.round(sun_azimuth, 9).tolist(),
        np.round(sun_elevation, 10).tolist(),
        ring.tolist(),
        strict=True,
    )
    features: list[dict[str, Any]] = []
    kept: list[int] = []
    seen = set(known)
    for i, (
        item_id,
        correlation_id,
        code,
        platform,
        level_i,
        sharpened,
        station_i,
        ref,
        strip_i,
        scene_i,
        tile,
        acquisition_date,
        processing_date,
        publication_date,
        expiration_date,
        cloud_i,
        snow_i,
        res_i,
        incidence_i,
        across_i,
        along_i,
        azimuth_i,
        sun_azimuth_i,
        sun_elevation_i,
        ring_i,
    ) in enumerate(columns):
        if item_id in seen:
            continue
        seen.add(item_id)
        # acquisition_date is "YYYY-MM-DDTHH:MM:SS.mmmZ".
        a = acquisition_date
        day, clock, millis = a[0:4] + a[5:7] + a[8:10], a[11:13] + a[14:16] + a[17:19], a[20:23]
        station = stations[station_i]
        if code == 0:
            parent = f"DS_{platform}_{day}{clock}{millis[0]}_FR1_FR1_{station}_{station}_{tile}_{scene_i:05d}"
        else:
            parent = f"DS_{platform}_{day}{clock}{millis[0]}_FR1_PX_{tile}_{strip_i:04d}_{scene_i:05d}"
        level = levels[level_i]
        source_id = f"{level_prefix[level_i]}_{platform}_{day}_{clock}{millis}_000"
        features.append(
            {
                "_links": real_links(item_id, PUBLIC_WORKSPACE_ID),
                "geometry": {"coordinates": [ring_i], "type": "Polygon"},
                "properties": {
                    "acquisitionDate": acquisition_date,
                    "acquisitionStation": station,
                    "archivingCenter": "FR1",
                    "azimuthAngle": azimuth_i,
                    "cloudCover": cloud_i,
                    "commercialReference": f"SO{a[2:4]}{ref:06d}",
                    "constellation": constellations[code],
                    "correlationId": correlation_id,
                    "expirationDate": expiration_date,
                    "format": "image/jp2",
                    "id": item_id,
                    "illuminationAzimuthAngle": sun_azimuth_i,
                    "illuminationElevationAngle": sun_elevation_i,
                    "incidenceAngle": incidence_i,
                    "incidenceAngleAcrossTrack": across_i,
                    "incidenceAngleAlongTrack": along_i,
                    "organisationName": "AIRBUS DS",
                    "parentIdentifier": parent,
                    "platform": platform,
                    "processingCenter": "AOC",
                    "processingDate": processing_date,
                    "processingLevel": level,
                    "processorName": "IMFv6",
                    "productCategory": "image",
                    "productType": "pansharpened" if level_i == 1 and sharpened else "bundle",
                    "productionStatus": "IN_CLOUD",
                    "publicationDate": publication_date,
                    "qualified": False,
                    "resolution": res_i,
                    "sensorType": "OPTICAL",
                    "snowCover": snow_i,
                    "sourceIdentifier": source_id,
                    "spectralRange": "VISIBLE",
                    "title": source_id,
                    "workspaceId": PUBLIC_WORKSPACE_ID,
                    "workspaceName": PUBLIC_WORKSPACE_NAME,
                    "workspaceTitle": "Public",
                },
                "rights": TUTORIAL_RIGHTS,
                "type": "Feature",
            }
        )
        kept.append(i)
    return Batch(
        features,
        kept,
        {
            "acquisitionDate": acquired_i.astype(np.float64),
            "publicationDate": published_i.astype(np.float64),
            "cloudCover": cloud,
            "snowCover": snow,
            "incidenceAngle": np.round(incidence, 10),
            "resolution": resolution,
        },
        list(geometries),
    )


def _uuid_strings(random_bytes: bytes, n: int) -> list[str]:
    """``n`` version-4 UUID strings from ``16 * n`` random bytes."""
    raw = np.frombuffer(random_bytes, dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    text = raw.tobytes().hex()
    return [
        f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}" for h in (text[32 * i : 32 * i + 32] for i in range(n))
    ]
