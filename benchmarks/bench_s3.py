"""Streaming a download into S3 through ``ObjectStoragePath``, against boto3 uploading a local file.

A moto S3 server (``ThreadedMotoServer`` on 127.0.0.1, a free port, in a child process; never real
AWS) and the sandbox (child process) serving one delivered zip of ``--size`` bytes (default 256 MiB:
moto is slow and keeps every object). In the same run, alternating which goes first, best of ``--rounds``:

- provider: ``OneAtlasClient.download_item`` (default: 8 ranged connections, as the operator does)
  into the sink the download operator uses for ``s3://`` paths
  (``airflow_provider_oneatlas.storage.s3.open_sink``: a multipart upload through the boto3 client of
  the path's ``S3Hook``, 8 parts of 8 MiB in flight, completed once the md5 is checked), the path being
  ``ObjectStoragePath("s3://s3bench@bucket/key")`` with the connection given as
  ``AIRFLOW_CONN_S3BENCH`` (the moto ``endpoint_url``);
- reference: boto3 ``upload_file`` of the same bytes from a local file (the best a copy that
  already sits on disk can do: 10 parts of 8 MiB uploaded at once);
- for information, what the operator did before: ``ObjectStoragePath.open("wb")`` fed from the local
  file (s3fs uploads the parts of one file one after the other).

Prints both throughputs and the ratio, PASS/FAIL against the goal (provider >= 0.9x boto3), and the
CPU seconds per GB each side cost this process, the sandbox and moto (on a machine short of cores,
throughput follows CPU: the provider also receives the download, hashes it and has the sandbox
serve it, where the reference reads a local file). Both sides run with the same disk-watch thread. Checks
(PASS/FAIL) that the object stored is intact (md5), that no multipart upload is left, and that no
temporary full copy touched local disk while the provider streamed: this process's temporary
directory is a private, watched one, and every file this process holds open is checked, including
deleted ones, every 20 ms; no file of half the download's size or more may appear.

Memory (``--memory-sizes``, default 256M,2G; empty to skip): the provider's download into S3 runs in
a fresh child process per size (forked by a shell, peak RSS reset right before the baseline, as in
``bench_memory.py``); its peak RSS growth must stay under the bound of the design (the download's
reorder buffer, ``connections`` x 8 MiB, plus the sink's part buffers, ``connections`` x 8 MiB, plus
32 MiB of fixed overhead), a bound that does not depend on the size, for every size (the worst of
``--memory-runs`` runs per size). The sink takes a part buffer only when every buffer it has is
still uploading, so a run may need fewer than ``connections`` of them: a short file that never
waited on the endpoint grows less than a long one that once did; the number each run needed is
printed beside its growth.

    .venv/bin/python benchmarks/bench_s3.py [--size 256M] [--rounds 3] [--memory-sizes 256M,2G] [--memory-runs 2]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_download import (
    MB,
    MIB,
    delivered_item,
    human,
    load_line,
    make_client,
    parse_size,
    start_sandbox,
    verdict,
)

BUCKET = "oneatlas-bench"
CONN_ID = "s3bench"
GOAL_RATIO = 0.9
PART = 8 * MIB
FIXED_OVERHEAD = 32 * MIB


class DiskWatch:
    """Samples, on a thread, the largest local file this process could be staging a copy in."""

    def __init__(self, temp_dir: Path, interval: float = 0.02) -> None:
        self.temp_dir = temp_dir
        self.interval = interval
        self.largest = 0
        self.largest_name = ""
        self.temp_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> DiskWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        total = 0
        for root, _, files in os.walk(self.temp_dir):
            for name in files:
                try:
                    total += (Path(root) / name).stat().st_size
                except OSError:
                    continue
        self.temp_peak = max(self.temp_peak, total)
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
                info = os.stat(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if target.startswith("/") and not target.startswith(("/dev/", "/proc/")) and info.st_size > self.largest:
                self.largest, self.largest_name = info.st_size, target


def isolate_aws(work: Path) -> None:
    """Nothing of the machine's AWS setup may leak in; every AWS client lands on moto."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name.startswith("AIRFLOW_CONN_"):
            del os.environ[name]
    empty = work / "aws-empty"
    empty.write_text("")
    os.environ.update(
        {
            "AWS_CONFIG_FILE": str(empty),
            "AWS_SHARED_CREDENTIALS_FILE": str(empty),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )


MOTO_CHILD = """
import sys
from moto.server import ThreadedMotoServer

server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()  # serve until the benchmark closes our stdin
server.stop()
"""


class MotoProcess:
    """``ThreadedMotoServer`` on 127.0.0.1 (free port), in a child process of its own.

    moto keeps large objects in spooled temporary files: in this process they would look like the
    very temporary copy the benchmark must not find; and it would compete for this process's GIL.
    """

    def __init__(self, temp_dir: Path, log_path: Path) -> None:
        self.temp_dir = temp_dir
        self.log_path = log_path
        self.process: subprocess.Popen[str] | None = None
        self.endpoint = ""

    def __enter__(self) -> MotoProcess:
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, TMPDIR=str(self.temp_dir))
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", MOTO_CHILD],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env=env,
            )
        assert self.process.stdout is not None
        port = self.process.stdout.readline().strip()
        if not port.isdigit():
            self.__exit__()
            raise RuntimeError(f"moto did not start: {self.log_path.read_text()[-2000:]}")
        self.endpoint = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        process = self.process
        if process is None:
            return
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        self.process = None


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system, every thread) of this process or of child ``pid`` so far."""
    if pid is None:
        return time.process_time()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds spent by this process, the sandbox and moto during a block, added up per side."""

    def __init__(self, sandbox_pid: int, moto_pid: int) -> None:
        self.pids = {"this process": None, "sandbox": sandbox_pid, "moto": moto_pid}
        self.totals: dict[str, dict[str, float]] = {}
        self.wall: dict[str, float] = {}

    def measure(self, side: str) -> Any:
        meter = self

        class Block:
            def __enter__(self) -> None:
                self.start = {name: cpu_seconds(pid) for name, pid in meter.pids.items()}
                self.started = time.perf_counter()

            def __exit__(self, *exc: object) -> None:
                meter.wall[side] = meter.wall.get(side, 0.0) + time.perf_counter() - self.started
                totals = meter.totals.setdefault(side, dict.fromkeys(meter.pids, 0.0))
                for name, pid in meter.pids.items():
                    totals[name] += cpu_seconds(pid) - self.start[name]

        return Block()


