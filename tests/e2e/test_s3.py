"""The acquisition DAG writing to S3 (moto on 127.0.0.1, never real AWS) through ``ObjectStoragePath``."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import requests

from tests.e2e.conftest import FOUND_RANGE, sandbox_get
from tests.e2e.stack import http_json, running_airflow, wait_for
from tests.moto import moto_s3, s3_client
from tests.stac_validation import validate_item, validate_item_collection

__all__ = ["moto_s3"]  # the fixture, re-used

BUCKET = "oneatlas-imagery"


def test_acquisition_to_s3(run_dag: Any, e2e_sandbox: Any, sandbox_conn: str, moto_s3: str) -> None:
    s3 = s3_client(moto_s3)
    s3.create_bucket(Bucket=BUCKET)

    run = run_dag(
        "oneatlas_acquisition",
        {**FOUND_RANGE, "destination": f"s3://aws_moto@{BUCKET}/imagery/", "poll_interval": 1},
    )

    assert run.state == "success", run.task_states()
    summary = run.xcom("summary")
    (stored,) = summary["objects"]
    item_id = stored["item_id"]
    assert stored["path"].startswith(f"s3://aws_moto@{BUCKET}/imagery/") and stored["path"].endswith(f"/{item_id}.zip")

    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))
    zip_keys = [k for k in keys if k.endswith(".zip")]
    assert len(zip_keys) == 1 and zip_keys[0].startswith("imagery/"), keys
    assert zip_keys[0] + ".md5" in keys
    assert not [k for k in keys if k.endswith(".partial")], keys

    body = s3.get_object(Bucket=BUCKET, Key=zip_keys[0])["Body"].read()
    truth = sandbox_get(e2e_sandbox.base_url, f"/_sandbox/items/{item_id}/file")
    assert len(body) == truth["size"] == stored["size"]
    assert hashlib.md5(body).hexdigest() == truth["md5"] == stored["md5"]

    state = sandbox_get(e2e_sandbox.base_url, "/_sandbox/state")
    assert len(state["orders"]) == 1 and len(state["debits"]) == 1

    # The STAC Item and the run's ItemCollection are on S3 too, their hrefs free of the connection id.
    folder = zip_keys[0].rsplit("/", 1)[0]
    assert f"{folder}/{item_id}.json" in keys and f"{folder}/items.json" in keys
    assert stored["stac_item"] == f"s3://{BUCKET}/{folder}/{item_id}.json"
    item = json.loads(s3.get_object(Bucket=BUCKET, Key=f"{folder}/{item_id}.json")["Body"].read())
    validate_item(item)
    archive = item["assets"]["archive"]
    assert archive["href"] == f"s3://{BUCKET}/{zip_keys[0]}"
    assert archive["file:checksum"] == "d510" + hashlib.md5(body).hexdigest() and archive["file:size"] == len(body)
    assert item["properties"]["oneatlas:dataset_name"]  # the DIMAP was read back from the zip on S3
    collection = json.loads(s3.get_object(Bucket=BUCKET, Key=f"{folder}/items.json")["Body"].read())
    validate_item_collection(collection)
    assert [f["id"] for f in collection["features"]] == [item_id]


def test_a_run_on_a_real_scheduler_and_worker_lands_in_s3(
    airflow_db: Path, tmp_path: Path, sandbox_process: Any, moto_s3: str
) -> None:
    # dag.test() above runs the tasks in this process. Here a LocalExecutor worker runs them: the
    # S3 connection reaches the task only through Airflow (the components get no AWS_ variable).
    # (The zip is smaller than a part: one PutObject. The multipart path and its checksums are
    # tested in tests/unit/storage/test_s3.py.)
    # moto keeps its state per process, not per server: start from an empty S3 whatever ran before.
    requests.post(f"{moto_s3}/moto-api/reset", timeout=30).raise_for_status()
    s3 = s3_client(moto_s3)
    s3.create_bucket(Bucket=BUCKET)
    with running_airflow(
        airflow_db, tmp_path, sandbox_process.base_url, AIRFLOW_CONN_AWS_MOTO=os.environ["AIRFLOW_CONN_AWS_MOTO"]
    ) as airflow:
        conf = {**FOUND_RANGE, "destination": f"s3://aws_moto@{BUCKET}/imagery/", "poll_interval": 1}
        airflow.cli("dags", "unpause", "oneatlas_acquisition")
        airflow.cli("dags", "trigger", "oneatlas_acquisition", "--run-id", "e2e_s3_worker", "--conf", json.dumps(conf))

        # This sandbox never delivers by its clock: deliver the order once it is placed.
        (placed,) = wait_for("the order", lambda: sandbox_process.state["orders"] or None, 240, airflow)
        http_json(f"{sandbox_process.base_url}/_sandbox/orders/{placed['id']}/status", {"status": "delivered"})

        def finished() -> str | None:
            state: str = airflow.api("/api/v2/dags/oneatlas_acquisition/dagRuns/e2e_s3_worker")["state"]
            return state if state in ("success", "failed") else None

        assert wait_for("the run to finish", finished, 300, airflow, interval=2) == "success", airflow.diagnostics()

    (order,) = sandbox_process.state["orders"]
    (item_id,) = order["deliveredItems"]
    key = next(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"] if o["Key"].endswith(f"/{item_id}.zip"))
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    truth = sandbox_get(sandbox_process.base_url, f"/_sandbox/items/{item_id}/file")
    assert len(body) == truth["size"] and hashlib.md5(body).hexdigest() == truth["md5"]
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    folder = key.rsplit("/", 1)[0]
    collection = json.loads(s3.get_object(Bucket=BUCKET, Key=f"{folder}/items.json")["Body"].read())
    assert [f["id"] for f in collection["features"]] == [item_id]
