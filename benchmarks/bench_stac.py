"""What the STAC items cost a download: the same delivery through the download operator with
``stac=False`` and ``stac=True``, side by side in one run, alternating which goes first.

The sandbox runs in a child process and serves one delivered zip of ``--size`` bytes (default
1 GiB, the size of a small real delivery; the STAC step's cost does not grow with it). Each round
downloads it again (``overwrite=True``) into a fresh folder with each setting.
Also counted: the bytes read back from the stored zip to find its DIMAP file (the central directory
and one member, not the whole zip).

Goals: the task with STAC items takes at most 1.10x the task without; reading the DIMAP back reads
less than 1 MiB of the zip. Prints both sides, the ratio and PASS/FAIL; exits 1 on any FAIL.

    .venv/bin/python benchmarks/bench_stac.py [--size 1G] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_download import KEY, MIB, delivered_item, human, load_line, make_client, parse_size, start_sandbox, verdict


class CountingReader:
    """A file object that counts the bytes read through it."""

    def __init__(self, inner: IO[bytes], counter: list[int]) -> None:
        self.inner = inner
        self.counter = counter

    def read(self, n: int = -1) -> bytes:
        data = self.inner.read(n)
        self.counter[0] += len(data)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=parse_size, default=1024 * MIB, help="zip size (default 1G)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each running both settings (default 3)")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="oneatlas-bench-stac-"))
    sandbox = None
    failures = 0
    print(load_line("start"), flush=True)
    try:
        print(f"Building a {human(args.size)} delivered zip in the sandbox (child process)...", flush=True)
        sandbox = start_sandbox(args.size, work / "sandbox-cache")
        client = make_client(sandbox.base_url)
        item_id, _url, truth = delivered_item(client, sandbox.base_url)
        order_id = json.loads(client.transport.session.get(f"{sandbox.base_url}/_sandbox/state", timeout=30).text)[
            "orders"
        ][0]["id"]
        os.environ["AIRFLOW_CONN_ONEATLAS_DEFAULT"] = json.dumps(
            {"conn_type": "oneatlas", "host": sandbox.base_url, "password": KEY}
        )

        from airflow_provider_oneatlas.operators.download import OneAtlasDownloadOperator
        from airflow_provider_oneatlas.stac import delivery

        read_back = [0]
        original = delivery.read_dimap_from_zip

        def counted(source: IO[bytes]) -> Any:
            return original(CountingReader(source, read_back))  # type: ignore[arg-type]

        delivery.read_dimap_from_zip = counted  # type: ignore[assignment]
        step_times: list[float] = []
        original_step = delivery.write_delivery_items

        def timed_step(*step_args: Any, **step_kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original_step(*step_args, **step_kwargs)
            finally:
                step_times.append(time.perf_counter() - started)

        delivery.write_delivery_items = timed_step  # type: ignore[assignment]

        times: dict[bool, list[float]] = {False: [], True: []}
        for round_number in range(args.rounds):
            for stac in (False, True) if round_number % 2 == 0 else (True, False):
                target = work / f"round{round_number}-{'stac' if stac else 'plain'}"
                op = OneAtlasDownloadOperator(
                    task_id="download", order_id=order_id, destination=str(target), overwrite=True, stac=stac
                )
                started = time.perf_counter()
                (entry,) = op.execute({})  # type: ignore[arg-type]
                times[stac].append(time.perf_counter() - started)
                if entry["md5"] != truth["md5"] or (stac and "stac_item" not in entry):
                    raise RuntimeError(f"round {round_number}: bad result {entry}")
                shutil.rmtree(target)
            print(
                f"    round {round_number + 1}: stac=False {times[False][-1]:.2f} s, stac=True {times[True][-1]:.2f} s",
                flush=True,
            )
        plain, with_stac = statistics.median(times[False]), statistics.median(times[True])
        ratio = with_stac / plain
        ok = ratio <= 1.10
        failures += not ok
        print(
            f"download task of {human(args.size)} ({item_id}), median of {args.rounds}: stac=False {plain:.2f} s, "
            f"stac=True {with_stac:.2f} s -> {ratio:.3f}x (+{with_stac - plain:.3f} s; goal <= 1.10x): {verdict(ok)}",
            flush=True,
        )
        print(
            f"the STAC step alone (DIMAP read back, catalogue search, item and ItemCollection written): median "
            f"{statistics.median(step_times):.3f} s, max {max(step_times):.3f} s over {len(step_times)} runs",
            flush=True,
        )
        per_item = read_back[0] / args.rounds
        ok = per_item < MIB
        failures += not ok
        print(
            f"bytes read back from the stored zip for its DIMAP: {per_item:,.0f} of {truth['size']:,} "
            f"({per_item / truth['size']:.4%}; goal < 1 MiB): {verdict(ok)}",
            flush=True,
        )
    finally:
        if sandbox is not None:
            sandbox.stop()
        shutil.rmtree(work, ignore_errors=True)
        print(load_line("end"), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
