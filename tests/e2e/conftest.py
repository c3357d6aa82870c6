"""End-to-end fixtures: a migrated Airflow metadata DB, the sandbox over real HTTP, and DAG runs.

``tests/conftest.py`` has already pointed ``AIRFLOW_HOME`` at a throwaway folder before Airflow was
imported; here that home gets a migrated sqlite DB (once per session), the DAGs folder is the
repository's ``example_dags``, and each test gets its own sandbox (fresh account, catalogue, orders).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import connection_json

if TYPE_CHECKING:
    from tests.e2e.stack import Airflow

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = ROOT / "example_dags"
#: A date range where the sandbox catalogue has clear SENSOR images over both demo fields.
FOUND_RANGE = {"start": "2024-01-01", "end": "2024-12-31"}
#: Before the sandbox catalogue starts (2018-01-01): nothing can be found.
EMPTY_RANGE = {"start": "2017-01-01", "end": "2017-01-31"}

# Set before any DAG is parsed; airflow.settings may already be imported, so it is patched too.
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(EXAMPLE_DAGS)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"


def _point_settings_at_example_dags() -> None:
    settings = sys.modules.get("airflow.settings")
    if settings is not None:
        settings.DAGS_FOLDER = str(EXAMPLE_DAGS)  # type: ignore[attr-defined]
    if str(EXAMPLE_DAGS) not in sys.path:
        sys.path.append(str(EXAMPLE_DAGS))  # as the DAG processor does: sibling modules import by name


_point_settings_at_example_dags()


def airflow_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    """Run ``airflow <args>`` with this interpreter; fail with its output if it fails."""
    result = subprocess.run(
        [sys.executable, "-m", "airflow", *args],
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"airflow {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result.stdout


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """The session's AIRFLOW_HOME with a migrated metadata DB and the example DAGs serialized in it.

    Also keeps a pristine copy of the migrated DB (``template.db``) for tests that need their own home.
    """
    home = Path(os.environ["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    airflow_cli("db", "migrate")
    db = home / "airflow.db"
    assert db.exists(), f"airflow db migrate left no sqlite DB at {db}"
    shutil.copyfile(db, home / "template.db")

    _point_settings_at_example_dags()
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.utils.session import create_session

    from tests.airflow_compat import bundle_dag_bag, sync_bag_to_db

    with create_session() as session:
        DagBundlesManager().sync_bundles_to_db(session=session)
    bag = bundle_dag_bag(EXAMPLE_DAGS, EXAMPLE_DAGS)
    assert not bag.import_errors, bag.import_errors
    sync_bag_to_db(bag, "dags-folder", None)
    return home


@pytest.fixture(scope="session")
def _shared_execution_api() -> Iterator[None]:
    """``dag.test()`` builds a fresh in-process Execution API per task instance, which costs ~5 s of
    route generation each time. Reuse one for the session: same app, same behaviour, much faster."""
    from airflow.sdk.execution_time import supervisor

    original = supervisor.in_process_api_server
    api = original()  # type: ignore[no-untyped-call]
    supervisor.in_process_api_server = lambda: api
    yield
    supervisor.in_process_api_server = original


@pytest.fixture(scope="session")
def example_dags(airflow_db: Path, _shared_execution_api: None) -> dict[str, Any]:
    """The example DAGs, parsed the way the DAG processor parses them."""
    from tests.airflow_compat import bundle_dag_bag

    bag = bundle_dag_bag(EXAMPLE_DAGS, EXAMPLE_DAGS)
    assert not bag.import_errors, bag.import_errors
    return dict(bag.dags)


# -- the sandbox -----------------------------------------------------------------------------------


@pytest.fixture
def e2e_sandbox_config() -> dict[str, Any]:
    """Override (or parametrize) to change the sandbox of ``e2e_sandbox``.

    Delivery takes 3 s: longer than a task start, so the sensor really defers and the trigger polls.
    """
    return {}


@pytest.fixture
def e2e_sandbox(e2e_sandbox_config: dict[str, Any]) -> Iterator[Any]:
    """A fresh sandbox in this process, over real HTTP on 127.0.0.1 (a free port)."""
    from airflow_provider_oneatlas.sandbox.config import SandboxConfig
    from airflow_provider_oneatlas.sandbox.server import SandboxServer

    settings = {"processing_after": 1.0, "delivered_after": 3.0, "download_size": 384 * 1024} | e2e_sandbox_config
    with SandboxServer(SandboxConfig(**settings)) as server:
        yield server


@pytest.fixture
def sandbox_conn(e2e_sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """``oneatlas_default`` pointing at the sandbox, as users give it: an environment connection."""
    monkeypatch.setenv("AIRFLOW_CONN_ONEATLAS_DEFAULT", connection_json(e2e_sandbox.base_url))
    return "oneatlas_default"


def sandbox_get(base_url: str, path: str) -> Any:
    """GET a ``/_sandbox/`` document over HTTP (no proxy, no client of ours in the way)."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200, f"GET {path}: {response.status} {body[:300]!r}"
        return json.loads(body)
    finally:
        connection.close()


