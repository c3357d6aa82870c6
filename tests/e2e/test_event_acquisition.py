"""Event-driven acquisition on a real Airflow over eight simulated days, the triggerer SIGKILLed midway.

A real scheduler, triggerer, DAG processor and API server (LocalExecutor, sqlite; see ``stack.py``)
run the example DAG ``oneatlas_event_acquisition`` exactly as shipped; only the watcher's thresholds
and poll interval (read from the environment when the DAG is parsed) and the destination are set.
The sandbox, in its own process, is a live catalogue whose clock is stopped at ``T0`` and moved a
simulated day at a time by the test. Its ``AssetWatcher`` runs ``OneAtlasNewImageTrigger`` in the
triggerer, which keeps its state in an Airflow Variable through the Task SDK.

After day 4 the triggerer's whole process group is SIGKILLed; days 5 and 6 are published while no
triggerer runs (day 6 brings an image acquired three days before, published late); a new triggerer
adopts the watcher. In the end every image that became eligible was ordered exactly once (the
sandbox's orders and debits), none is missing, days with nothing new started no run and spent
nothing, and every zip landed intact.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oneatlas.client.client import OneAtlasClient
from airflow_provider_oneatlas.client.query import SearchQuery
from airflow_provider_oneatlas.hooks.oneatlas import config_from_connection
from tests.conftest import TOULOUSE_FIELD, connection_json
from tests.e2e.conftest import md5_file
from tests.e2e.stack import Airflow, Component, http_json, running_airflow, signal_group, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1500)]

DAG_ID = "oneatlas_event_acquisition"
T0 = "2025-06-01T00:00:00Z"
DAYS = 8
KILL_AFTER_DAY = 4
DOWN_DAYS = (5, 6)  # published while no triggerer runs
MAX_CLOUD_COVER = 50
MIN_COVERAGE = 0.3
POLL_INTERVAL = 2
#: The watcher's persist delay (its default) and a few cycles: after this, a quiet watcher has written its state.
QUIET_SECONDS = 5 + 4 * POLL_INTERVAL
STATE_PREFIX = "oneatlas_new_images."


@pytest.fixture
def live_sandbox() -> Any:
    from airflow_provider_oneatlas.sandbox.config import SandboxConfig
    from airflow_provider_oneatlas.sandbox.server import SandboxProcess

    config = SandboxConfig(
        clock_start=T0, clock_speed=0, processing_after=1.0, delivered_after=3.0, download_size=256 * 1024
    )
    with SandboxProcess(config) as sandbox:
        yield sandbox


@pytest.fixture
def event_airflow(airflow_db: Path, tmp_path: Path, live_sandbox: Any) -> Any:
    with running_airflow(
        airflow_db,
        tmp_path,
        live_sandbox.base_url,
        ONEATLAS_DESTINATION=(tmp_path / "imagery").as_uri() + "/",
        ONEATLAS_EVENT_MAX_CLOUD_COVER=str(MAX_CLOUD_COVER),
        ONEATLAS_EVENT_MIN_COVERAGE=str(MIN_COVERAGE),
        ONEATLAS_EVENT_POLL_INTERVAL=str(POLL_INTERVAL),
    ) as instance:
        yield instance


def _clock(sandbox: Any) -> datetime:
    now = http_json(f"{sandbox.base_url}/_sandbox/clock")["now"]
    return datetime.fromisoformat(now.replace("Z", "+00:00"))


def _client(sandbox: Any) -> OneAtlasClient:
    from airflow.models.connection import Connection

    connection = Connection.from_json(connection_json(sandbox.base_url), conn_id="e2e")
    return OneAtlasClient(config_from_connection(connection))


def _eligible(sandbox: Any, start: datetime, end: datetime) -> list[str]:
    """Ground truth from the catalogue: SENSOR images over the field published in ``[start, end)``
    that pass the watcher's thresholds."""
    with _client(sandbox) as client:
        query = SearchQuery(aoi=TOULOUSE_FIELD, processing_level="SENSOR", publication_date=(start, end))
        outcome = client.search_images(query, max_cloud_cover=MAX_CLOUD_COVER, min_coverage=MIN_COVERAGE)
    return sorted(i["id"] for i in outcome.images)


def _ordered(sandbox: Any) -> dict[str, list[str]]:
    """The account's orders, read through the API: order id -> the catalogue images it bought."""
    with _client(sandbox) as client:
        return {order.id: list(order.product_ids) for order in client.iter_orders()}


