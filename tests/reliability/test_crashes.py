"""Crashes: a worker or triggerer process really dies (SIGKILL) mid-step, and the step run again in a
fresh process finishes the job without paying twice or leaving anything incomplete under a final name.

Each step runs in a child Python process (``tests/reliability/crash_helpers/``) against a sandbox in
this process, over real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from tests.conftest import TOULOUSE_FIELD, connection_json
from tests.e2e.conftest import md5_file, sandbox_get

ROOT = Path(__file__).resolve().parents[2]
HELPERS = "tests.reliability.crash_helpers"
RUN_ID = "scheduled__2024-06-01T00:00:00+00:00"


class Child:
    """A helper script in a child Python process, spoken to by lines: ``<TAG> <json>`` on its stdout,
    its JSON spec on its stdin once it says ``READY``. Always killed and reaped by ``close()``."""

    def __init__(self, module: str, env: dict[str, str], log_dir: Path) -> None:
        self.module = module
        self.stderr_path = log_dir / f"{module.rsplit('.', 1)[-1]}-{time.monotonic_ns()}.stderr"
        self._stderr: IO[bytes] = self.stderr_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", module],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self.lines: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.seen: list[tuple[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            tag, _, rest = line.rstrip("\n").partition(" ")
            if tag in ("READY", "STARTED", "RESULT", "EVENT"):
                self.lines.put((tag, json.loads(rest) if rest else None))
        self.lines.put(("EOF", None))

    def expect(self, tag: str, timeout: float) -> Any:
        """The payload of the next ``tag`` line; fails with the child's stderr if it never comes."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                got, payload = self.lines.get(timeout=max(0.01, remaining))
            except queue.Empty:
                if remaining <= 0:
                    raise AssertionError(f"{self.module}: no {tag} after {timeout}s\n{self.stderr()}") from None
                continue
            self.seen.append((got, payload))
            if got == tag:
                return payload
            if got == "EOF":
                self.process.wait(timeout=30)
                raise AssertionError(f"{self.module} exited {self.process.returncode} before {tag}:\n{self.stderr()}")

    def send(self, spec: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(spec) + "\n")
        self.process.stdin.flush()

    def sigkill(self) -> None:
        """SIGKILL, as the OOM killer or a lost node does; waits until the process is gone."""
        os.kill(self.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        assert self.process.returncode == -signal.SIGKILL, self.process.returncode

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")[-6000:]

    def close(self) -> None:
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._stderr.close()


@pytest.fixture
def children(tmp_path: Path) -> Iterator[list[Child]]:
    """Every child started by the test; all killed and reaped at the end, pass or fail."""
    started: list[Child] = []
    yield started
    for child in started:
        child.close()


def child_env(base_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["AIRFLOW_HOME"] = os.environ["AIRFLOW_HOME"]
    env["AIRFLOW_CONN_ONEATLAS_DEFAULT"] = connection_json(base_url)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        env.pop(name, None)
    return env


def start(children: list[Child], name: str, base_url: str, tmp_path: Path) -> Child:
    child = Child(f"{HELPERS}.{name}", child_env(base_url), tmp_path)
    children.append(child)
    return child


def wait_until(predicate: Any, timeout: float, what: str, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def a_clear_image(base_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A SENSOR image over the Toulouse field, found through the provider's hook."""
    from airflow_provider_oneatlas.hooks.oneatlas import OneAtlasHook

    monkeypatch.setenv("AIRFLOW_CONN_ONEATLAS_DEFAULT", child_env(base_url)["AIRFLOW_CONN_ONEATLAS_DEFAULT"])
    page = OneAtlasHook().search(
        aoi=TOULOUSE_FIELD, acquisition_date=("2024-01-01", "2024-12-31"), processing_level="SENSOR"
    )
    assert page.features, "the sandbox catalogue has no image over the field in 2024"
    return str(page.features[0].id)


def order_spec(image_id: str) -> dict[str, Any]:
    return {
        "dag_id": "oneatlas_acquisition",
        "task_id": "order",
        "run_id": RUN_ID,
        "image_ids": [image_id],
        "aoi": TOULOUSE_FIELD,
        "max_credits": 5000,
    }


def place_order(base_url: str, image_id: str, monkeypatch: pytest.MonkeyPatch, *, wait: bool) -> dict[str, Any]:
    """An order placed in this process by the order operator (the step before the one under test)."""
    from airflow_provider_oneatlas.operators.order import OneAtlasOrderOperator
    from tests.standins import TaskInstanceStandIn

    monkeypatch.setenv("AIRFLOW_CONN_ONEATLAS_DEFAULT", child_env(base_url)["AIRFLOW_CONN_ONEATLAS_DEFAULT"])
    spec = order_spec(image_id)
    operator = OneAtlasOrderOperator(
        task_id="order",
        image_ids=[image_id],
        aoi=TOULOUSE_FIELD,
        wait_for_completion=wait,
        deferrable=False,
        poll_interval=0.2,
        wait_timeout=120,
    )
    ti = TaskInstanceStandIn(dag_id=spec["dag_id"], task_id="order", run_id=f"setup-{time.time_ns()}")
    result: dict[str, Any] = operator.execute({"ti": ti})  # type: ignore[typeddict-item]
    return result


# -- 1. the worker dies after posting the order, before reading the answer --------------------------


def test_worker_killed_after_order_post_orders_once(
    tmp_path: Path, children: list[Child], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_oneatlas.sandbox.config import SandboxConfig
    from airflow_provider_oneatlas.sandbox.server import SandboxServer

    settings: dict[str, Any] = {"processing_after": 0.5, "delivered_after": 2.0, "download_size": 64 * 1024}
    with SandboxServer(SandboxConfig(**settings, order_response_delay=3.0)) as server:
        base_url = server.base_url
        image_id = a_clear_image(base_url, monkeypatch)
        balance_before = sandbox_get(base_url, "/_sandbox/state")["balance"]

        first = start(children, "order_step", base_url, tmp_path)
        first.expect("READY", 120)
        first.send(order_spec(image_id))
        first.expect("STARTED", 30)
        # The sandbox records (and debits) the order, then holds the answer for 3 s: kill in between.
        orders = wait_until(lambda: sandbox_get(base_url, "/_sandbox/state")["orders"], 60, "the order")
        assert len(orders) == 1
        first.sigkill()
        assert not [tag for tag, _ in first.seen if tag == "RESULT"], "the killed worker read the answer"
        posts = [
            r
            for r in sandbox_get(base_url, "/_sandbox/requests")["requests"]
            if r["method"] == "POST" and r["path"].endswith("/orders")
        ]
        assert len(posts) <= 1, posts  # the killed try never got an answer (a cut answer is not logged)

        server.state.update_config({"order_response_delay": 0.0})
        retry = start(children, "order_step", base_url, tmp_path)
        retry.expect("READY", 120)
        retry.send(order_spec(image_id))
        outcome = retry.expect("RESULT", 120)
        retry.process.wait(timeout=30)
        assert retry.process.returncode == 0, retry.stderr()

        state = sandbox_get(base_url, "/_sandbox/state")
        (order,) = state["orders"]
        assert outcome["result"]["order_id"] == order["id"] == orders[0]["id"]
        assert outcome["xcoms"]["order_id"] == order["id"]
        assert outcome["result"]["customer_ref"] == f"airflow:oneatlas_acquisition:order:{RUN_ID}"
        assert [d["orderId"] for d in state["debits"]] == [order["id"]]
        assert state["balance"] == balance_before - order["price"]
        # The retry took the order up instead of posting again (the killed POST is logged once its
        # held answer is sent into the closed socket, or not at all).
        log = sandbox_get(base_url, "/_sandbox/requests")["requests"]
        assert sum(1 for r in log if r["method"] == "POST" and r["path"].endswith("/orders")) <= 1, (
            "the retry posted a second order"
        )


# -- 2. the worker dies mid-download -----------------------------------------------------------------


def test_worker_killed_mid_download_leaves_no_final_zip(
    tmp_path: Path, children: list[Child], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_oneatlas.sandbox.config import SandboxConfig
    from airflow_provider_oneatlas.sandbox.server import SandboxServer

    settings: dict[str, Any] = {
        "processing_after": 0.2,
        "delivered_after": 0.5,
        "download_size": 8 * 1024 * 1024,
        "bandwidth": 2_000_000.0,
    }
    with SandboxServer(SandboxConfig(**settings)) as server:
        base_url = server.base_url
        order = place_order(base_url, a_clear_image(base_url, monkeypatch), monkeypatch, wait=True)
        assert order["status"] == "delivered"
        (item_id,) = sandbox_get(base_url, "/_sandbox/state")["orders"][0]["deliveredItems"]
        truth = sandbox_get(base_url, f"/_sandbox/items/{item_id}/file")
        assert truth["size"] == 8 * 1024 * 1024
        destination = tmp_path / "imagery"
        final = destination / f"{item_id}.zip"
        spec = {"order_id": order["order_id"], "destination": destination.as_uri() + "/"}

        first = start(children, "download_step", base_url, tmp_path)
        first.expect("READY", 120)
        first.send(spec | {"connections": 1})  # one stream at 2 MB/s: the .partial grows steadily

        def grown_partial() -> Path | None:
            for partial in destination.glob("*.partial") if destination.exists() else []:
                if partial.stat().st_size > 1024 * 1024:
                    return partial
            return None

        partial = wait_until(grown_partial, 60, "a .partial past 1 MiB")
        first.sigkill()
        assert partial.stat().st_size < truth["size"], "the download finished before the kill"
        assert not final.exists(), "an incomplete zip carries the final name"
        assert not (destination / f"{item_id}.zip.md5").exists()
        assert [p.name for p in destination.iterdir()] == [partial.name]
        assert partial.name != final.name and partial.name.endswith(".partial")

        server.state.update_config({"bandwidth": None})
        retry = start(children, "download_step", base_url, tmp_path)
        retry.expect("READY", 120)
        retry.send(spec)
        (stored,) = retry.expect("RESULT", 120)
        retry.process.wait(timeout=30)
        assert retry.process.returncode == 0, retry.stderr()

        assert final.is_file()
        assert final.stat().st_size == truth["size"] == stored["size"]
        assert md5_file(final) == truth["md5"] == stored["md5"]
        sidecar = destination / f"{item_id}.zip.md5"
        assert sidecar.read_text().split() == [truth["md5"], final.name]
        # Whatever the killed try left is only ever under a temporary name, never the final one.
        for leftover in destination.glob("*.partial"):
            assert leftover.name.startswith(f".{item_id}.zip.") and leftover != final


# -- 3. the triggerer restarts while waiting ---------------------------------------------------------


def test_trigger_resumed_after_triggerer_killed(
    tmp_path: Path, children: list[Child], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_oneatlas.sandbox.config import SandboxConfig
    from airflow_provider_oneatlas.sandbox.server import SandboxServer
    from airflow_provider_oneatlas.triggers.oneatlas import OneAtlasOrderTrigger

    settings: dict[str, Any] = {"processing_after": 1.0, "delivered_after": 6.0, "download_size": 64 * 1024}
    with SandboxServer(SandboxConfig(**settings)) as server:
        base_url = server.base_url
        image_id = a_clear_image(base_url, monkeypatch)

        first = start(children, "trigger_step", base_url, tmp_path)
        first.expect("READY", 120)  # imports done: the 6 s below are spent waiting, not importing
        order = place_order(base_url, image_id, monkeypatch, wait=False)
        created = time.monotonic()
        classpath, kwargs = OneAtlasOrderTrigger([order["order_id"]], poll_interval=0.5).serialize()
        spec = {"classpath": classpath, "kwargs": kwargs}
        since = sandbox_get(base_url, "/_sandbox/requests")["next"]
        first.send(spec)
        first.expect("STARTED", 30)

        def polled() -> bool:
            log = sandbox_get(base_url, f"/_sandbox/requests?since={since}")["requests"]
            return any(r["method"] == "GET" and "/orders" in r["path"] for r in log)

        wait_until(polled, 30, "the trigger's first poll")
        time.sleep(max(0.0, 2.0 - (time.monotonic() - created)))
        (before_kill,) = sandbox_get(base_url, "/_sandbox/state")["orders"]  # statuses brought up to date
        first.sigkill()
        assert before_kill["status"] != "delivered", "the order was delivered before the triggerer was killed"
        assert not [tag for tag, _ in first.seen if tag == "EVENT"], first.seen

        # The triggerer restarts and rebuilds the trigger from its serialized kwargs.
        second = start(children, "trigger_step", base_url, tmp_path)
        second.expect("READY", 120)
        second.send(spec)
        event = second.expect("EVENT", 60)
        second.process.wait(timeout=30)
        assert second.process.returncode == 0, second.stderr()

        assert event["status"] == "success", event
        assert event["order_ids"] == [order["order_id"]]
        (delivered,) = event["orders"]
        assert delivered["id"] == order["order_id"] and delivered["status"] == "delivered"
        assert time.monotonic() - created >= 6.0 - 0.5
        assert sandbox_get(base_url, "/_sandbox/state")["orders"][0]["status"] == "delivered"
