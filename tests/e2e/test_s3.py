"""The acquisition DAG writing to S3 (moto on 127.0.0.1, never real AWS) through ``ObjectStoragePath``."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from tests.e2e.conftest import FOUND_RANGE, sandbox_get
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