def test_each_new_image_is_ordered_once_across_a_triggerer_sigkill(
    event_airflow: Airflow, live_sandbox: Any, tmp_path: Path
) -> None:
    airflow = event_airflow
    killed: list[Component] = []

    def diagnostics() -> str:
        dead = "\n".join(f"----- {c.name} (killed) -----\n{c.log(3000)}" for c in killed)
        return f"{dead}\n{airflow.diagnostics()}\n----- sandbox -----\n{live_sandbox.output[-2000:]}"

    def watcher_state() -> dict[str, Any] | None:
        variables = airflow.api("/api/v2/variables?limit=100")["variables"]
        states = [v for v in variables if v["key"].startswith(STATE_PREFIX)]
        assert len(states) <= 1, states
        return json.loads(states[0]["value"]) if states else None

    def runs() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = airflow.api(f"/api/v2/dags/{DAG_ID}/dagRuns?limit=100")["dag_runs"]
        return found

    def ordered_items() -> list[str]:
        """Every image bought, as often as it was bought."""
        return [image for images in _ordered(live_sandbox).values() for image in images]

    def settled(expected: list[str]) -> bool:
        """Every expected image delivered, and no run left unfinished (duplicates are asserted after)."""
        if not set(expected) <= set(ordered_items()):
            return False
        return all(r["state"] in ("success", "failed") for r in runs())

    def advance_a_day() -> tuple[datetime, datetime]:
        before = _clock(live_sandbox)
        http_json(f"{live_sandbox.base_url}/_sandbox/clock", {"advance": 86400})
        return before, _clock(live_sandbox)

    try:
        airflow.cli("dags", "unpause", DAG_ID)
        # The watcher starts in the triggerer and takes the catalogue at T0 as its baseline.
        wait_for("the watcher's baseline state", watcher_state, 300, airflow, interval=2)
        assert watcher_state()["emitted"] == 0  # type: ignore[index]

        expected: list[str] = []
        per_day: dict[int, list[str]] = {}
        for day in range(1, DAYS + 1):
            if day == KILL_AFTER_DAY + 1:
                # The watcher is quiet and its state written: SIGKILL the triggerer's process group.
                time.sleep(QUIET_SECONDS)
                state = watcher_state()
                assert state is not None and state["emitted"] == len(expected), (state, expected)
                (triggerer,) = [c for c in airflow.components if c.name == "triggerer"]
                airflow.components.remove(triggerer)
                killed.append(triggerer)
                signal_group(triggerer.process, signal.SIGKILL)
                assert triggerer.process.wait(timeout=30) == -signal.SIGKILL
            start, end = advance_a_day()
            per_day[day] = _eligible(live_sandbox, start, end)
            expected += per_day[day]
            if day == DOWN_DAYS[-1]:
                airflow.start("triggerer-2", "triggerer", "--skip-serve-logs")
            if day in DOWN_DAYS[:-1]:
                continue  # nobody watches: nothing can happen yet
            if per_day[day] or day == DOWN_DAYS[-1]:
                wait_for(
                    f"day {day}'s images {per_day[day]} ordered and delivered",
                    lambda: settled(expected),
                    # After the restart, the orphaned watcher is adopted once the dead triggerer's
                    # heartbeat is older than the health check threshold (30 s).
                    420 if day == DOWN_DAYS[-1] else 240,
                    airflow,
                    interval=2,
                )
            else:
                # Nothing new: several cycles go by, no run starts, nothing is ordered.
                count = len(runs())
                time.sleep(QUIET_SECONDS)
                assert len(runs()) == count, (day, runs())
            assert sorted(ordered_items()) == sorted(expected), (day, per_day, ordered_items(), diagnostics())

        # Enough happened for the test to mean something.
        assert len(expected) >= 3, per_day
        assert any(per_day[d] for d in DOWN_DAYS), f"no image published while the triggerer was down: {per_day}"
        assert any(not per_day[d] for d in per_day), f"no quiet day: {per_day}"

        # Exactly once: one delivered item per eligible image, one debit per order, every run succeeded.
        time.sleep(QUIET_SECONDS)
        state = live_sandbox.state
        items = Counter(ordered_items())
        assert set(items) == set(expected) and max(items.values()) == 1, (items, expected)
        assert sorted(d["orderId"] for d in state["debits"]) == sorted(o["id"] for o in state["orders"])
        assert all(o["status"] == "delivered" for o in state["orders"]), state["orders"]
        finished = runs()
        assert finished and all(r["state"] == "success" for r in finished), (finished, diagnostics())
        assert watcher_state()["emitted"] == len(expected)  # type: ignore[index]

        # Each delivered zip (named after the delivered item) landed intact.
        delivered = [i for o in state["orders"] for i in o["deliveredItems"]]
        assert len(delivered) == len(expected), (delivered, expected)
        for item_id in delivered:
            (stored,) = list((tmp_path / "imagery").glob(f"*/{item_id}.zip"))
            truth = http_json(f"{live_sandbox.base_url}/_sandbox/items/{item_id}/file")
            assert stored.stat().st_size == truth["size"] and md5_file(stored) == truth["md5"]

        print(f"event-driven e2e: eligible per day {per_day}; orders {_ordered(live_sandbox)}; runs {len(finished)}")
        assert timedelta(days=DAYS) == _clock(live_sandbox) - datetime.fromisoformat(T0.replace("Z", "+00:00"))
    finally:
        for component in killed:
            signal_group(component.process, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                component.process.wait(timeout=10)
            component.log_file.close()
