"""The S3 sink of downloads: concurrent parts, completed only when verified, aborted otherwise.

Real HTTP against the sandbox, a real S3 endpoint (moto server on 127.0.0.1), the download operator
as a task runs it; ListMultipartUploads after each failure: no orphan, no object under the key.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest
import requests

from airflow_provider_oneatlas.client.api import ProductSpec
from airflow_provider_oneatlas.client.errors import ChecksumMismatchError, DownloadError
from airflow_provider_oneatlas.hooks.oneatlas import OneAtlasHook
from airflow_provider_oneatlas.operators.download import OneAtlasDownloadOperator
from airflow_provider_oneatlas.storage import s3 as s3_storage
from tests.conftest import TOULOUSE_FIELD
from tests.moto import moto_s3, s3_client  # noqa: F401 - the moto server fixture

BUCKET = "oneatlas-s3-sink"
SIZE = 20 * 1024 * 1024  # three parts of 8 MiB: more than one part in flight


@pytest.fixture
def sandbox_config() -> dict[str, Any]:
    return {"download_size": SIZE}


@pytest.fixture
def s3(moto_s3: str, monkeypatch: pytest.MonkeyPatch) -> Any:  # noqa: F811
    # Airflow keeps one filesystem per connection id for the process; each test has its own moto.
    monkeypatch.setattr("airflow.sdk.io.store._STORE_CACHE", {})
    # moto's state is per process, not per server: start each test from an empty S3.
    requests.post(f"{moto_s3}/moto-api/reset", timeout=30).raise_for_status()
    # Only the Airflow connection names the endpoint: the sink must take it from there, as s3fs does.
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    client = s3_client(moto_s3)
    client.create_bucket(Bucket=BUCKET)
    return client


def delivered_order(conn_id: str, sandbox: Any) -> tuple[str, str, dict[str, Any]]:
    """(order id, item id, the item's md5 and size as the sandbox knows them)."""
    hook = OneAtlasHook(conn_id)
    image = hook.search(aoi=TOULOUSE_FIELD, processing_level="SENSOR", items_per_page=1).features[0]
    order_id = hook.create_order([ProductSpec(item_id=image.id, aoi=TOULOUSE_FIELD)], customer_ref="s3sink").id
    requests.post(
        f"{sandbox.base_url}/_sandbox/orders/{order_id}/status", json={"status": "delivered"}, timeout=10
    ).raise_for_status()
    item_id = hook.get_order(order_id).deliveries[0].item_id
    assert item_id
    truth = requests.get(f"{sandbox.base_url}/_sandbox/items/{item_id}/file", timeout=60).json()
    return order_id, item_id, truth


def keys(s3: Any) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def uploads(s3: Any) -> list[dict[str, Any]]:
    return list(s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []))


def download(order_id: str, **kwargs: Any) -> list[dict[str, Any]]:
    op = OneAtlasDownloadOperator(
        task_id="download", order_id=order_id, destination=f"s3://aws_moto@{BUCKET}/imagery/", **kwargs
    )
    return op.execute({})


