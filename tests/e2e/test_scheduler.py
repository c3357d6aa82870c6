"""A real Airflow: scheduler, triggerer, DAG processor and API server, running ``oneatlas_acquisition``.

Every component is its own process (group) on 127.0.0.1, with its own AIRFLOW_HOME, a sqlite DB
(``airflow standalone`` runs the LocalExecutor on sqlite too) and logs under the test's tmp_path.
The sandbox runs in a child process as well. The order is held at ``ordered``/``processing`` until
the ``wait`` sensor is seen *deferred* in the metadata DB; then the sandbox delivers it, and the
triggerer must notice and hand the task back to a worker. The imagery landed fires the asset, and
the scheduler runs ``oneatlas_downstream_etl`` on it.
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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import EXAMPLE_DAGS, FOUND_RANGE, connection_json, md5_file

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

#: The whole run, from triggering to the downstream DAG's success.
DEADLINE_SECONDS = 360
RUN_ID = "e2e_scheduler_acquisition"


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
            self.token = _http_json(f"{self.api_url}/auth/token")["access_token"]
        return _http_json(self.api_url + path, headers={"Authorization": f"Bearer {self.token}"})

    def diagnostics(self) -> str:
        return "\n".join(f"----- {c.name} ({c.log_path}) -----\n{c.log(3000)}" for c in self.components)

    def stop(self) -> None:
        for component in self.components:
            _signal_group(component.process, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for component in self.components:
            with contextlib.suppress(subprocess.TimeoutExpired):
                component.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            _signal_group(component.process, signal.SIGKILL)  # children too, even if the leader exited
            with contextlib.suppress(subprocess.TimeoutExpired):
                component.process.wait(timeout=10)
            component.log_file.close()


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def _clean_env() -> dict[str, str]:
    """This process' environment without anything Airflow or AWS: the components get only ours."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_", "ONEATLAS_"))}


