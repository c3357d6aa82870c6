"""Scale-out: CeleryExecutor on PostgreSQL and Redis, two Celery workers, two triggerers.

PostgreSQL and Redis come from Debian packages, private to the test (temp dirs, free ports on
127.0.0.1). The Airflow stack: api-server, scheduler, dag-processor, two triggerers and two Celery
workers, all separate processes. ``oneatlas_multi_aoi`` runs over 10 fields against a sandbox whose
downloads are slowed so they are in flight long enough to be interrupted. During the run:

- one triggerer is SIGKILLed while the ``wait`` tasks are deferred (the other must take the waits over);
- the Celery worker running a download is SIGKILLed mid-transfer (the task must be retried elsewhere).

Then: the run succeeds; one order and one debit per field; every stored zip md5-identical to the
sandbox's; a STAC item beside each and one ItemCollection holding them all; nothing incomplete under a
final name.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import connection_json
from tests.e2e.conftest import FOUND_RANGE, md5_file
from tests.e2e.services import postgres, redis
from tests.e2e.stack import Airflow, clean_env, http_json, start_api_server, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1800)]

DAG_ID = "oneatlas_multi_aoi"
RUN_ID = "e2e_celery_multi_aoi"
DEADLINE_SECONDS = 1200


def _box(lon: float, lat: float, size: float = 0.03) -> dict[str, Any]:
    return {
        "type": "Polygon",
        "coordinates": [[[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]],
    }


#: 10 small fields in the sandbox's two demo areas (where its catalogue has many images).
FIELDS = [{"name": f"toulouse-{i}", "aoi": _box(1.27 + 0.05 * i, 43.50 + 0.03 * i)} for i in range(5)] + [
    {"name": f"cavtat-{i}", "aoi": _box(18.21 + 0.04 * i, 42.45 + 0.03 * i)} for i in range(5)
]


@pytest.fixture
def slow_sandbox() -> Iterator[Any]:
    """Orders deliver after 40 s (waits defer), downloads crawl at 48 kB/s (about 10 s each)."""
    from airflow_provider_oneatlas.sandbox.config import SandboxConfig
    from airflow_provider_oneatlas.sandbox.server import SandboxProcess

    config = SandboxConfig(
        processing_after=2.0,
        delivered_after=40.0,
        catalog_end="2024-12-31",
        download_size=480 * 1024,
        bandwidth=48_000,
    )
    with SandboxProcess(config) as sandbox:
        yield sandbox


@pytest.fixture
def celery_stack(tmp_path: Path, slow_sandbox: Any) -> Iterator[Airflow]:
    with postgres() as pg, redis(tmp_path / "services") as broker:
        home = tmp_path / "airflow-home"
        logs = tmp_path / "component-logs"
        home.mkdir()
        logs.mkdir()
        env = clean_env() | {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(Path(__file__).resolve().parents[2] / "example_dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg.url,
            "AIRFLOW__CELERY__BROKER_URL": broker,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + pg.url.replace("+psycopg2", ""),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
            "AIRFLOW__API_AUTH__JWT_SECRET": "e2e-test-jwt-secret-0123456789abcdef",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR": "True",
            # A dead triggerer's waits and a dead worker's task are taken over within seconds, not minutes.
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
            # The connection from the environment of every component, as a secrets backend would serve it.
            "AIRFLOW_CONN_ONEATLAS_DEFAULT": connection_json(slow_sandbox.base_url),
            "PYTHONUNBUFFERED": "1",
        }
        instance = Airflow(home=home, env=env, logs=logs)
        try:
            instance.cli("db", "migrate", timeout=900)
            instance.cli("dags", "reserialize", timeout=300)
            start_api_server(instance)
            instance.start("scheduler", "scheduler", "--skip-serve-logs")
            instance.start("dag-processor", "dag-processor")
            for n in (1, 2):
                instance.start(f"triggerer-{n}", "triggerer", "--skip-serve-logs")
            for n in (1, 2):
                instance.start(
                    f"worker-{n}", "celery", "worker", "--celery-hostname", f"worker{n}@%h",
                    "--concurrency", "2", "--skip-serve-logs",
                )
            yield instance
        finally:
            instance.stop()


def _component(airflow: Airflow, name: str) -> Any:
    return next(c for c in airflow.components if c.name == name)


def _kill(airflow: Airflow, name: str) -> None:
    component = _component(airflow, name)
    os.killpg(component.process.pid, signal.SIGKILL)
    component.process.wait(timeout=30)
    airflow.components.remove(component)  # dead on purpose: check_alive must not trip on it
    component.log_file.close()


def test_multi_aoi_on_celery_survives_a_killed_triggerer_and_worker(
    celery_stack: Airflow, slow_sandbox: Any, tmp_path: Path
) -> None:
    airflow = celery_stack
    started = time.monotonic()
    destination = tmp_path / "imagery"
    conf = {**FOUND_RANGE, "areas": FIELDS, "destination": destination.as_uri() + "/", "poll_interval": 1}
    airflow.cli("dags", "unpause", DAG_ID)
    airflow.cli("dags", "trigger", DAG_ID, "--run-id", RUN_ID, "--conf", json.dumps(conf))
    run_path = f"/api/v2/dags/{DAG_ID}/dagRuns/{RUN_ID}"

    def remaining() -> float:
        return max(30.0, DEADLINE_SECONDS - (time.monotonic() - started))

    def instances(task_id: str) -> list[dict[str, Any]]:
        found = airflow.api(f"{run_path}/taskInstances?limit=100")["task_instances"]
        return [ti for ti in found if ti["task_id"] == task_id]

    # 1. The waits defer; one triggerer is killed while they are deferred.
    wait_for(
        "the wait tasks to defer",
        lambda: sum(ti["state"] == "deferred" for ti in instances("wait")) >= 5,
        remaining(),
        airflow,
        interval=2,
    )
    _kill(airflow, "triggerer-1")
    killed_triggerer_at = time.monotonic()

    # 2. A download is in flight on a worker: kill that worker (and the task with it).
    def running_download() -> dict[str, Any] | None:
        running = [ti for ti in instances("download") if ti["state"] == "running" and ti.get("pid")]
        return running[0] if running else None

    ti = wait_for("a download in flight", running_download, remaining(), airflow, interval=1)
    time.sleep(2)  # a few kB into the transfer
    worker = next(
        c.name for c in airflow.components
        if c.name.startswith("worker-") and _in_group(int(ti["pid"]), c.process.pid)
    )
    _kill(airflow, worker)

    # 3. The run ends, and ends well.
    def finished() -> str | None:
        state: str = airflow.api(run_path)["state"]
        return state if state in ("success", "failed") else None

    final = wait_for("the run to finish", finished, remaining(), airflow, interval=3)
    states = {t: sorted({i["state"] for i in instances(t)}) for t in ("search", "order", "wait", "download")}
    assert final == "success", f"{states}\n{airflow.diagnostics()}"
    assert all(s == ["success"] for s in states.values()), states
    # The killed worker's download(s) really were interrupted and retried (on the surviving worker).
    retried = [i["map_index"] for i in instances("download") if int(i["try_number"]) >= 2]
    assert retried, "no download was retried: the worker was not killed mid-download"
    assert time.monotonic() - killed_triggerer_at > 0

    # One order per field, each debited exactly once.
    state = slow_sandbox.state
    order_ids = [o["id"] for o in state["orders"]]
    assert len(order_ids) == len(FIELDS) == len(set(order_ids)), order_ids
    debited = [d["orderId"] for d in state["debits"]]
    assert sorted(debited) == sorted(order_ids), "an order debited twice, or not at all"
    assert all(o["status"] == "delivered" for o in state["orders"])

    # Every delivered item stored once, md5-identical; nothing incomplete under a final name.
    items = [item for o in state["orders"] for item in o["deliveredItems"]]
    stored = {p.name: p for p in destination.rglob("*.zip") if p.is_file()}
    assert sorted(stored) == sorted(f"{item}.zip" for item in items), sorted(stored)
    for item in items:
        truth = http_json(f"{slow_sandbox.base_url}/_sandbox/items/{item}/file")
        path = stored[f"{item}.zip"]
        assert path.stat().st_size == truth["size"] and md5_file(path) == truth["md5"], item
        sidecar = path.with_name(path.name + ".md5")  # the download writes the checksum next to the zip
        assert sidecar.read_text().split()[0] == truth["md5"], sidecar
    # The STAC hand-off: an item beside each zip, and one ItemCollection that every mapped download
    # merged its item into (concurrently, on two workers).
    (collection,) = list(destination.rglob("items.json"))
    assert sorted(f["id"] for f in json.loads(collection.read_text())["features"]) == sorted(items)
    stac = {path.with_name(f"{item}.json") for item, path in ((i, stored[f"{i}.zip"]) for i in items)}
    assert all(p.is_file() for p in stac), sorted(p for p in stac if not p.is_file())
    stac.add(collection)
    others = [
        p
        for p in destination.rglob("*")
        if p.is_file() and not p.name.endswith((".zip", ".zip.md5")) and p not in stac
    ]
    leftovers = [p for p in others if p.name.startswith(".") and p.name.endswith(".partial")]
    assert others == leftovers, f"unexpected objects: {sorted(set(others) - set(leftovers))}"
    print(f"celery scale-out: {len(items)} images, {len(leftovers)} .partial left by the killed worker")


def _in_group(pid: int, group: int) -> bool:
    """Whether ``pid`` descends from the worker whose process group is ``group``: the task process
    may sit in a session of its own, so its ancestors are walked up through /proc."""
    while pid > 1:
        try:
            if pid == group or os.getpgid(pid) == group:
                return True
            stat = Path(f"/proc/{pid}/stat").read_text()
        except (ProcessLookupError, FileNotFoundError):
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # field 4: the parent's pid
    return False