def s3_md5(s3: Any, key: str) -> tuple[str, int]:
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    for chunk in s3.get_object(Bucket=BUCKET, Key=key)["Body"].iter_chunks(8 * MIB):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def memory_child(base_url: str, url: str, key: str, connections: int) -> None:
    """In the child process: stream the download into S3 once, print the RSS figures as JSON."""
    import contextlib
    import gc
    import resource

    from airflow.sdk import ObjectStoragePath
    from bench_memory import resident_bytes

    from airflow_provider_oneatlas.storage.s3 import open_sink

    client = make_client(base_url)
    client.head_item(url=url)  # token, connection pool, imports: all before the baseline
    warm = ObjectStoragePath(f"s3://{CONN_ID}@{BUCKET}/warm-{key}")
    with open_sink(warm, connections=connections) as sink:  # s3fs session and client: built
        sink.write(b"warm-up")
    warm.unlink()
    gc.collect()
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # peak RSS := resident size now
    baseline = min(resident_bytes(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    with open_sink(ObjectStoragePath(f"s3://{CONN_ID}@{BUCKET}/{key}"), connections=connections) as sink:
        result = client.download_item(sink, url=url, connections=connections)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    # Part buffers are taken as parts go out: how many were needed at once depends on the endpoint.
    buffers = getattr(sink, "_buffers", None)
    print(json.dumps({"baseline": baseline, "peak": peak, "size": result.size, "md5": result.md5, "buffers": buffers}))


def memory(args: argparse.Namespace, base_url: str, client: Any, url: str, s3: Any) -> int:
    """Peak RSS growth of a download streamed into S3, for each of ``--memory-sizes``; failures."""
    from bench_download import local_session, sandbox_patch

    sizes = [parse_size(text) for text in args.memory_sizes.split(",")]
    bound = 2 * args.connections * PART + FIXED_OVERHEAD
    item_id = url.rstrip("/").split("/")[-2]
    growth = []
    for size in sizes:
        sandbox_patch(base_url, download_size=size)
        print(f"Memory: building the {human(size)} zip in the sandbox...", flush=True)
        truth = local_session().get(f"{base_url}/_sandbox/items/{item_id}/file", timeout=1800).json()
        key = f"memory-{size}.zip"
        command = [sys.executable, __file__, "--memory-child", base_url, url, key, str(args.connections)]
        # Buffers are taken as parts go out, so a fast endpoint may never need all of them at once:
        # the peak of a run varies a little. The worst of --memory-runs runs is what a worker must hold.
        runs = []
        for _ in range(args.memory_runs):
            # A shell forks the child: ru_maxrss would survive a direct exec from this large process.
            done = subprocess.run(["/bin/sh", "-c", '"$@"; exit $?', "sh", *command], capture_output=True, text=True)
            if done.returncode:
                raise RuntimeError(f"memory child failed: {done.stderr[-3000:]}")
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            stored = s3_md5(s3, key)
            s3.delete_object(Bucket=BUCKET, Key=key)
            expected = (truth["md5"], truth["size"])
            if (figures["md5"], figures["size"]) != expected or stored != expected:
                raise RuntimeError(f"not stored intact: {figures}, S3 {stored}, truth {truth}")
            runs.append(figures)
        figures = max(runs, key=lambda f: f["peak"] - f["baseline"])
        grown = figures["peak"] - figures["baseline"]
        growth.append(grown)
        print(
            f"    {human(size)}: baseline {figures['baseline'] / MB:.1f} MB, peak {figures['peak'] / MB:.1f} MB, "
            f"growth {grown / MB:.1f} MB (worst of {len(runs)}: "
            + ", ".join(f"{(f['peak'] - f['baseline']) / MB:.1f}" for f in runs)
            + f"), sink part buffers {figures.get('buffers')} of {args.connections}, object intact",
            flush=True,
        )
    spread = (max(growth) - min(growth)) / max(max(growth), 1)
    ok = max(growth) <= bound
    print(
        f"peak RSS growth streaming into S3 ({args.connections} connections): "
        + ", ".join(f"{human(s)} {g / MB:.1f} MB" for s, g in zip(sizes, growth, strict=True))
        + f" -> largest {max(growth) / MB:.1f} MB, spread {spread:.1%} (goal <= {bound / MB:.1f} MB = "
        f"{args.connections} x 8 MiB download buffer + {args.connections} x 8 MiB parts + 32 MiB, "
        f"whatever the size; the spread is the part buffers a run needed at once): {verdict(ok)}",
        flush=True,
    )
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=parse_size, default=256 * MIB, help="zip size (default 256M)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, best of them counts (default 3)")
    parser.add_argument("--connections", type=int, default=8, help="connections of the provider (default 8)")
    parser.add_argument("--workdir", default=tempfile.gettempdir(), help="where the local reference file goes")
    parser.add_argument("--memory-runs", type=int, default=2, help="runs per memory size, the worst counts")
    parser.add_argument(
        "--memory-sizes", default="256M,2G", help="zip sizes of the memory check (default 256M,2G; '' skips it)"
    )
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="oneatlas-bench-s3-", dir=args.workdir))
    private_tmp = work / "tmp"
    private_tmp.mkdir()
    # Whatever s3fs, fsspec or Airflow would stage goes through tempfile: into the watched directory.
    os.environ["TMPDIR"] = str(private_tmp)
    tempfile.tempdir = str(private_tmp)
    os.environ.setdefault("AIRFLOW_HOME", str(work / "airflow-home"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    isolate_aws(work)

    import boto3

    failures = 0
    print(load_line("start"), flush=True)
    sandbox = None
    moto = MotoProcess(work / "moto-tmp", work / "moto.log").__enter__()
    try:
        endpoint = moto.endpoint
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
            }
        )
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)

        from airflow.sdk import ObjectStoragePath

        from airflow_provider_oneatlas.storage.s3 import open_sink

        print(f"Building a {human(args.size)} delivered zip in the sandbox (child process)...", flush=True)
        sandbox = start_sandbox(args.size, work / "sandbox-cache")
        client = make_client(sandbox.base_url)
        _, url, truth = delivered_item(client, sandbox.base_url)
        size = int(truth["size"])
        local = work / "local.zip"  # the reference's source: the same bytes, already on disk
        with local.open("wb") as sink:
            client.download_item(sink, url=url)

        # Warm-up, untimed: the first ObjectStoragePath resolves the Airflow connection and builds
        # the s3fs filesystem (imports, session), the provider's sink its boto3 client (kept for the
        # process, as in a task storing several items); the reference's boto3 client is already built.
        warm = ObjectStoragePath(f"s3://{CONN_ID}@{BUCKET}/warm-up")
        with warm.open("wb") as sink:
            sink.write(b"warm-up")
        with open_sink(warm, connections=args.connections) as sink:  # and the provider's boto3 client
            sink.write(b"warm-up")
        warm.unlink()

        assert moto.process is not None
        meter = CpuMeter(sandbox.pid, moto.process.pid)
        provider_rates: list[float] = []
        boto3_rates: list[float] = []
        largest_file = temp_peak = 0
        largest_name = ""
        intact = True
        s3fs_rates: list[float] = []
        for round_number in range(args.rounds):
            sides = ["provider", "boto3", "s3fs"]
            if round_number % 2:
                sides.reverse()
            for side in sides:
                key = f"{side}-{round_number}.zip"
                if side == "provider":
                    path = ObjectStoragePath(f"s3://{CONN_ID}@{BUCKET}/{key}")
                    with DiskWatch(private_tmp) as watch, meter.measure(side):
                        started = time.perf_counter()
                        # What the download operator does for an s3:// destination.
                        with open_sink(path, connections=args.connections) as sink:
                            result = client.download_item(sink, url=url, connections=args.connections)
                        seconds = time.perf_counter() - started
                    if watch.largest > largest_file:
                        largest_file, largest_name = watch.largest, watch.largest_name
                    temp_peak = max(temp_peak, watch.temp_peak)
                    stored_md5, stored_size = s3_md5(s3, key)
                    intact = intact and result.verified and (stored_md5, stored_size) == (truth["md5"], size)
                    provider_rates.append(size / seconds / MB)
                elif side == "s3fs":
                    # The provider's sink fed from the local file: what the sink alone can take.
                    path = ObjectStoragePath(f"s3://{CONN_ID}@{BUCKET}/{key}")
                    started = time.perf_counter()
                    with local.open("rb") as source, path.open("wb") as sink:
                        while block := source.read(8 * MIB):
                            sink.write(block)
                    s3fs_rates.append(size / (time.perf_counter() - started) / MB)
                else:
                    # The same watch thread as the provider's (ignored here): both sides carry its cost.
                    with DiskWatch(private_tmp), meter.measure(side):
                        started = time.perf_counter()
                        s3.upload_file(str(local), BUCKET, key)
                    boto3_rates.append(size / (time.perf_counter() - started) / MB)
                s3.delete_object(Bucket=BUCKET, Key=key)
            print(
                f"    round {round_number + 1}: provider {provider_rates[-1]:.1f} MB/s, "
                f"boto3 upload_file {boto3_rates[-1]:.1f} MB/s, s3fs from disk {s3fs_rates[-1]:.1f} MB/s",
                flush=True,
            )

        ratio = max(provider_rates) / max(boto3_rates)
        spread = ", ".join(f"{p:.1f}/{b:.1f}" for p, b in zip(provider_rates, boto3_rates, strict=True))
        fast = ratio >= GOAL_RATIO
        failures += not fast
        print(
            f"S3 via ObjectStoragePath, {human(size)}, best of {args.rounds}: provider (sandbox -> S3, "
            f"{args.connections} connections, {args.connections} parts in flight) {max(provider_rates):.1f} MB/s, "
            f"boto3 upload_file (disk -> S3) {max(boto3_rates):.1f} MB/s -> {ratio:.2f}x boto3 "
            f"(goal >= {GOAL_RATIO:.2f}x): {verdict(fast)}",
            flush=True,
        )
        paired = sorted(p / b for p, b in zip(provider_rates, boto3_rates, strict=True))
        print(
            f"    every round, provider/boto3 MB/s: {spread}; ratio within each round: "
            f"{', '.join(f'{r:.2f}' for r in paired)} (median {paired[len(paired) // 2]:.2f})",
            flush=True,
        )
        print(
            f"    before (ObjectStoragePath.open('wb'): s3fs uploads one part at a time), fed from the local file: "
            f"{max(s3fs_rates):.1f} MB/s -> provider {max(provider_rates) / max(s3fs_rates):.2f}x of it",
            flush=True,
        )
        for side, totals in meter.totals.items():
            gigabytes = size * args.rounds / 1e9
            print(
                f"    CPU per GB stored, {side}: "
                + ", ".join(f"{name} {seconds / gigabytes:.1f} s" for name, seconds in totals.items())
                + f" (total {sum(totals.values()) / gigabytes:.1f} s; {sum(totals.values()) / meter.wall[side]:.2f} "
                f"of {os.cpu_count()} cores busy)",
                flush=True,
            )
        # What the CPU alone allows: the provider side's work per GB (its own, its source's and the
        # endpoint's), spread over every core of the machine with nothing else running.
        provider_cpu = sum(meter.totals["provider"].values()) / (size * args.rounds / 1e9)
        cpu_bound = (os.cpu_count() or 1) / provider_cpu * 1e3
        print(
            f"    CPU ceiling of the provider side on this machine: {provider_cpu:.1f} s of CPU per GB on "
            f"{os.cpu_count()} cores -> at most {cpu_bound:.0f} MB/s with every core busy for it = "
            f"{cpu_bound / max(boto3_rates):.2f}x boto3's best (the goal needs {GOAL_RATIO:.2f}x)",
            flush=True,
        )
        left = s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
        intact = intact and not left
        failures += not intact
        print(
            f"objects stored by the provider intact (md5 {truth['md5']}), no multipart upload left "
            f"({len(left)}): {verdict(intact)}",
            flush=True,
        )
        no_copy = largest_file < size // 2 and temp_peak < size // 2
        failures += not no_copy
        print(
            f"no temporary full copy on local disk: largest local file held open while streaming "
            f"{largest_file / MB:.1f} MB{f' ({largest_name})' if largest_name else ''}, temporary directory "
            f"peak {temp_peak / MB:.1f} MB, file {size / MB:.1f} MB: {verdict(no_copy)}",
            flush=True,
        )
        if args.memory_sizes:
            failures += memory(args, sandbox.base_url, client, url, s3)
    finally:
        if sandbox is not None:
            sandbox.stop()
        moto.__exit__()
        shutil.rmtree(work, ignore_errors=True)
        print(load_line("end"), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--memory-child":
        memory_child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        sys.exit(main())
