"""Streaming a download into S3 through ``ObjectStoragePath``, against boto3 uploading a local file.

A moto S3 server (``ThreadedMotoServer`` on 127.0.0.1, a free port, in a child process; never real
AWS) and the sandbox (child process) serving one delivered zip of ``--size`` bytes (default 256 MiB:
moto is slow and keeps every object). In the same run, alternating which goes first, best of ``--rounds``:

- provider: ``OneAtlasClient.download_item`` (default: 8 ranged connections, as the operator does)
  writing into ``ObjectStoragePath("s3://s3bench@bucket/key").open("wb")``: s3fs multipart upload,
  the connection given as ``AIRFLOW_CONN_S3BENCH`` with the moto ``endpoint_url``;
- reference: boto3 ``upload_file`` of the same bytes from a local file (the best a copy that
  already sits on disk can do: 10 parts uploaded at once);
- for information, the provider's sink alone: the same ``ObjectStoragePath`` opened for writing and
  fed from the local file (s3fs uploads the parts of one file one after the other).

Prints both throughputs and the ratio. Checks (PASS/FAIL) that the object stored is intact (md5),
and that no temporary full copy touched local disk while the provider streamed: this process's
temporary directory is a private, watched one, and every file this process holds open is checked,
including deleted ones, every 20 ms; no file of half the download's size or more may appear.

    .venv/bin/python benchmarks/bench_s3.py [--size 256M] [--rounds 3]
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


def s3_md5(s3: Any, key: str) -> tuple[str, int]:
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    for chunk in s3.get_object(Bucket=BUCKET, Key=key)["Body"].iter_chunks(8 * MIB):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=parse_size, default=256 * MIB, help="zip size (default 256M)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, best of them counts (default 3)")
    parser.add_argument("--connections", type=int, default=8, help="connections of the provider (default 8)")
    parser.add_argument("--workdir", default=tempfile.gettempdir(), help="where the local reference file goes")
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

        print(f"Building a {human(args.size)} delivered zip in the sandbox (child process)...", flush=True)
        sandbox = start_sandbox(args.size, work / "sandbox-cache")
        client = make_client(sandbox.base_url)
        _, url, truth = delivered_item(client, sandbox.base_url)
        size = int(truth["size"])
        local = work / "local.zip"  # the reference's source: the same bytes, already on disk
        with local.open("wb") as sink:
            client.download_item(sink, url=url)

        # Warm-up, untimed: the first ObjectStoragePath resolves the Airflow connection and builds
        # the s3fs filesystem (imports, session); boto3's client is already built.
        warm = ObjectStoragePath(f"s3://{CONN_ID}@{BUCKET}/warm-up")
        with warm.open("wb") as sink:
            sink.write(b"warm-up")
        warm.unlink()

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
                    with DiskWatch(private_tmp) as watch:
                        started = time.perf_counter()
                        with path.open("wb") as sink:
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
        print(
            f"S3 via ObjectStoragePath, {human(size)}, best of {args.rounds}: provider (sandbox -> S3, "
            f"{args.connections} connections) {max(provider_rates):.1f} MB/s, boto3 upload_file (disk -> S3) "
            f"{max(boto3_rates):.1f} MB/s -> {ratio:.2f}x boto3",
            flush=True,
        )
        print(
            f"    the same ObjectStoragePath sink fed from the local file (s3fs uploads one part at a time): "
            f"{max(s3fs_rates):.1f} MB/s -> provider {max(provider_rates) / max(s3fs_rates):.2f}x of it",
            flush=True,
        )
        failures += not intact
        print(f"objects stored by the provider intact (md5 {truth['md5']}): {verdict(intact)}", flush=True)
        no_copy = largest_file < size // 2 and temp_peak < size // 2
        failures += not no_copy
        print(
            f"no temporary full copy on local disk: largest local file held open while streaming "
            f"{largest_file / MB:.1f} MB{f' ({largest_name})' if largest_name else ''}, temporary directory "
            f"peak {temp_peak / MB:.1f} MB, file {size / MB:.1f} MB: {verdict(no_copy)}",
            flush=True,
        )
    finally:
        if sandbox is not None:
            sandbox.stop()
        moto.__exit__()
        shutil.rmtree(work, ignore_errors=True)
        print(load_line("end"), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