def _http_json(url: str, data: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(data).encode() if data is not None else None,
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST" if data is not None else "GET",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _wait_for(what: str, check: Any, timeout: float, airflow: Airflow, interval: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        airflow.check_alive()
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{airflow.diagnostics()}")
        time.sleep(interval)


@pytest.fixture
def sandbox_process() -> Iterator[Any]:
    """The sandbox in its own process. Orders are never delivered by the clock (the test delivers
    them); the catalogue ends in 2024, so the scheduled run of "yesterday" finds nothing."""
    from airflow_provider_oneatlas.sandbox.config import SandboxConfig
    from airflow_provider_oneatlas.sandbox.server import SandboxProcess

    config = SandboxConfig(
        processing_after=2.0,
        delivered_after=86400.0,
        catalog_end="2024-12-31",
        download_size=256 * 1024,
    )
    with SandboxProcess(config) as sandbox:
        yield sandbox


@pytest.fixture
def airflow(airflow_db: Path, tmp_path: Path, sandbox_process: Any) -> Iterator[Airflow]:
    home = tmp_path / "airflow-home"
    logs = tmp_path / "component-logs"
    home.mkdir()
    logs.mkdir()
    shutil.copyfile(airflow_db / "template.db", home / "airflow.db")  # migrated, never used
    env = _clean_env() | {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLE_DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__API_AUTH__JWT_SECRET": "e2e-scheduler-test-jwt-secret-0123456789",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR": "True",
        "AIRFLOW_CONN_ONEATLAS_DEFAULT": connection_json(sandbox_process.base_url),
        "PYTHONUNBUFFERED": "1",
    }
    instance = Airflow(home=home, env=env, logs=logs)
    try:
        # Writes airflow.cfg once (before the components would race to) and serializes the DAGs.
        instance.cli("dags", "reserialize")
        api_server = instance.start("api-server", "api-server", "--host", "127.0.0.1", "--port", "0", "--workers", "1")

        def api_port() -> int | None:
            found = re.search(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", api_server.log(100_000))
            return int(found.group(1)) if found else None

        port = _wait_for("the API server to listen", api_port, 120, instance)
        instance.api_url = f"http://127.0.0.1:{port}"

        def execution_api_healthy() -> bool:
            try:
                return bool(_http_json(f"{instance.api_url}/execution/health").get("status") == "healthy")
            except (OSError, ValueError, urllib.error.URLError):
                return False

        _wait_for("the execution API", execution_api_healthy, 60, instance)
        instance.env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"{instance.api_url}/execution/"
        instance.start("scheduler", "scheduler", "--skip-serve-logs")
        instance.start("triggerer", "triggerer", "--skip-serve-logs")
        instance.start("dag-processor", "dag-processor")
        yield instance
    finally:
        instance.stop()


def test_acquisition_under_a_real_scheduler(airflow: Airflow, sandbox_process: Any, tmp_path: Path) -> None:
    started = time.monotonic()
    destination = tmp_path / "imagery"
    run_conf = {**FOUND_RANGE, "destination": destination.as_uri() + "/", "poll_interval": 1}

    airflow.cli("dags", "unpause", "oneatlas_downstream_etl")
    airflow.cli("dags", "unpause", "oneatlas_acquisition")
    airflow.cli("dags", "trigger", "oneatlas_acquisition", "--run-id", RUN_ID, "--conf", json.dumps(run_conf))
    run_path = f"/api/v2/dags/oneatlas_acquisition/dagRuns/{RUN_ID}"

    def remaining() -> float:
        return max(10.0, DEADLINE_SECONDS - (time.monotonic() - started))

    def task_state(task_id: str) -> str | None:
        state: str | None = airflow.api(f"{run_path}/taskInstances/{task_id}").get("state")
        return state

    # 1. The sensor defers: its task instance sits in "deferred" while the order is not delivered.
    _wait_for("the wait sensor to defer", lambda: task_state("wait") == "deferred", remaining(), airflow)
    orders = sandbox_process.state["orders"]
    assert len(orders) == 1, orders
    order_id = orders[0]["id"]
    assert orders[0]["status"] in ("ordered", "processing")
    time.sleep(2)  # still deferred: the trigger keeps polling an undelivered order
    assert task_state("wait") == "deferred"

    # 2. OneAtlas delivers; the triggerer notices and the task resumes on a worker.
    _http_json(f"{sandbox_process.base_url}/_sandbox/orders/{order_id}/status", {"status": "delivered"})

    def finished() -> str | None:
        state: str = airflow.api(run_path)["state"]
        return state if state in ("success", "failed") else None

    final = _wait_for("the acquisition run to finish", finished, remaining(), airflow, interval=2)
    states = {t: task_state(t) for t in ("search", "order", "wait", "download", "summary")}
    assert final == "success", f"{states}\n{airflow.diagnostics()}"
    assert set(states.values()) == {"success"}, states

    # The triggerer really ran the trigger: its lines are in the wait task's trigger log.
    trigger_logs = [p for p in (airflow.home / "logs").rglob("*trigger*") if p.is_file() and "task_id=wait" in str(p)]
    trigger_text = "".join(p.read_text(errors="replace") for p in trigger_logs)
    assert f"OneAtlas order {order_id} is delivered" in trigger_text, f"no trigger log in {trigger_logs}"

    # Exactly one order, delivered, paid once.
    state = sandbox_process.state
    assert [o["id"] for o in state["orders"]] == [order_id]
    assert state["orders"][0]["status"] == "delivered"
    assert [d["orderId"] for d in state["debits"]] == [order_id]
    (item_id,) = state["orders"][0]["deliveredItems"]

    # The zip landed intact.
    zips = list(destination.glob(f"*/{item_id}.zip"))
    assert len(zips) == 1, list(destination.rglob("*"))
    truth = _http_json(f"{sandbox_process.base_url}/_sandbox/items/{item_id}/file")
    assert zips[0].stat().st_size == truth["size"]
    assert md5_file(zips[0]) == truth["md5"]

    # 3. The asset event scheduled the downstream ETL, which wrote its manifest.
    def downstream_done() -> dict[str, Any] | None:
        runs = airflow.api("/api/v2/dags/oneatlas_downstream_etl/dagRuns")["dag_runs"]
        done = [r for r in runs if r["state"] in ("success", "failed")]
        return done[0] if done else None

    downstream = _wait_for("the downstream ETL run", downstream_done, remaining(), airflow, interval=2)
    assert downstream["state"] == "success", airflow.diagnostics()
    assert downstream["run_type"] == "asset_triggered"
    manifest = json.loads(zips[0].with_name(zips[0].name + ".manifest.json").read_text())
    assert manifest["item_id"] == item_id and manifest["md5"] == truth["md5"]

    # The scheduled run of the last interval (created on unpause) found nothing, ordered nothing.
    runs = airflow.api("/api/v2/dags/oneatlas_acquisition/dagRuns")["dag_runs"]
    for run in runs:
        if run["dag_run_id"] != RUN_ID and run["state"] in ("success", "failed"):
            assert run["state"] == "success", run
    assert urlsplit(airflow.api_url).hostname == "127.0.0.1"
