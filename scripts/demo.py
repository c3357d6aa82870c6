"""The demo: the ``oneatlas_acquisition`` example DAG end to end against the OneAtlas sandbox.

    bash scripts/dev.sh demo [--destination URL] [--start YYYY-MM-DD] [--end YYYY-MM-DD]

1. prepares an Airflow metadata DB (``airflow db migrate``) in ``.demo/airflow-home``;
2. starts the OneAtlas sandbox in a child process on a free 127.0.0.1 port, with orders delivered
   in seconds, and points the ``oneatlas_default`` connection at it;
3. runs ``airflow dags test oneatlas_acquisition`` (search -> order -> deferred wait -> download)
   for images acquired between ``--start`` and ``--end``;
4. prints the order, what it cost, where the zip landed, and checks the zip byte for byte against
   the sandbox; then the STAC item written beside it and the run's ItemCollection.

Airflow's own output goes to ``.demo/logs/``. Whatever it started is stopped at the end, on error
and on Ctrl-C too. The exit status is 0 only when the imagery landed intact.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import http.client
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / ".demo"
DAG_ID = "oneatlas_acquisition"
SANDBOX_KEY = "oneatlas-sandbox-key"


class DemoError(Exception):
    """Something the user should read: printed without a traceback, exit status 1."""


# -- output -------------------------------------------------------------------------------------------

_COLOR = sys.stdout.isatty() and os.environ.get("NO_COLOR") is None


def _style(text: str, code: str) -> str:
    return f"\033[{code}m{text}\033[0m" if _COLOR else text


def bold(text: str) -> str:
    return _style(text, "1")


def green(text: str) -> str:
    return _style(text, "32")


def red(text: str) -> str:
    return _style(text, "31")


def step(number: int, text: str) -> None:
    print(f"{bold(f'[{number}/4]')} {text}", flush=True)


def detail(label: str, value: Any) -> None:
    print(f"      {label:<12} {value}", flush=True)


# -- helpers ------------------------------------------------------------------------------------------


def sandbox_json(base_url: str, path: str) -> Any:
    """A ``/_sandbox/`` admin document, straight over HTTP (no proxy settings apply)."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        data = response.read()
        if response.status != 200:
            raise DemoError(f"the sandbox answered {response.status} to {path}: {data[:200]!r}")
        return json.loads(data)
    finally:
        connection.close()


