"""Soak: many consecutive ``dag.test()`` runs of ``oneatlas_acquisition`` against ONE hostile sandbox.

The sandbox answers 503s, 429s with ``Retry-After``, cuts download bodies, expires tokens every two
seconds and adds latency. Each run buys a different image (its own acquisition window and logical
date) into its own folder. Afterwards the sandbox's books must balance: one order per image, one debit
per order, every stored zip byte-identical to the sandbox's, nothing incomplete under a final name.

The figures are printed and written to ``test-artifacts/soak.json``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SANDBOX_KEY, TOULOUSE_FIELD, connection_json
from tests.e2e.conftest import EXAMPLE_DAGS, DagRunResult, md5_file, sandbox_get

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
DAG_ID = "oneatlas_acquisition"
#: How many consecutive runs; ONEATLAS_SOAK_RUNS may raise it (never below 50 in CI).
RUNS = max(50, int(os.environ.get("ONEATLAS_SOAK_RUNS", "50")))
MIN_SUCCESS_RATE = 0.90

#: The hostile profile, switched on once the images to buy are known.
HOSTILE: dict[str, Any] = {
    "error_rate": 0.10,
    "rate_limit_rate": 0.05,
    "retry_after": 1,
    "drop_rate": 0.08,
    "token_lifetime": 2.0,
    "latency": 0.01,
}
#: Fast orders, small zips: the soak measures robustness, not throughput.
BASE: dict[str, Any] = {"processing_after": 0.2, "delivered_after": 0.8, "download_size": 192 * 1024, "seed": 7}


def _clear_images(base_url: str, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The clear SENSOR images over the field, newest first, found with the provider's own search
    operator (same filters as the DAG) while the sandbox is still well-behaved."""
    from airflow_provider_oneatlas.operators.search import OneAtlasSearchOperator

    conn = {"conn_type": "oneatlas", "host": base_url, "password": SANDBOX_KEY}
    monkeypatch.setenv("AIRFLOW_CONN_ONEATLAS_DEFAULT", json.dumps(conn))
    search = OneAtlasSearchOperator(
        task_id="soak_catalogue",
        aoi=TOULOUSE_FIELD,
        acquisition_date=("2018-01-01", "2026-12-31"),
        processing_level="SENSOR",
        max_cloud_cover=20,
        min_coverage=0.5,
        limit=None,
        include_footprint=False,
    )
    return search.execute({})


def _window(image: dict[str, Any]) -> dict[str, str]:
    """A two-second acquisition window around one image: the run finds that image and no other."""
    acquired = dt.datetime.fromisoformat(str(image["acquisition_date"]).replace("Z", "+00:00"))
    return {
        "start": (acquired - timedelta(seconds=1)).isoformat(),
        "end": (acquired + timedelta(seconds=1)).isoformat(),
    }


def _route(path: str) -> str:
    """A request path with its ids replaced by ``{id}``, to count requests by route."""
    return "/".join("{id}" if len(part) >= 20 and "-" in part else part for part in path.split("/"))


