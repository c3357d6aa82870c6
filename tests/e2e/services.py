"""PostgreSQL and Redis from Debian packages, for the scale-out test: private, on 127.0.0.1, in temp dirs.

Installed with ``apt-get`` when missing (as root, or with passwordless ``sudo``; ``RUNLEVEL=1`` keeps
the packages from starting their system services). Each server runs from a data directory under the
test's tmp_path on a free port, and is stopped (its process group killed) when the test ends.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _sudo() -> list[str]:
    return [] if os.geteuid() == 0 else ["sudo", "-n"]


def ensure_debian_packages(packages: dict[str, str]) -> None:
    """``{"binary glob": "package"}``: install the packages whose binary is missing."""
    missing = [package for pattern, package in packages.items() if not glob.glob(pattern)]
    if not missing:
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", RUNLEVEL="1")
    subprocess.run([*_sudo(), "apt-get", "update", "-qq"], check=True, env=env, timeout=600)
    subprocess.run(
        # Another apt may hold the lock (a shared machine): wait for it rather than fail.
        [*_sudo(), "apt-get", "install", "-y", "-qq", "-o", "DPkg::Lock::Timeout=600", "--no-install-recommends",
         *missing],
        check=True,
        env=env,
        timeout=900,
    )


def _wait_port(port: int, timeout: float, what: str, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what} exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.3)
    raise AssertionError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


@dataclass
class Postgres:
    url: str  # SQLAlchemy URL (psycopg2)
    port: int


@contextlib.contextmanager
def postgres(tmp_root: str | None = None) -> Iterator[Postgres]:
    """A throwaway PostgreSQL cluster; trust auth on 127.0.0.1 only; database and role ``airflow``."""
    ensure_debian_packages({"/usr/lib/postgresql/*/bin/postgres": "postgresql"})
    bindir = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1])
    # Its own temp dir, not under pytest's (0700 root) tree: the postgres user must reach it.
    tmp = Path(tempfile.mkdtemp(prefix="oneatlas-pg-", dir=tmp_root))
    data = tmp / "pgdata"
    sockets = tmp / "pgsock"
    sockets.mkdir(parents=True)
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        owner = pwd.getpwnam("postgres")
        for path in (tmp, sockets):
            os.chown(path, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run(
        [*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "airflow", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    log = (tmp / "postgres.log").open("wb")
    process = subprocess.Popen(
        [*as_user, str(bindir / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port),
         "-k", str(sockets), "-c", "fsync=off", "-c", "max_connections=200"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_port(port, 60, "postgres", process)
        deadline = time.monotonic() + 60
        while True:  # listening is not accepting: wait until a query answers
            ready = subprocess.run(
                [str(bindir / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "airflow", "-d", "postgres",
                 "-tAc", "select 1"], capture_output=True, check=False, timeout=30,
            )
            if ready.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"postgres does not answer: {ready.stderr!r}")
            time.sleep(0.5)
        subprocess.run(
            [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "airflow", "airflow"],
            check=True, capture_output=True, timeout=60,
        )
        yield Postgres(url=f"postgresql+psycopg2://airflow@127.0.0.1:{port}/airflow", port=port)
    finally:
        stop(process)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def redis(tmp: Path) -> Iterator[str]:
    """A throwaway Redis (no persistence) on 127.0.0.1; yields its URL."""
    ensure_debian_packages({"/usr/bin/redis-server": "redis-server"})
    port = free_port()
    workdir = tmp / "redis"
    workdir.mkdir(parents=True)
    log = (tmp / "redis.log").open("wb")
    process = subprocess.Popen(
        [shutil.which("redis-server") or "/usr/bin/redis-server", "--bind", "127.0.0.1", "--port", str(port),
         "--dir", str(workdir), "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_port(port, 30, "redis", process)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(process)
        log.close()


def stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
