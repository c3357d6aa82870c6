"""Memory of a download: peak RSS growth of a process downloading a 256 MiB and a 2 GiB zip.

Each download runs in a fresh child process: it imports everything, gets its token and makes a HEAD
request to the file first, takes ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` as its baseline,
downloads the file to a local file with ``OneAtlasClient.download_item`` and reports ``ru_maxrss``
again. Two Linux details keep the baseline honest: the child is forked by a shell, not exec'd
straight from this process (``ru_maxrss`` survives exec, so it would start at this process's peak),
and right before the baseline it resets its peak to its current resident size
(``/proc/self/clear_refs``; where that is refused the baseline is the resident size ``VmRSS``, so
the growth printed is an upper bound). The sandbox
runs in its own child process (``SandboxProcess``), so its memory is not counted.

Goal, for the default download (8 parallel ranged connections, as the operator does): growth below
100 MB for both sizes, and the two within 10 % of each other (memory does not follow the file size).
The single-stream download (``connections=1``) is measured too, for information.

    .venv/bin/python benchmarks/bench_memory.py [--sizes 256M,2G]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_download import (
    MB,
    delivered_item,
    human,
    load_line,
    local_session,
    make_client,
    parse_size,
    sandbox_patch,
    start_sandbox,
    verdict,
)

GOAL_BYTES = 100 * MB
GOAL_SPREAD = 0.10


def resident_bytes() -> int:
    """This process's resident set size now (Linux: ``VmRSS`` of ``/proc/self/status``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(base_url: str, url: str, target: str, connections: int) -> None:
    """In the child process: download once and print the RSS figures as JSON."""
    import gc

    client = make_client(base_url)
    client.head_item(url=url)  # token, connection pool, every import: all before the baseline
    gc.collect()
    # ru_maxrss is a peak: anything that went higher than what the process holds now would hide part
    # of the download's memory. Linux resets the peak to the current resident size on "5" >
    # /proc/self/clear_refs; where it cannot, the baseline is the resident size now (never above
    # ru_maxrss), so the growth printed is an upper bound.
    import_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    baseline = min(resident_bytes(), maxrss_before)
    with open(target, "wb") as sink:
        result = client.download_item(sink, url=url, connections=connections)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        json.dumps(
            {
                "baseline": baseline,
                "maxrss_before": maxrss_before,
                "import_peak": import_peak,
                "peak": peak,
                "size": result.size,
                "md5": result.md5,
                "verified": result.verified,
            }
        )
    )


def measure(base_url: str, url: str, target: Path, connections: int) -> dict[str, Any]:
    child_command = [sys.executable, __file__, "--child", base_url, url, str(target), str(connections)]
    # Linux keeps the larger ru_maxrss across exec: a child exec'd straight from this (large) process
    # would start with this process's peak. A shell forking it (it cannot exec: a command follows)
    # gives the child a fresh count, starting from the shell's few hundred kB.
    command = ["/bin/sh", "-c", '"$@"; exit $?', "sh", *child_command]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    target.unlink(missing_ok=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="256M,2G", help="comma-separated zip sizes (default 256M,2G)")
    parser.add_argument("--connections", type=int, default=8, help="connections of the default download (8)")
    parser.add_argument("--workdir", default=tempfile.gettempdir(), help="where the children write")
    args = parser.parse_args(argv)
    sizes = [parse_size(text) for text in args.sizes.split(",")]

    work = Path(tempfile.mkdtemp(prefix="oneatlas-bench-memory-", dir=args.workdir))
    sandbox = None
    failures = 0
    print(load_line("start"), flush=True)
    growth: dict[str, list[float]] = {"parallel": [], "single": []}
    try:
        sandbox = start_sandbox(sizes[0], work / "sandbox-cache")
        client = make_client(sandbox.base_url)
        item_id, url, truth = delivered_item(client, sandbox.base_url)
        for size in sizes:
            if size != sizes[0]:
                sandbox_patch(sandbox.base_url, download_size=size)
                print(f"Building the {human(size)} zip in the sandbox...", flush=True)
                truth = local_session().get(f"{sandbox.base_url}/_sandbox/items/{item_id}/file", timeout=900).json()
            for mode, connections in (("parallel", args.connections), ("single", 1)):
                figures = measure(sandbox.base_url, url, work / "download.zip", connections)
                if not (figures["verified"] and figures["md5"] == truth["md5"] and figures["size"] == truth["size"]):
                    raise RuntimeError(f"download not verified: {figures} vs {truth}")
                grown = figures["peak"] - figures["baseline"]
                growth[mode].append(grown)
                print(
                    f"    {human(truth['size'])}, {mode} ({connections} connection{'s' * (connections > 1)}): "
                    f"baseline {figures['baseline'] / MB:.1f} MB (ru_maxrss before {figures['maxrss_before'] / MB:.1f} "
                    f"MB, before the reset {figures['import_peak'] / MB:.1f} MB), ru_maxrss after "
                    f"{figures['peak'] / MB:.1f} MB, "
                    f"growth {grown / MB:.1f} MB",
                    flush=True,
                )
        for mode in ("parallel", "single"):
            values = growth[mode]
            spread = (max(values) - min(values)) / max(max(values), 1)
            below = max(values) < GOAL_BYTES
            if mode == "parallel":
                ok = below and spread <= GOAL_SPREAD
                failures += not ok
                label = f"goal < {GOAL_BYTES / MB:.0f} MB and within {GOAL_SPREAD:.0%}"
            else:
                ok = below
                failures += not ok
                label = f"goal < {GOAL_BYTES / MB:.0f} MB; spread not judged: a few MB, mostly noise"
            figures_text = ", ".join(f"{human(s)} {g / MB:.1f} MB" for s, g in zip(sizes, values, strict=True))
            print(
                f"peak RSS growth, {mode}: {figures_text} -> largest {max(values) / MB:.1f} MB, "
                f"spread {spread:.1%} ({label}): {verdict(ok)}",
                flush=True,
            )
    finally:
        if sandbox is not None:
            sandbox.stop()
        shutil.rmtree(work, ignore_errors=True)
        print(load_line("end"), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        sys.exit(main())
