"""Searching big catalogues.

1. A query with 9,999 results (just under the API's 10,000 cap): fetched in 20 requests of 500,
   pages 2..20 concurrently; time against sequential paging, same run, same sandbox (with 100 ms of
   added latency per answer, as over the internet).
2. 25,000 results over a long date range: all found past the cap by date slicing, no duplicate and
   none missing, checked against the sandbox's own catalogue (ground truth).

    .venv/bin/python benchmarks/bench_search.py [--latency 0.1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_download import KEY, log_position

#: The archive alone, seen after its last image is published: the catalogue sizes are exact.
ARCHIVE_CLOCK = "2027-02-01T00:00:00Z"

EVERYTHING = ("2000-01-01", "2030-12-31T23:59:59Z")


def api_requests(base: str, since: int) -> int:
    log = requests.get(f"{base}/_sandbox/requests", params={"since": since}, timeout=30).json()["requests"]
    return sum(1 for r in log if r["path"].startswith("/api/"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds added to each sandbox answer")
    args = parser.parse_args()

    from airflow_provider_oneatlas.client.client import OneAtlasClient
    from airflow_provider_oneatlas.client.config import ClientConfig
    from airflow_provider_oneatlas.sandbox.config import SandboxConfig
    from airflow_provider_oneatlas.sandbox.server import SandboxProcess, SandboxServer

    ok = True
    # The catalogue holds 4 fixed items (the tutorial's) besides the generated ones.
    with SandboxProcess(
        SandboxConfig(catalog_size=9_995, latency=args.latency, live_stream=False, clock_start=ARCHIVE_CLOCK)
    ) as sandbox:
        client = OneAtlasClient(ClientConfig.for_base_url(KEY, sandbox.base_url))
        client.get_me()  # the token, outside the measurement
        timings = {}
        for name, concurrency in (("sequential", 1), ("concurrent x4", 4), ("sequential ", 1), ("concurrent x4 ", 4)):
            start_position = log_position(sandbox.base_url)
            started = time.perf_counter()
            ids = [f.id for f in client.iter_search(acquisition_date=EVERYTHING, page_concurrency=concurrency)]
            elapsed = time.perf_counter() - started
            count = api_requests(sandbox.base_url, start_position)
            timings.setdefault(name.strip(), []).append(elapsed)
            print(
                f"9,999 results, {name.strip():14s}: {len(ids)} results, {len(set(ids))} unique, "
                f"{count} requests, {elapsed:.2f}s"
            )
            ok &= len(set(ids)) == 9_999 and count == 20
        best_seq, best_con = min(timings["sequential"]), min(timings["concurrent x4"])
        print(f"ratio sequential/concurrent time = {best_seq / best_con:.2f}x (best of 2 each)")
        print(f"goal: 9,999 results in 20 requests: {'PASS' if ok else 'FAIL'}")

    with SandboxServer(SandboxConfig(catalog_size=24_996, live_stream=False, clock_start=ARCHIVE_CLOCK)) as sandbox:
        client = OneAtlasClient(ClientConfig.for_base_url(KEY, sandbox.base_url))
        start_position = log_position(sandbox.base_url)
        started = time.perf_counter()
        ids = [f.id for f in client.iter_search(acquisition_date=EVERYTHING)]
        elapsed = time.perf_counter() - started
        truth = {f["properties"]["id"] for f in sandbox.state.catalog.all()}
        duplicates = len(ids) - len(set(ids))
        missing = len(truth - set(ids))
        extra = len(set(ids) - truth)
        count = api_requests(sandbox.base_url, start_position)
        print(
            f"25,000 results by date slicing: {len(ids)} found, {duplicates} duplicates, {missing} missing, "
            f"{extra} unknown, {count} requests, {elapsed:.2f}s"
        )
        sliced_ok = len(truth) == 25_000 and duplicates == 0 and missing == 0 and extra == 0
        print(f"goal: every one of 25,000 found past the cap, no duplicate: {'PASS' if sliced_ok else 'FAIL'}")
    return 0 if ok and sliced_ok else 1


if __name__ == "__main__":
    sys.exit(main())
