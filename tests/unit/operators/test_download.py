"""OneAtlasDownloadOperator against the sandbox: what it stores, checks and refuses."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_oneatlas.client.errors import ValidationError
from airflow_provider_oneatlas.operators.download import OneAtlasDownloadOperator
from tests.helpers import api_requests, delivered_order


def test_download_to_local_storage(oneatlas_conn: str, context: dict[str, Any], sandbox: Any, tmp_path: Path) -> None:
    order = delivered_order(context, sandbox)
    op = OneAtlasDownloadOperator(task_id="download", order_id=order, destination=f"file://{tmp_path}/imagery/")
    stored = op.execute(context)
    assert len(stored) == 1
    path = Path(stored[0]["path"].removeprefix("file://"))
    truth = requests.get(f"{sandbox.base_url}/_sandbox/items/{stored[0]['item_id']}/file", timeout=10).json()
    assert hashlib.md5(path.read_bytes()).hexdigest() == truth["md5"] == stored[0]["md5"]
    assert zipfile.ZipFile(path).testzip() is None
    assert (path.parent / (path.name + ".md5")).read_text().split()[0] == truth["md5"]
    assert not list(path.parent.glob("*.partial"))
    # A retried task does not fetch it again.
    downloads_before = [r for r in api_requests(sandbox) if r["path"].endswith("/download") and r["method"] == "GET"]
    again = OneAtlasDownloadOperator(task_id="download", order_id=order, destination=str(tmp_path / "imagery")).execute(
        context
    )
    downloads_after = [r for r in api_requests(sandbox) if r["path"].endswith("/download") and r["method"] == "GET"]
    assert again[0].get("skipped") and len(downloads_after) == len(downloads_before)


def test_download_extracts(oneatlas_conn: str, context: dict[str, Any], sandbox: Any, tmp_path: Path) -> None:
    order = delivered_order(context, sandbox)
    stored = OneAtlasDownloadOperator(
        task_id="download", order_id=order["order_id"], destination=str(tmp_path), extract=True
    ).execute(context)
    files = stored[0]["files"]
    assert files and all(Path(f["path"].removeprefix("file://")).stat().st_size == f["size"] for f in files)
    assert any(f["path"].upper().endswith(".XML") for f in files)


def test_download_md5_mismatch_keeps_nothing(
    oneatlas_conn: str, context: dict[str, Any], sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_oneatlas.client import download as download_module
    from airflow_provider_oneatlas.client.errors import ChecksumMismatchError

    order = delivered_order(context, sandbox)
    original = download_module.RemoteFile.from_headers

    def lying(*args: Any, **kwargs: Any) -> Any:
        remote = original(*args, **kwargs)
        return download_module.RemoteFile(**{**remote.__dict__, "md5": "0" * 32})

    monkeypatch.setattr(download_module.RemoteFile, "from_headers", staticmethod(lying))
    with pytest.raises(ChecksumMismatchError):
        OneAtlasDownloadOperator(task_id="download", order_id=order["order_id"], destination=str(tmp_path)).execute(
            context
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("destination", ["relative/path", "", "::nope", 42])
def test_download_rejects_bad_destinations(destination: Any) -> None:
    with pytest.raises(ValidationError) as err:
        OneAtlasDownloadOperator(task_id="d", order_id="abc-123", destination=destination)
    assert err.value.field == "destination"


def test_download_needs_exactly_one_source() -> None:
    with pytest.raises(ValidationError, match="either order_id or item_ids"):
        OneAtlasDownloadOperator(task_id="d", destination="/tmp/x")
