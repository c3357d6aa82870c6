"""The search operator's coverage filter: the AOI parsed once per run vs once per image.

Both sides run in this process, alternating, on the same footprints, and must give the same
fractions. ``coverage_fraction(aoi, footprint)`` parses and measures the AOI on every call (what
the operator did before); ``coverage_against(aoi)`` does it once and returns a function of the
footprint (what the operator does now).

    .venv/bin/python benchmarks/bench_coverage.py [--images 2000] [--vertices 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import math
import random
import time
from typing import Any

from airflow_provider_oneatlas.client.geometry import coverage_against, coverage_fraction


def field(vertices: int) -> dict[str, Any]:
    """A round field near Toulouse with ``vertices`` vertices (a digitised parcel is rarely a box)."""
    ring = [
        [1.30 + 0.05 * math.cos(2 * math.pi * i / vertices), 43.58 + 0.04 * math.sin(2 * math.pi * i / vertices)]
        for i in range(vertices)
    ]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def footprints(count: int) -> list[dict[str, Any]]:
    rnd = random.Random(1)
    boxes = []
    for _ in range(count):
        x, y = 1.25 + rnd.random() * 0.1, 43.53 + rnd.random() * 0.1
        boxes.append(
            {"type": "Polygon", "coordinates": [[[x, y], [x + 0.08, y], [x + 0.08, y + 0.06], [x, y + 0.06], [x, y]]]}
        )
    return boxes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--vertices", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    aoi, fps = field(args.vertices), footprints(args.images)
    per_image, once = [], []
    for _ in range(args.rounds):
        started = time.perf_counter()
        slow = [coverage_fraction(aoi, fp) for fp in fps]
        per_image.append(time.perf_counter() - started)
        started = time.perf_counter()
        cover = coverage_against(aoi)
        fast = [cover(fp) for fp in fps]
        once.append(time.perf_counter() - started)
        if slow != fast:
            raise SystemExit("FAIL: the two ways give different coverage fractions")
    a, b = min(per_image), min(once)
    print(
        f"coverage of {args.images} footprints, {args.vertices}-vertex AOI, best of {args.rounds}: "
        f"AOI parsed per image {a * 1000:.0f} ms, parsed once {b * 1000:.0f} ms -> {a / b:.2f}x faster, "
        "same fractions: PASS"
    )


if __name__ == "__main__":
    main()