def test_streamed_in_concurrent_parts_and_completed_after_the_md5_check(
    oneatlas_conn: str, sandbox: Any, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    order_id, item_id, truth = delivered_order(oneatlas_conn, sandbox)
    events: list[str] = []
    in_flight = {"now": 0, "most": 0}
    real_download, real_commit = OneAtlasHook.download_item, s3_storage.S3PartSink.commit
    real_part = s3_storage.S3PartSink._upload_part

    def recorded_download(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = real_download(self, *args, **kwargs)  # raises on a size or md5 mismatch
        events.append(f"verified {result.md5}")
        return result

    def recorded_commit(self: Any) -> None:
        events.append("complete")
        real_commit(self)

    def counted_part(self: Any, number: int, body: Any) -> Any:
        in_flight["now"] += 1
        in_flight["most"] = max(in_flight["most"], in_flight["now"])
        try:
            time.sleep(0.2)  # moto answers fast: give the parts time to overlap
            return real_part(self, number, body)
        finally:
            in_flight["now"] -= 1

    monkeypatch.setattr(OneAtlasHook, "download_item", recorded_download)
    monkeypatch.setattr(s3_storage.S3PartSink, "commit", recorded_commit)
    monkeypatch.setattr(s3_storage.S3PartSink, "_upload_part", counted_part)

    (stored,) = download(order_id)

    assert events == [f"verified {truth['md5']}", "complete"]
    assert in_flight["most"] >= 2  # parts went up concurrently
    key = f"imagery/{item_id}.zip"
    assert stored["path"] == f"s3://aws_moto@{BUCKET}/{key}"
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert len(body) == truth["size"] == SIZE and hashlib.md5(body).hexdigest() == truth["md5"]
    # Each part declared its CRC32, as boto3's upload_file does: S3 keeps a checksum of the object.
    assert s3.head_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED").get("ChecksumCRC32")
    # Beside the zip: its md5 sidecar, its STAC item and the run's ItemCollection (stac=True by default).
    assert keys(s3) == sorted([key, key + ".md5", f"imagery/{item_id}.json", "imagery/items.json"])
    assert uploads(s3) == []


def test_a_connection_that_opts_out_of_checksums_gets_none(
    oneatlas_conn: str, sandbox: Any, s3: Any, moto_s3: str, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    # Stores that reject checksum headers are reached with request_checksum_calculation=when_required
    # in the connection's config_kwargs: the sink then declares none, as boto3's upload_file does.
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_MOTO_PLAIN",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {
                    "endpoint_url": moto_s3,
                    "region_name": "us-east-1",
                    "config_kwargs": {"request_checksum_calculation": "when_required"},
                },
            }
        ),
    )
    order_id, item_id, truth = delivered_order(oneatlas_conn, sandbox)
    declared: list[Any] = []
    real_call = s3_storage._Calls.call_s3

    def recorded(self: Any, method: str, **kwargs: Any) -> Any:
        if method in ("create_multipart_upload", "upload_part", "put_object"):
            declared.append(kwargs.get("ChecksumAlgorithm"))
        return real_call(self, method, **kwargs)

    monkeypatch.setattr(s3_storage._Calls, "call_s3", recorded)
    op = OneAtlasDownloadOperator(
        task_id="download", order_id=order_id, destination=f"s3://aws_moto_plain@{BUCKET}/plain/", stac=False
    )
    op.execute({})

    key = f"plain/{item_id}.zip"
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert len(body) == truth["size"] and hashlib.md5(body).hexdigest() == truth["md5"]
    assert len(declared) >= 4 and set(declared) == {None}  # create, three parts: nothing declared
    assert not s3.head_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED").get("ChecksumCRC32")
    assert uploads(s3) == []


