"""A real Airflow made of separate processes (api-server, scheduler, triggerer, DAG processor).

Each component is its own process group on 127.0.0.1, with the test's own AIRFLOW_HOME, a sqlite DB
copied from the session's migrated template and logs under the test's tmp_path.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tests.conftest import connection_json
from tests.e2e.conftest import EXAMPLE_DAGS


@dataclass
class Component:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]

    def log(self, tail: int = 6000) -> str:
        self.log_file.flush()
        return self.log_path.read_text(errors="replace")[-tail:]


@dataclass
class Airflow:
    home: Path
    env: dict[str, str]
    logs: Path
    components: list[Component] = field(default_factory=list)
    api_url: str = ""
    token: str = ""

    def start(self, name: str, *args: str) -> Component:
        log_path = self.logs / f"{name}.log"
        log_file = log_path.open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the whole tree can be killed
        )
        component = Component(name, process, log_path, log_file)
        self.components.append(component)
        return component

    def cli(self, *args: str, timeout: float = 180) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(
                f"airflow {' '.join(args)} exited {result.returncode}:\n{result.stdout[-3000:]}\n"
                f"{result.stderr[-3000:]}"
            )
        return result.stdout

    def check_alive(self) -> None:
        for component in self.components:
            if component.process.poll() is not None:
                raise AssertionError(
                    f"airflow {component.name} exited with {component.process.returncode}:\n{component.log()}"
                )

    def api(self, path: str) -> Any:
        """GET the public REST API (``simple_auth_manager_all_admins``: a token for the asking)."""
        if not self.token:
            self.token = http_json(f"{self.api_url}/auth/token")["access_token"]
        return http_json(self.api_url + path, headers={"Authorization": f"Bearer {self.token}"})

    def diagnostics(self) -> str:
        return "\n".join(f"----- {c.name} ({c.log_path}) -----\n{c.log(3000)}" for c in self.components)

    def stop(self) -> None:
        for component in self.components:
            signal_group(component.process, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for component in self.components:
            with contextlib.suppress(subprocess.TimeoutExpired):
                component.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            signal_group(component.process, signal.SIGKILL)  # children too, even if the leader exited
            with contextlib.suppress(subprocess.TimeoutExpired):
                component.process.wait(timeout=10)
            component.log_file.close()


def signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def clean_env() -> dict[str, str]:
    """This process' environment without anything Airflow or AWS: the components get only ours."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_", "ONEATLAS_"))}


def http_json(url: str, data: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(data).encode() if data is not None else None,
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST" if data is not None else "GET",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def wait_for(what: str, check: Any, timeout: float, airflow: Airflow, interval: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        airflow.check_alive()
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{airflow.diagnostics()}")
        time.sleep(interval)


def new_airflow(airflow_db: Path, tmp_path: Path, **env: str) -> Airflow:
    """An Airflow home of its own (migrated DB, example DAGs, all users admins); nothing started yet."""
    home = tmp_path / "airflow-home"
    logs = tmp_path / "component-logs"
    home.mkdir()
    logs.mkdir()
    shutil.copyfile(airflow_db / "template.db", home / "airflow.db")  # migrated, never used
    base = clean_env() | {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLE_DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__API_AUTH__JWT_SECRET": "e2e-test-jwt-secret-0123456789abcdef",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "PYTHONUNBUFFERED": "1",
    }
    return Airflow(home=home, env=base | env, logs=logs)


def start_api_server(instance: Airflow) -> str:
    """Start ``airflow api-server`` on a free port; return its URL once the execution API is healthy."""
    api_server = instance.start("api-server", "api-server", "--host", "127.0.0.1", "--port", "0", "--workers", "1")

    def api_port() -> int | None:
        found = re.search(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", api_server.log(100_000))
        return int(found.group(1)) if found else None

    port = wait_for("the API server to listen", api_port, 120, instance)
    instance.api_url = f"http://127.0.0.1:{port}"

    def execution_api_healthy() -> bool:
        try:
            return bool(http_json(f"{instance.api_url}/execution/health").get("status") == "healthy")
        except (OSError, ValueError, urllib.error.URLError):
            return False

    wait_for("the execution API", execution_api_healthy, 60, instance)
    instance.env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"{instance.api_url}/execution/"
    return instance.api_url


@contextlib.contextmanager
def running_airflow(
    airflow_db: Path, tmp_path: Path, sandbox_url: str, *, before_start: Iterable[tuple[str, ...]] = (), **env: str
) -> Iterator[Airflow]:
    """A LocalExecutor Airflow on ``oneatlas_default`` = the sandbox at ``sandbox_url``, its DAGs
    serialized, then (after the ``airflow`` commands of ``before_start``) the api-server, a
    scheduler, a triggerer and a dag-processor running; everything stopped at the end.

    ``env`` adds to or overrides the environment of every component (a DAGs folder of its own...).
    """
    settings = {
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR": "True",
        "AIRFLOW_CONN_ONEATLAS_DEFAULT": connection_json(sandbox_url),
    }
    instance = new_airflow(airflow_db, tmp_path, **(settings | env))
    try:
        # Writes airflow.cfg once (before the components would race to) and serializes the DAGs.
        instance.cli("dags", "reserialize")
        for command in before_start:
            instance.cli(*command)
        start_api_server(instance)
        instance.start("scheduler", "scheduler", "--skip-serve-logs")
        instance.start("triggerer", "triggerer", "--skip-serve-logs")
        instance.start("dag-processor", "dag-processor")
        yield instance
    finally:
        instance.stop()
