"""``oneatlas_acquisition`` as users run it: day after day, on a real scheduler, against a live catalogue.

The sandbox is a live catalogue: images are published hours to days after they are acquired, and
new ones keep arriving. The DAG is the example as shipped, only its field, destination and
thresholds given as run conf. The runs are the DAG's own schedule (``@daily``), made by the real
scheduler through a backfill over the last days (Airflow 3 runs backfills in the scheduler; the
scheduler's own creation of "today's" run is switched off so that the runs happen in date order):

1. seven consecutive days, D1..D7, one run each, in order;
2. a pause of two days (no run), then the run of today, whose window must cover the pause;
3. a past day (one that bought something) is cleared and re-run: it must order nothing new (it
   takes up its own earlier order; another run or DAG over the same field would skip the images as
   already bought: tests/unit/operators/test_order_dedupe.py).

Every image that became eligible in some run's window (published in the window, acquired within
the maximum age, clear enough, covering enough of the field: computed here from the catalogue, not
with the provider's code) is ordered exactly once; nothing else is ordered; a day with nothing new
skips and spends nothing.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pyproj import Geod
from shapely.geometry import shape

from tests.e2e.stack import Airflow, http_json, running_airflow, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1500)]

DAG_ID = "oneatlas_acquisition"
FIELD: dict[str, Any] = {
    "type": "Polygon",
    "coordinates": [[[1.30, 43.55], [1.40, 43.55], [1.40, 43.62], [1.30, 43.62], [1.30, 43.55]]],
}
THRESHOLDS = {"max_cloud_cover": 20, "min_coverage": 0.5, "max_images": 10, "max_image_age_days": 7}
FIRST_RUN_LOOKBACK_DAYS = 2
GEOD = Geod(ellps="WGS84")


def parse(text: str) -> datetime:
    """An ISO date-time of the API (``Z``, up to nanoseconds) as an aware UTC datetime."""
    text = text.strip().removesuffix("Z").split("+")[0]
    if "." in text:
        whole, fraction = text.split(".", 1)
        text = f"{whole}.{fraction[:6]}"
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def coverage(footprint: dict[str, Any]) -> float:
    """Geodesic share of FIELD covered by ``footprint`` (the test's own computation)."""
    field = shape(FIELD)
    inter = field.intersection(shape(footprint))
    if inter.is_empty:
        return 0.0
    area_field = abs(GEOD.geometry_area_perimeter(field)[0])
    return min(1.0, abs(GEOD.geometry_area_perimeter(inter)[0]) / area_field)


def eligible(features: list[dict[str, Any]], start: datetime, end: datetime) -> dict[str, dict[str, Any]]:
    """The images a run with window ``[start, end)`` must order."""
    found = {}
    oldest = end - timedelta(days=THRESHOLDS["max_image_age_days"])
    for feature in features:
        props = feature["properties"]
        published = parse(props["publicationDate"])
        acquired = parse(props["acquisitionDate"])
        if not start <= published < end or acquired < oldest:
            continue
        if props.get("processingLevel") != "SENSOR" or props.get("cloudCover") is None:
            continue
        if props["cloudCover"] > THRESHOLDS["max_cloud_cover"] or not shape(feature["geometry"]).intersects(
            shape(FIELD)
        ):
            continue
        if coverage(feature["geometry"]) < THRESHOLDS["min_coverage"]:
            continue
        found[props["id"]] = {"published": published, "acquired": acquired, "cloud": props["cloudCover"]}
    return found


@pytest.fixture
def live_sandbox() -> Any:
    """A live catalogue on the real clock, in this process (the test reads its catalogue as the
    oracle); orders are delivered after a few seconds, on their own."""
    from airflow_provider_oneatlas.sandbox.config import SandboxConfig
    from airflow_provider_oneatlas.sandbox.server import SandboxServer

    config = SandboxConfig(processing_after=1.0, delivered_after=3.0, download_size=128 * 1024)
    with SandboxServer(config) as server:
        yield server


@pytest.fixture
def scheduler(airflow_db: Path, tmp_path: Path, live_sandbox: Any) -> Any:
    with running_airflow(
        airflow_db,
        tmp_path,
        live_sandbox.base_url,
        # The runs of the DAG's schedule come from the backfills, in date order; without this the
        # scheduler would also start "today's" run at once, ahead of the earlier days.
        AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False",
    ) as instance:
        yield instance


def runs(airflow: Airflow) -> dict[str, dict[str, Any]]:
    """The DAG's runs by logical date (ISO, UTC)."""
    answer = airflow.api(f"/api/v2/dags/{DAG_ID}/dagRuns?limit=100")
    return {parse(r["logical_date"]).isoformat(): r for r in answer["dag_runs"]}


def task_states(airflow: Airflow, run_id: str) -> dict[str, str | None]:
    answer = airflow.api(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")
    return {t["task_id"]: t["state"] for t in answer["task_instances"]}


def wait_for_runs(airflow: Airflow, days: list[datetime], timeout: float) -> dict[str, dict[str, Any]]:
    wanted = [d.isoformat() for d in days]

    def done() -> dict[str, dict[str, Any]] | None:
        found = runs(airflow)
        states = {d: found.get(d, {}).get("state") for d in wanted}
        failed = [d for d, s in states.items() if s == "failed"]
        if failed:
            details = {d: task_states(airflow, found[d]["dag_run_id"]) for d in failed}
            raise AssertionError(f"runs failed: {details}\n{airflow.diagnostics()}")
        return found if all(s == "success" for s in states.values()) else None

    result: dict[str, dict[str, Any]] = wait_for(f"the runs of {wanted}", done, timeout, airflow, interval=3)
    return result


def sandbox_state(sandbox: Any) -> dict[str, Any]:
    import urllib.request

    with urllib.request.urlopen(f"{sandbox.base_url}/_sandbox/state", timeout=30) as response:
        state: dict[str, Any] = json.loads(response.read())
    return state


def test_daily_runs_buy_every_new_image_exactly_once(scheduler: Airflow, live_sandbox: Any, tmp_path: Path) -> None:
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    consecutive = [today - timedelta(days=9 - k) for k in range(1, 8)]  # D1..D7
    conf = {
        "aoi": FIELD,
        "destination": (tmp_path / "imagery").as_uri() + "/",
        "poll_interval": 1,
        "first_run_lookback_days": FIRST_RUN_LOOKBACK_DAYS,
        **THRESHOLDS,
    }

    def backfill(first: datetime, last: datetime) -> None:
        # SQLite takes one writer at a time: the CLI may meet the scheduler's write ("database is
        # locked"); it is tried again, as a person would.
        for attempt in range(5):
            try:
                create_backfill(first, last)
                return
            except AssertionError as error:
                if "database is locked" not in str(error) or attempt == 4:
                    raise
                time.sleep(3)

    def create_backfill(first: datetime, last: datetime) -> None:
        scheduler.cli(
            "backfill",
            "create",
            "--dag-id",
            DAG_ID,
            "--from-date",
            first.isoformat(),
            "--to-date",
            last.isoformat(),
            "--max-active-runs",
            "1",
            "--dag-run-conf",
            json.dumps(conf),
        )

    scheduler.cli("dags", "unpause", DAG_ID)

    # 1. Seven consecutive days, in order.
    backfill(consecutive[0], consecutive[-1])
    wait_for_runs(scheduler, consecutive, timeout=900)
    # 2. Two days without a run (the scheduler was down), then today's run. (Airflow takes one backfill
    # at a time per DAG: the first is marked complete a little after its last run.)
    wait_for(
        "the first backfill to be marked complete",
        lambda: all(b.get("completed_at") for b in scheduler.api(f"/api/v2/backfills?dag_id={DAG_ID}")["backfills"]),
        120,
        scheduler,
    )
    backfill(today, today)
    final_runs = wait_for_runs(scheduler, [*consecutive, today], timeout=300)

    # The oracle: the catalogue as it stands, read from the sandbox (not through the provider).
    features = live_sandbox.state.catalog.all()
    windows = []
    previous_end = None
    for day in [*consecutive, today]:
        start = previous_end or day - timedelta(days=FIRST_RUN_LOOKBACK_DAYS)
        windows.append((day, start, day))
        previous_end = day
    expected_by_day = {day: eligible(features, start, end) for day, start, end in windows}
    expected = {image for images in expected_by_day.values() for image in images}
    assert expected, "the live catalogue published no eligible image over the field in 9 days: widen the test"
    assert any(not images for images in expected_by_day.values()), "no day without a new image: adjust thresholds"
    assert any(
        info["published"] - info["acquired"] > timedelta(hours=24)
        for images in expected_by_day.values()
        for info in images.values()
    ), "no late publication among the eligible images"

    state = sandbox_state(live_sandbox)
    bought = [product for order in state["orders"] for product in order["productIds"]]
    assert sorted(bought) == sorted(expected), {
        "bought": bought,
        "expected": {d.date().isoformat(): sorted(i) for d, i in expected_by_day.items()},
    }
    assert len(bought) == len(set(bought)), f"an image was bought twice: {bought}"
    assert sorted(d["orderId"] for d in state["debits"]) == sorted(o["id"] for o in state["orders"])

    # A day with nothing new skipped its search and everything after it, and spent nothing.
    for day, images in expected_by_day.items():
        run = final_runs[day.isoformat()]
        states = task_states(scheduler, run["dag_run_id"])
        if images:
            assert states["order"] == "success", (day, states)
        else:
            assert states["search"] == "skipped" and states["order"] == "skipped", (day, states)

    # 3. A past day that bought something, cleared and re-run: nothing new is ordered.
    day = next(d for d in consecutive if expected_by_day[d])
    orders_before = len(state["orders"])
    run_id = final_runs[day.isoformat()]["dag_run_id"]
    scheduler.api("/api/v2/version")  # fetches the API token
    http_json(
        f"{scheduler.api_url}/api/v2/dags/{DAG_ID}/clearTaskInstances",
        {"dry_run": False, "dag_run_id": run_id, "only_failed": False, "reset_dag_runs": True},
        headers={"Authorization": f"Bearer {scheduler.token}"},
    )
    wait_for(
        "the cleared run to start again",
        lambda: runs(scheduler)[day.isoformat()]["state"] != "success" or task_states(scheduler, run_id)["order"],
        60,
        scheduler,
    )
    wait_for_runs(scheduler, [day], timeout=300)
    after = sandbox_state(live_sandbox)
    assert len(after["orders"]) == orders_before, "the re-run ordered again"
    # The re-run is the same run: its order task takes up the order it placed the first time (same
    # customerRef) and lands the imagery again, without buying anything.
    assert task_states(scheduler, run_id)["order"] == "success"
    order_log = "".join(
        p.read_text(errors="replace")
        for p in (scheduler.home / "logs").rglob("*")
        if p.is_file() and "task_id=order" in str(p) and run_id in str(p)
    )
    assert "by an earlier try: not ordering again" in order_log
