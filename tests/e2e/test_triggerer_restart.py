"""The triggerer dies (SIGKILL) while ``oneatlas_acquisition`` waits for its order; a new one takes over.

Same real Airflow as ``test_scheduler.py`` (scheduler, triggerer, DAG processor and API server, each
its own process group, LocalExecutor on sqlite) and the sandbox in a child process. Once the ``wait``
sensor is deferred and its trigger has polled the order listing at least once, the triggerer's whole
process group is SIGKILLed: no clean shutdown, the trigger row still names the dead triggerer. The
order is delivered while no triggerer runs; a new triggerer must adopt the orphaned trigger (once the
dead one's heartbeat is older than ``[triggerer] triggerer_health_check_threshold``), see the order
delivered and resume the task: without a retry, without a second order or debit, with the zip intact.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import FOUND_RANGE, md5_file
from tests.e2e.stack import Airflow, Component, http_json, signal_group, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

RUN_ID = "e2e_triggerer_restart"
#: From the new triggerer's start to the run's success: the orphaned trigger is adopted only after
#: the dead triggerer's last heartbeat is 30 s old (the default health check threshold).
RESUME_SECONDS = 240
#: From triggering the run to the sensor's deferral and its first poll from the triggerer.
DEFER_SECONDS = 240
LISTING = "/api/v1/orders"


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group ``pgid``, from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so split after the last ")".
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) >= 3 and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def _requests_since(base_url: str, index: int) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = http_json(f"{base_url}/_sandbox/requests?since={index}")["requests"]
    return entries


def test_a_new_triggerer_resumes_the_wait_after_a_sigkill(
    airflow: Airflow,
    sandbox_process: Any,
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    destination = tmp_path / "imagery"
    run_conf = {**FOUND_RANGE, "destination": destination.as_uri() + "/", "poll_interval": 1}
    run_path = f"/api/v2/dags/oneatlas_acquisition/dagRuns/{RUN_ID}"
    killed: list[Component] = []  # out of airflow.components (check_alive would fail on them), still logged

    def diagnostics() -> str:
        dead = "\n".join(f"----- {c.name} (killed, {c.log_path}) -----\n{c.log(3000)}" for c in killed)
        return f"{dead}\n{airflow.diagnostics()}\n----- sandbox -----\n{sandbox_process.output[-2000:]}"

    def task_instance(task_id: str) -> dict[str, Any]:
        ti: dict[str, Any] = airflow.api(f"{run_path}/taskInstances/{task_id}")
        return ti

    try:
        airflow.cli("dags", "unpause", "oneatlas_acquisition")
        airflow.cli("dags", "trigger", "oneatlas_acquisition", "--run-id", RUN_ID, "--conf", json.dumps(run_conf))

        # 1. The sensor defers, and the first triggerer's trigger polls the order listing.
        wait_for(
            "the wait sensor to defer", lambda: task_instance("wait").get("state") == "deferred", DEFER_SECONDS, airflow
        )
        deferred_at = http_json(f"{sandbox_process.base_url}/_sandbox/requests?since=0")["next"]
        orders = sandbox_process.state["orders"]
        assert len(orders) == 1, orders
        order_id = orders[0]["id"]

        wait_logs = airflow.home / "logs" / "dag_id=oneatlas_acquisition" / f"run_id={RUN_ID}" / "task_id=wait"

        def polled() -> bool:
            listed = any(
                e["method"] == "GET" and e["path"] == LISTING and e["status"] == 200
                for e in _requests_since(sandbox_process.base_url, deferred_at)
            )
            # ... and the trigger logged what it saw (so its log exists before the kill).
            logged = any(
                f"OneAtlas order {order_id} is" in p.read_text(errors="replace")
                for p in wait_logs.glob("attempt=1.log.trigger.*.log")
            )
            return listed and logged

        wait_for("the trigger to poll the order listing", polled, DEFER_SECONDS, airflow, interval=0.5)
        assert sandbox_process.state["orders"][0]["status"] in ("ordered", "processing"), diagnostics()
        assert task_instance("wait")["state"] == "deferred", diagnostics()

        # 2. SIGKILL the triggerer's whole process group: no clean shutdown, no trigger handed back.
        (triggerer,) = [c for c in airflow.components if c.name == "triggerer"]
        members = _group_members(triggerer.process.pid)
        assert triggerer.process.pid in members, (members, diagnostics())
        airflow.components.remove(triggerer)
        killed.append(triggerer)
        signal_group(triggerer.process, signal.SIGKILL)
        returncode = triggerer.process.wait(timeout=30)
        assert returncode == -signal.SIGKILL, (returncode, diagnostics())
        deadline = time.monotonic() + 30
        while _group_members(triggerer.process.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _group_members(triggerer.process.pid), (_group_members(triggerer.process.pid), diagnostics())
        killed_at = http_json(f"{sandbox_process.base_url}/_sandbox/requests?since=0")["next"]

        # 3. OneAtlas delivers while no triggerer runs: nobody notices, the task stays deferred.
        http_json(f"{sandbox_process.base_url}/_sandbox/orders/{order_id}/status", {"status": "delivered"})
        time.sleep(3)
        assert task_instance("wait")["state"] == "deferred", diagnostics()
        late = [e for e in _requests_since(sandbox_process.base_url, killed_at) if e["path"].startswith(LISTING)]
        assert not late, (late, diagnostics())

        # 4. A new triggerer adopts the orphaned trigger, which sees the delivery; the run resumes.
        airflow.start("triggerer-2", "triggerer", "--skip-serve-logs")

        def finished() -> str | None:
            state: str = airflow.api(run_path)["state"]
            return state if state in ("success", "failed") else None

        try:
            final = wait_for("the acquisition run to finish", finished, RESUME_SECONDS, airflow, interval=2)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{diagnostics()}") from None
        tis = {t: task_instance(t) for t in ("search", "order", "wait", "download", "summary")}
        states = {t: ti.get("state") for t, ti in tis.items()}
        assert final == "success", (states, diagnostics())
        assert set(states.values()) == {"success"}, (states, diagnostics())

        # The wait resumed, it was not retried: one try, no earlier try in the history.
        assert tis["wait"]["try_number"] == 1, (tis["wait"], diagnostics())
        tries = airflow.api(f"{run_path}/taskInstances/wait/tries")["task_instances"]
        assert [t["try_number"] for t in tries] == [1], (tries, diagnostics())
        # The new triggerer is the one that polled after the kill.
        resumed = [e for e in _requests_since(sandbox_process.base_url, killed_at) if e["path"] == LISTING]
        assert resumed, diagnostics()
        # Two triggerer jobs ran the trigger (its logs are ``attempt=1.log.trigger.<triggerer job id>.log``):
        # the killed one saw the order undelivered, only the new one saw it delivered.
        trigger_logs = {
            int(found.group(1)): p.read_text(errors="replace")
            for p in wait_logs.glob("attempt=1.log.trigger.*.log")
            if (found := re.fullmatch(r"attempt=1\.log\.trigger\.(\d+)\.log", p.name))
        }
        assert len(trigger_logs) == 2, (sorted(trigger_logs), diagnostics())
        first_job, second_job = sorted(trigger_logs)
        assert f"OneAtlas order {order_id} is" in trigger_logs[first_job], trigger_logs[first_job]
        assert f"OneAtlas order {order_id} is delivered" not in trigger_logs[first_job], trigger_logs[first_job]
        assert f"OneAtlas order {order_id} is delivered" in trigger_logs[second_job], trigger_logs[second_job]

        # Exactly one order, delivered, paid once.
        state = sandbox_process.state
        assert [o["id"] for o in state["orders"]] == [order_id], state["orders"]
        assert state["orders"][0]["status"] == "delivered", state["orders"]
        assert [d["orderId"] for d in state["debits"]] == [order_id], state["debits"]
        (item_id,) = state["orders"][0]["deliveredItems"]

        # The zip landed intact.
        zips = list(destination.glob(f"*/{item_id}.zip"))
        assert len(zips) == 1, list(destination.rglob("*"))
        truth = http_json(f"{sandbox_process.base_url}/_sandbox/items/{item_id}/file")
        assert zips[0].stat().st_size == truth["size"]
        assert md5_file(zips[0]) == truth["md5"]
        assert time.monotonic() - started < DEFER_SECONDS + RESUME_SECONDS + 60
    finally:
        # The fixture stops (and reaps) airflow.components; the killed triggerer is ours to reap.
        for component in killed:
            signal_group(component.process, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                component.process.wait(timeout=10)
            component.log_file.close()