def md5_file(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# -- running DAGs ------------------------------------------------------------------------------------


class DagRunResult:
    """A finished ``dag.test()`` run: its state, task instance states and XComs, read from the DB."""

    def __init__(self, dag_id: str, run_id: str, state: str, seconds: float) -> None:
        self.dag_id = dag_id
        self.run_id = run_id
        self.state = state
        self.seconds = seconds

    def task_states(self) -> dict[str, str | list[str]]:
        """``task_id`` -> state (a list of states, by map index, for mapped tasks)."""
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session
        from sqlalchemy import select

        states: dict[str, Any] = {}
        with create_session() as session:
            rows = session.execute(
                select(TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state)
                .where(TaskInstance.dag_id == self.dag_id, TaskInstance.run_id == self.run_id)
                .order_by(TaskInstance.task_id, TaskInstance.map_index)
            ).all()
        for task_id, map_index, state in rows:
            value = str(state.value if hasattr(state, "value") else state)
            if map_index < 0:
                states[task_id] = value
            else:
                states.setdefault(task_id, []).append(value)
        return states

    def rendered_map_indexes(self, task_id: str) -> list[str | None]:
        """The names (``map_index_template``) of a mapped task's instances, by map index."""
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            return list(
                session.scalars(
                    select(TaskInstance.rendered_map_index)
                    .where(
                        TaskInstance.dag_id == self.dag_id,
                        TaskInstance.run_id == self.run_id,
                        TaskInstance.task_id == task_id,
                    )
                    .order_by(TaskInstance.map_index)
                ).all()
            )

    def xcom(self, task_id: str, key: str = "return_value", map_index: int | None = None) -> Any:
        values = self.xcoms(task_id, key)
        if map_index is None:
            assert len(values) == 1, f"{task_id}: expected one XCom {key!r}, found {len(values)}"
            return next(iter(values.values()))
        return values[map_index]

    def xcoms(self, task_id: str, key: str = "return_value") -> dict[int, Any]:
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            rows = session.scalars(
                select(XComModel).where(
                    XComModel.dag_id == self.dag_id,
                    XComModel.run_id == self.run_id,
                    XComModel.task_id == task_id,
                    XComModel.key == key,
                )
            ).all()
            return {int(row.map_index): XComModel.deserialize_value(row) for row in rows}

    def asset_events(self) -> list[Any]:
        """The asset events this run's tasks recorded (``AssetEvent`` rows, detached)."""
        from airflow.models.asset import AssetEvent
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            events = session.scalars(
                select(AssetEvent).where(
                    AssetEvent.source_dag_id == self.dag_id, AssetEvent.source_run_id == self.run_id
                )
            ).all()
            for event in events:
                _ = event.asset  # load before the session closes
            session.expunge_all()
            return list(events)


@pytest.fixture
def run_dag(example_dags: dict[str, Any]) -> Any:
    """``run_dag(dag_id, conf)``: one ``dag.test()`` run against the real metadata DB.

    ``dag.test()`` runs every task in this process, deferred ones included: the trigger runs inline.
    """

    from tests.airflow_compat import bundle_dag_bag

    def run(dag_id: str, conf: dict[str, Any] | None = None, **kwargs: Any) -> DagRunResult:
        # Parsed afresh for every run: in one process, a run's conf leaks into the DAG's Param objects.
        bag = bundle_dag_bag(EXAMPLE_DAGS / f"{dag_id}.py", EXAMPLE_DAGS)
        assert not bag.import_errors, bag.import_errors
        dag = bag.dags[dag_id]
        started = time.monotonic()
        dr = dag.test(run_conf=conf, **kwargs)
        state = str(dr.state.value if hasattr(dr.state, "value") else dr.state)
        return DagRunResult(dag_id, dr.run_id, state, time.monotonic() - started)

    return run


# -- a real Airflow (scheduler, triggerer, DAG processor, API server) --------------------------------


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
    from tests.e2e.stack import running_airflow  # stack imports this module

    with running_airflow(airflow_db, tmp_path, sandbox_process.base_url) as instance:
        yield instance
