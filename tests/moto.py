"""A moto S3 server on 127.0.0.1 (never real AWS) for tests that write through ``ObjectStoragePath``;
kept out of ``tests/e2e`` so that unit tests can use it without importing the end-to-end setup."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def forget_s3_filesystems() -> None:
    """Each moto server has its own port: drop the S3 filesystems this process keeps per connection
    (Airflow's object-store cache by conn id, s3fs's instance cache), or a later test would reach a
    server already stopped."""
    import contextlib

    with contextlib.suppress(ImportError, AttributeError):
        from airflow.sdk.io import store

        store._STORE_CACHE.clear()
    with contextlib.suppress(ImportError):
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def moto_s3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """A moto S3 server on a free loopback port; every AWS client of this process is pointed at it."""
    from moto.server import ThreadedMotoServer

    # Nothing of the machine's AWS setup may leak in: no credentials, profiles, config files or
    # metadata service; and any client without an explicit endpoint still lands on moto.
    for name in list(os.environ):
        if name.startswith("AWS_") or name.startswith("AIRFLOW_CONN_AWS"):
            monkeypatch.delenv(name)
    empty = tmp_path / "aws-empty"
    empty.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    forget_s3_filesystems()
    try:
        host, port = server.get_host_and_port()
        assert host == "127.0.0.1" and port > 0
        endpoint = f"http://127.0.0.1:{port}"
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        monkeypatch.setenv(
            "AIRFLOW_CONN_AWS_MOTO",
            json.dumps(
                {
                    "conn_type": "aws",
                    "login": "testing",
                    "password": "testing",
                    "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
                }
            ),
        )
        yield endpoint
    finally:
        server.stop()
        forget_s3_filesystems()


def s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