def _failing_exceptions(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every exception a task raises (other than skip and defer), recorded where the task runner
    executes the operator: ``dag.test()`` runs tasks in this process."""
    from airflow.sdk.execution_time import task_runner

    from airflow_provider_oneatlas.version_compat import AirflowSkipException, TaskDeferred

    raised: list[dict[str, Any]] = []
    original = task_runner._execute_task

    def recording(context: Any, ti: Any, log: Any) -> Any:
        try:
            return original(context=context, ti=ti, log=log)
        except (AirflowSkipException, TaskDeferred):
            raise
        except BaseException as exc:
            raised.append(
                {
                    "run_id": ti.run_id,
                    "task_id": ti.task_id,
                    "try_number": ti.try_number,
                    "error": f"{type(exc).__name__}: {exc}"[:500],
                }
            )
            raise

    monkeypatch.setattr(task_runner, "_execute_task", recording)
    return raised


def _run_once(conf: dict[str, Any], logical_date: dt.datetime) -> DagRunResult:
    """One ``dag.test()`` run, parsed afresh (as the e2e ``run_dag`` fixture does).

    The DAG retries tasks twice after a minute; the soak keeps the retries but waits one second.
    """
    from tests.airflow_compat import bundle_dag_bag

    bag = bundle_dag_bag(EXAMPLE_DAGS / f"{DAG_ID}.py", EXAMPLE_DAGS)
    assert not bag.import_errors, bag.import_errors
    dag = bag.dags[DAG_ID]
    for task in dag.tasks:
        assert task.retries == 2, f"{task.task_id}: the DAG no longer sets retries=2"
        task.retry_delay = timedelta(seconds=1)
    started = time.monotonic()
    dr = dag.test(run_conf=conf, logical_date=logical_date)
    state = str(dr.state.value if hasattr(dr.state, "value") else dr.state)
    return DagRunResult(DAG_ID, dr.run_id, state, time.monotonic() - started)


@pytest.mark.timeout(900)
def test_soak_hostile_sandbox(
    example_dags: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow_provider_oneatlas.sandbox.config import SandboxConfig
    from airflow_provider_oneatlas.sandbox.server import SandboxServer

    soak_started = time.monotonic()
    from airflow_provider_oneatlas.client.transport import TOKEN_CACHE

    # Tokens live 2 s from the start: none issued during the catalogue search outlives the profile.
    with SandboxServer(SandboxConfig(**BASE, token_lifetime=HOSTILE["token_lifetime"])) as server:
        base_url = server.base_url
        images = _clear_images(base_url, monkeypatch)
        assert len(images) >= RUNS, f"the sandbox catalogue has only {len(images)} clear images over the field"
        targets = images[:RUNS]
        assert len({i["id"] for i in targets}) == RUNS

        initial_balance = sandbox_get(base_url, "/_sandbox/state")["balance"]
        requests_before = sandbox_get(base_url, "/_sandbox/requests")["next"]
        server.state.update_config(HOSTILE)
        TOKEN_CACHE.clear()
        monkeypatch.setenv("AIRFLOW_CONN_ONEATLAS_DEFAULT", connection_json(base_url))
        raised = _failing_exceptions(monkeypatch)

        runs: list[dict[str, Any]] = []
        first_day = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
        for index, image in enumerate(targets):
            destination = tmp_path / f"run-{index:03d}"
            conf = {
                **_window(image),
                "aoi": TOULOUSE_FIELD,
                "max_images": 1,
                "destination": destination.as_uri() + "/",
                "poll_interval": 1,
            }
            result = _run_once(conf, first_day + timedelta(days=index))
            states = result.task_states()
            record: dict[str, Any] = {
                "index": index,
                "run_id": result.run_id,
                "state": result.state,
                "seconds": round(result.seconds, 2),
                "image_id": image["id"],
                "destination": str(destination),
                "tasks": states,
            }
            if result.state == "success":
                record["searched"] = [s["id"] for s in result.xcom("search")]
                record["objects"] = result.xcom("summary")["objects"]
                record["order_id"] = result.xcom("order", key="order_id")
            else:
                failed = sorted(t for t, s in states.items() if s in ("failed", "upstream_failed"))
                errors = [e["error"] for e in raised if e["run_id"] == result.run_id]
                record["failed_tasks"] = failed
                record["reason"] = errors[-1] if errors else f"no exception recorded; task states {states}"
            runs.append(record)

        state = sandbox_get(base_url, "/_sandbox/state")
        log = [e for e in server.state.requests_since(requests_before) if not e["path"].startswith("/_sandbox")]
        with server.state.lock:
            orders: list[dict[str, Any]] = [
                {
                    "id": o.id,
                    "customer_ref": o.customer_ref,
                    "products": [p.datas.get("id") for p in o.products],
                    "price": o.price,
                }
                for o in sorted(server.state.orders.values(), key=lambda o: o.seq)
            ]

        # -- every run ended with a clear outcome -------------------------------------------------
        successes = [r for r in runs if r["state"] == "success"]
        failures = [r for r in runs if r["state"] != "success"]
        for run in failures:
            assert run["state"] == "failed", f"run {run['index']} ended {run['state']}: {run['tasks']}"
            assert run["reason"] and "no exception recorded" not in run["reason"], run
        task_retries = Counter(e["task_id"] for e in raised)

        # -- each successful run bought the image meant for it, once ------------------------------
        for run in successes:
            assert run["tasks"] == {t: "success" for t in ("search", "order", "wait", "download", "summary")}, run
            assert run["searched"] == [run["image_id"]], run

        # -- exactly one order per image and customerRef, paid exactly once -----------------------
        keys = Counter((tuple(o["products"]), o["customer_ref"]) for o in orders)
        assert all(n == 1 for n in keys.values()), [k for k, n in keys.items() if n > 1]
        by_image = Counter(p for o in orders for p in o["products"])
        assert all(n == 1 for n in by_image.values()), [k for k, n in by_image.items() if n > 1]
        refs = Counter(o["customer_ref"] for o in orders)
        assert all(n == 1 for n in refs.values()), [k for k, n in refs.items() if n > 1]
        assert set(by_image) <= {r["image_id"] for r in runs}
        for run in successes:
            assert by_image[run["image_id"]] == 1, f"run {run['index']}: no order for its image"
        order_ids = {o["id"] for o in orders}
        assert {r["order_id"] for r in successes} <= order_ids
        debits = state["debits"]
        assert sorted(d["orderId"] for d in debits) == sorted(order_ids), "a debit without order or twice"
        assert sum(d["credits"] for d in debits) == -sum(o["price"] for o in orders)
        assert state["balance"] == initial_balance - sum(o["price"] for o in orders)

        # -- stored zips are byte-identical, nothing incomplete under a final name ------------------
        objects_checked = 0
        truths: dict[str, dict[str, Any]] = {}
        for run in successes:
            for obj in run["objects"]:
                item = obj["item_id"]
                truths[item] = truth = sandbox_get(base_url, f"/_sandbox/items/{item}/file")
                path = Path(obj["path"].removeprefix("file://"))
                assert path.is_file(), path
                assert path.stat().st_size == truth["size"] == obj["size"], path
                assert md5_file(path) == truth["md5"] == obj["md5"], path
                sidecar = path.with_name(path.name + ".md5")
                assert sidecar.read_text().split()[0] == truth["md5"], sidecar
                objects_checked += 1
        partials = sorted(str(p) for p in tmp_path.rglob("*.partial"))
        assert not partials, f"incomplete downloads left behind: {partials}"
        for zip_path in tmp_path.rglob("*.zip"):
            item = zip_path.name.removesuffix(".zip")
            truth = truths.get(item) or sandbox_get(base_url, f"/_sandbox/items/{item}/file")
            assert md5_file(zip_path) == truth["md5"], f"{zip_path} is not the complete delivery"

    # -- the figures ----------------------------------------------------------------------------------
    statuses = Counter(e.get("status") for e in log)
    faults = state["fault_counts"]
    reasons = Counter(r["reason"].split(":", 1)[0] + ": " + r["reason"].split(":", 1)[-1][:120] for r in failures)
    figures = {
        "runs": len(runs),
        "successes": len(successes),
        "failures": len(failures),
        "failures_by_reason": dict(reasons),
        "success_rate": round(len(successes) / len(runs), 4),
        "faults_injected": dict(sorted(faults.items())),
        "token_expired_401": statuses.get(401, 0),
        "tokens_issued": sum(1 for e in log if e["path"].endswith("/openid-connect/token") and e.get("status") == 200),
        "api_requests": len(log),
        "api_requests_by_route": dict(Counter(f"{e['method']} {_route(e['path'])}" for e in log).most_common()),
        "client_retried_answers": sum(faults.values()) + statuses.get(401, 0),
        "task_retries": dict(task_retries),
        "orders": len(orders),
        "debited_credits": -sum(d["credits"] for d in state["debits"]),
        "objects_checked": objects_checked,
        "seconds": round(time.monotonic() - soak_started, 1),
        "profile": HOSTILE | BASE,
        "per_run": [{k: r[k] for k in ("index", "state", "seconds", "image_id") if k in r} for r in runs],
        "failed_runs": failures,
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "soak.json").write_text(json.dumps(figures, indent=2, default=str))
    print(f"soak: {figures['runs']} runs, {figures['successes']} succeeded, {figures['failures']} failed")
    print(f"soak: failures by reason: {figures['failures_by_reason'] or 'none'}")
    print(
        f"soak: faults injected: {figures['faults_injected']}, "
        f"tokens issued: {figures['tokens_issued']}, expired tokens refused (401): {figures['token_expired_401']}"
    )
    print(
        f"soak: {figures['api_requests']} API requests, {figures['client_retried_answers']} answers retried "
        f"by the client, task retries: {figures['task_retries'] or 'none'}"
    )
    print(
        f"soak: {figures['orders']} orders, {figures['debited_credits']} credits debited once each, "
        f"{figures['objects_checked']} stored zips md5-checked, {figures['seconds']} s"
    )

    assert len(successes) >= MIN_SUCCESS_RATE * len(runs), figures["failures_by_reason"]