def test_md5_mismatch_aborts(oneatlas_conn: str, sandbox: Any, s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_oneatlas.client import download as download_module

    order_id, _, _ = delivered_order(oneatlas_conn, sandbox)
    original = download_module.RemoteFile.from_headers
    created: list[str] = []
    real_send = s3_storage.S3PartSink._send

    def lying(*args: Any, **kwargs: Any) -> Any:
        remote = original(*args, **kwargs)
        return download_module.RemoteFile(**{**remote.__dict__, "md5": "0" * 32})

    def watched_send(self: Any, buffer: Any, length: int) -> None:
        real_send(self, buffer, length)
        created.append(self.upload_id)

    monkeypatch.setattr(download_module.RemoteFile, "from_headers", staticmethod(lying))
    monkeypatch.setattr(s3_storage.S3PartSink, "_send", watched_send)
    with pytest.raises(ChecksumMismatchError):
        download(order_id)
    assert created  # a multipart upload was started (and parts sent) before the check failed
    assert keys(s3) == []  # nothing under the final key, no sidecar
    assert uploads(s3) == []  # and nothing left behind


@pytest.mark.parametrize("sandbox_config", [{"download_size": SIZE, "drop_rate": 1.0}])
def test_a_cut_download_aborts(oneatlas_conn: str, sandbox: Any, s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    order_id, _, _ = delivered_order(oneatlas_conn, sandbox)
    created: list[str] = []
    real_send = s3_storage.S3PartSink._send

    def watched_send(self: Any, buffer: Any, length: int) -> None:
        real_send(self, buffer, length)
        created.append(self.upload_id)

    monkeypatch.setattr(s3_storage.S3PartSink, "_send", watched_send)
    with pytest.raises(DownloadError):
        download(order_id, connections=1)  # every answer is cut: resumes, then gives up
    state = requests.get(f"{sandbox.base_url}/_sandbox/state", timeout=10).json()
    assert state["fault_counts"].get("drop", 0) > 1
    assert created
    assert keys(s3) == [] and uploads(s3) == []


def test_interrupt_aborts(oneatlas_conn: str, sandbox: Any, s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """KeyboardInterrupt (and SystemExit) in the middle: aborted as well."""
    order_id, _, _ = delivered_order(oneatlas_conn, sandbox)
    real_write = s3_storage.S3PartSink.write
    written = {"bytes": 0}

    def interrupted_write(self: Any, data: Any) -> int:
        n = real_write(self, data)
        written["bytes"] += n
        if written["bytes"] > 9 * 1024 * 1024 and self.upload_id:
            raise KeyboardInterrupt
        return n

    monkeypatch.setattr(s3_storage.S3PartSink, "write", interrupted_write)
    with pytest.raises(KeyboardInterrupt):
        download(order_id, connections=1)
    assert keys(s3) == [] and uploads(s3) == []


def test_an_unfinished_upload_left_on_the_key_is_aborted_by_the_next_try(
    oneatlas_conn: str, sandbox: Any, s3: Any
) -> None:
    """What a SIGKILLed try leaves (a multipart upload with a stored part) is swept before uploading;
    another key's upload is not touched. The kill itself: the slow test below."""
    order_id, item_id, truth = delivered_order(oneatlas_conn, sandbox)
    key = f"imagery/{item_id}.zip"
    orphan = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    s3.upload_part(Bucket=BUCKET, Key=key, UploadId=orphan, PartNumber=1, Body=b"x" * (5 * 1024 * 1024))
    other = s3.create_multipart_upload(Bucket=BUCKET, Key=key + "-other")["UploadId"]

    (stored,) = download(order_id)

    assert [u["UploadId"] for u in uploads(s3)] == [other]  # the orphan aborted, ours completed
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert hashlib.md5(body).hexdigest() == truth["md5"] == stored["md5"] and len(body) == truth["size"]


WORKER = textwrap.dedent(
    """
    import sys
    from airflow_provider_oneatlas.operators.download import OneAtlasDownloadOperator

    OneAtlasDownloadOperator(
        task_id="download", order_id=sys.argv[1], destination=sys.argv[2], connections=1
    ).execute({})
    """
)


@pytest.mark.parametrize("sandbox_config", [{"download_size": SIZE, "bandwidth": 3e6}])
def test_a_killed_worker_leaves_an_orphan_the_next_try_aborts(
    oneatlas_conn: str, sandbox: Any, s3: Any, tmp_path: Any
) -> None:
    order_id, item_id, truth = delivered_order(oneatlas_conn, sandbox)
    key = f"imagery/{item_id}.zip"
    destination = f"s3://aws_moto@{BUCKET}/imagery/"
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, order_id, destination],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "worker.log").open("w"),
    )
    try:
        # Kill it once a part of its upload is stored: the worst moment, mid-upload.
        deadline = time.monotonic() + 60
        orphan = None
        while orphan is None and time.monotonic() < deadline and worker.poll() is None:
            for upload in uploads(s3):
                if s3.list_parts(Bucket=BUCKET, Key=key, UploadId=upload["UploadId"]).get("Parts"):
                    orphan = upload["UploadId"]
            time.sleep(0.1)
        assert orphan, (tmp_path / "worker.log").read_text()[-3000:]
        os.kill(worker.pid, signal.SIGKILL)
        assert worker.wait(timeout=30) == -signal.SIGKILL
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert [u["UploadId"] for u in uploads(s3)] == [orphan]  # the kill left it: nothing could clean up
    assert keys(s3) == []

    requests.patch(f"{sandbox.base_url}/_sandbox/config", json={"bandwidth": None}, timeout=10).raise_for_status()
    (stored,) = download(order_id)  # the next try
    assert uploads(s3) == []  # the orphan aborted, ours completed
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert hashlib.md5(body).hexdigest() == truth["md5"] == stored["md5"] and len(body) == truth["size"]
    assert keys(s3) == sorted([key, key + ".md5", f"imagery/{item_id}.json", "imagery/items.json"])