@contextmanager
def child(command: list[str], env: dict[str, str], log: IO[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    """A child process in its own process group, whose whole tree is ended on the way out."""
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # noqa: S603
    try:
        yield process
    finally:
        if process.poll() is None:
            for sig, grace in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
                try:
                    os.killpg(process.pid, sig)
                    process.wait(timeout=grace)
                    break
                except ProcessLookupError:
                    break
                except subprocess.TimeoutExpired:
                    continue


def run_logged(command: list[str], env: dict[str, str], log_path: Path, timeout: float) -> int:
    with log_path.open("ab") as log, child(command, env, log) as process:
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise DemoError(f"{' '.join(command[2:4])} did not finish within {timeout:.0f}s; see {log_path}") from None


def airflow_env(home: Path, extra: dict[str, str]) -> dict[str, str]:
    """The demo's Airflow: its own home and DB, the repository's example DAGs, nothing inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
    )
    return env


def to_url(destination: str) -> str:
    if "://" in destination:
        return destination if destination.endswith("/") else destination + "/"
    path = Path(destination).expanduser().resolve()
    return path.as_uri() + "/"


def open_stored(url: str) -> tuple[str, Any]:
    """(shown location, opener) of a stored object: a local path, or an ObjectStoragePath."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        path = Path(unquote(parts.path))
        if not path.is_file():
            raise DemoError(f"nothing was stored at {path}")
        return str(path), path.open
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")
    from airflow.sdk import ObjectStoragePath

    stored = ObjectStoragePath(url)
    if not stored.exists():
        raise DemoError(f"nothing was stored at {url}")
    return url, stored.open


def md5_and_size(opener: Any) -> tuple[str, int]:
    digest = hashlib.md5()  # noqa: S324 - the delivery checksum OneAtlas uses
    size = 0
    with opener("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


# -- the demo -----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bash scripts/dev.sh demo",
        description="Run the oneatlas_acquisition example DAG end to end against the OneAtlas sandbox.",
    )
    parser.add_argument(
        "--destination",
        default=str(DEMO / "imagery"),
        help="folder (path or URL: file:///..., s3://conn_id@bucket/prefix/) for the imagery "
        "(default: .demo/imagery/); a <YYYY-MM-DD>/ folder is added under it",
    )
    parser.add_argument(
        "--start",
        default=None,
        help="a manual run over a fixed period: images acquired from (e.g. 2024-01-01); default: the "
        "scheduled run, which searches the images published since the previous run",
    )
    parser.add_argument("--end", default=None, help="with --start: images acquired until")
    parser.add_argument("--airflow-home", type=Path, default=DEMO / "airflow-home", help="default: .demo/airflow-home")
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed for the DAG run (default: 900)")
    return parser.parse_args(argv)


def demo(args: argparse.Namespace) -> None:
    from airflow_provider_oneatlas.sandbox.config import SandboxConfig
    from airflow_provider_oneatlas.sandbox.server import SandboxProcess

    home: Path = args.airflow_home.resolve()
    logs = DEMO / "logs"
    home.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    destination = to_url(args.destination)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    print(bold("OneAtlas provider demo: the oneatlas_acquisition DAG against the OneAtlas sandbox"))
    detail("Airflow home", home)
    detail("DAGs", ROOT / "example_dags")
    detail("Logs", f"{logs}/")
    print()

    step(1, "Preparing the Airflow metadata DB (airflow db migrate) ...")
    started = time.monotonic()
    migrate_log = logs / f"db-migrate-{stamp}.log"
    code = run_logged([sys.executable, "-m", "airflow", "db", "migrate"], airflow_env(home, {}), migrate_log, 600)
    if code != 0:
        raise DemoError(f"airflow db migrate failed (exit {code}); see {migrate_log}")
    detail("done", f"in {time.monotonic() - started:.1f}s")

    step(2, "Starting the OneAtlas sandbox (a child process on 127.0.0.1) ...")
    # Orders go "processing" after 2 s and are delivered after 12 s: long enough for the sensor to defer.
    config = SandboxConfig(processing_after=2.0, delivered_after=12.0)
    with SandboxProcess(config) as sandbox:
        detail("listening", f"{sandbox.base_url} (pid {sandbox.pid}, API key {SANDBOX_KEY})")
        before = sandbox.state
        connection = json.dumps({"conn_type": "oneatlas", "host": sandbox.base_url, "password": SANDBOX_KEY})

        conf: dict[str, Any] = {"destination": destination, "poll_interval": 2}
        if args.start or args.end:
            logical_date = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
            conf |= {"start": args.start, "end": args.end}
            what = f"a manual run: images acquired {args.start or '...'} .. {args.end or 'now'}"
        else:
            # The run the @daily schedule makes: its logical date is a midnight, and it searches the images
            # published since the previous run (the first run: FIRST_RUN_LOOKBACK_DAYS back). The sandbox's
            # catalogue is live, so the demo runs the most recent day whose window holds a new image.
            logical_date = latest_day_with_news(sandbox.base_url, home)
            conf |= {"first_run_lookback_days": FIRST_RUN_LOOKBACK_DAYS}
            first = logical_date - dt.timedelta(days=FIRST_RUN_LOOKBACK_DAYS)
            window = f"{first:%Y-%m-%d %H:%M} .. {logical_date:%Y-%m-%d %H:%M} UTC"
            what = f"the scheduled run of {logical_date:%Y-%m-%d}: images published {window}"
        day = logical_date.date().isoformat()
        step(3, f"Running {DAG_ID} with `airflow dags test` ({what}) ...")
        run_log = logs / f"{DAG_ID}-{stamp}.log"
        detail("log", run_log)
        started = time.monotonic()
        env = airflow_env(home, {"AIRFLOW_CONN_ONEATLAS_DEFAULT": connection})
        command = [
            sys.executable,
            "-m",
            "airflow",
            "dags",
            "test",
            DAG_ID,
            logical_date.isoformat(),
            "-c",
            json.dumps(conf),
        ]
        code = run_logged(command, env, run_log, args.timeout)
        elapsed = time.monotonic() - started
        if code != 0:
            raise DemoError(f"the DAG run failed (exit {code}) after {elapsed:.0f}s; see {run_log}")
        detail("finished", f"in {elapsed:.0f}s")
        log_text = run_log.read_text(errors="replace")
        deferred = "running trigger in line" in log_text

        step(4, "Checking the result against the sandbox ...")
        after = sandbox.state
        orders = after["orders"]
        if not orders:
            raise DemoError(f"the run found nothing to order ({what}; the search was skipped)")
        if len(orders) != 1:
            raise DemoError(f"expected exactly one order, the sandbox has {len(orders)}: {orders}")
        order = orders[0]
        debits = [d for d in after["debits"] if d["orderId"] == order["id"]]
        debited = -sum(d["credits"] for d in debits)
        items = order["deliveredItems"]
        if order["status"] != "delivered" or not items:
            raise DemoError(f"order {order['id']} is {order['status']}, not delivered")

        for image in ordered_images(home):
            print()
            print(bold("Image ordered") + " (chosen by the search task)")
            detail("id", image["id"])
            detail("acquired", f"{image.get('acquisition_date')} by {image.get('platform')}")
            detail("cloud cover", f"{image.get('cloud_cover')} %")
            if image.get("coverage") is not None:
                detail("AOI covered", f"{image['coverage']:.0%}")

        print()
        print(bold("Order"))
        detail("id", order["id"])
        detail(
            "status",
            order["status"] + (" (the wait sensor deferred; its trigger polled until delivery)" if deferred else ""),
        )
        detail("price", f"{order['price']:g} credits")
        detail(
            "debited",
            f"{debited:g} credits, once ({len(debits)} debit); balance {before['balance']:g} -> {after['balance']:g}",
        )
        ok = len(debits) == 1 and before["balance"] - after["balance"] == order["price"] == debited

        for item_id in items:
            shown, opener = open_stored(f"{destination}{day}/{item_id}.zip")
            md5, size = md5_and_size(opener)
            truth = sandbox_json(sandbox.base_url, f"/_sandbox/items/{item_id}/file")
            matches = md5 == truth["md5"] and size == truth["size"]
            ok = ok and matches
            print()
            print(bold("Imagery") + " (the delivered item, downloaded by the download task)")
            detail("zip", shown)
            detail("size", f"{size:,} bytes")
            detail("md5", md5)
            detail("sandbox md5", f"{truth['md5']}  " + (green("matches") if matches else red("DIFFERS")))
            print("      contents")
            with opener("rb") as stream, zipfile.ZipFile(stream) as archive:
                for info in archive.infolist():
                    print(f"        {info.file_size:>12,}  {info.filename}")
            # What downstream tools read (pystac, stac-fastapi, QGIS): the item beside the zip and
            # the run's ItemCollection, written by the same download task.
            shown_item, item_opener = open_stored(f"{destination}{day}/{item_id}.json")
            with item_opener("rb") as stream:
                item = json.load(stream)
            zip_name = f"{item_id}.zip"
            names_zip = any(a.get("href", "").endswith(zip_name) for a in item.get("assets", {}).values())
            shown_items, items_opener = open_stored(f"{destination}{day}/items.json")
            with items_opener("rb") as stream:
                collection = json.load(stream)
            listed = any(f.get("id") == item.get("id") for f in collection.get("features", []))
            ok = ok and names_zip and listed
            print("      STAC")
            detail(
                "  item",
                f"{shown_item}  ({item.get('properties', {}).get('datetime')}, assets: "
                f"{', '.join(item.get('assets', {}))}; "
                + (green("names the zip") if names_zip else red("NO zip"))
                + ")",
            )
            detail(
                "  run items",
                f"{shown_items}  ({len(collection.get('features', []))} item(s); "
                + (green("lists it") if listed else red("does NOT list it"))
                + ")",
            )
        print()
        if not ok:
            raise DemoError("the imagery or the account does not match what the sandbox delivered")
    print(green(bold("Demo OK")) + f": the imagery landed intact. Sandbox stopped. Airflow log: {run_log}")


#: The first scheduled run (no earlier one) searches the images published this many days back.
FIRST_RUN_LOOKBACK_DAYS = 3


def latest_day_with_news(base_url: str, home: Path) -> dt.datetime:
    """The most recent midnight (UTC, up to today) whose first-run window holds an image the DAG's
    default filters keep, found with the provider's own filtered search against the sandbox."""
    from airflow_provider_oneatlas.client.client import OneAtlasClient
    from airflow_provider_oneatlas.client.config import ClientConfig
    from airflow_provider_oneatlas.client.query import SearchQuery

    # The DAG's own field and default thresholds: parsed here as the DAG processor would.
    os.environ.update(airflow_env(home, {}))
    sys.path.insert(0, str(ROOT / "example_dags"))
    from oneatlas_acquisition import TOULOUSE_FIELD, dag

    params = dag.params
    today = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    with OneAtlasClient(ClientConfig.for_base_url(SANDBOX_KEY, base_url)) as client:
        for back in range(30):
            end = today - dt.timedelta(days=back)
            query = SearchQuery(
                aoi=TOULOUSE_FIELD,
                processing_level="SENSOR",
                publication_date=(end - dt.timedelta(days=FIRST_RUN_LOOKBACK_DAYS), end),
                acquisition_date=(end - dt.timedelta(days=params["max_image_age_days"]), None),
            )
            found = client.search_images(
                query, max_cloud_cover=params["max_cloud_cover"], min_coverage=params["min_coverage"]
            )
            if found.images:
                return end
    raise DemoError("the sandbox published no image the DAG would keep in the last 30 days")


def ordered_images(home: Path) -> list[dict[str, Any]]:
    """The search task's summaries of the images the order task ordered, from the run's XComs."""

    def xcom(task_id: str) -> Any:
        row = db.execute(
            "SELECT value FROM xcom WHERE dag_id = ? AND task_id = ? AND key = 'return_value' "
            "ORDER BY timestamp DESC LIMIT 1",
            (DAG_ID, task_id),
        ).fetchone()
        return json.loads(row[0]) if row else None

    with contextlib.closing(sqlite3.connect(home / "airflow.db")) as db:
        found, order = xcom("search") or [], xcom("order") or {}
    ordered = set(order.get("image_ids") or [])
    return [image for image in found if image["id"] in ordered]


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Killed or hung up: clean up as on Ctrl-C (stop the sandbox and the Airflow child).
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    try:
        demo(args)
    except DemoError as exc:
        print(red(bold("Demo FAILED: ")) + str(exc), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(red("\nInterrupted: everything the demo started was stopped."), file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
