"""The write probe: a destination is proven writable (an object written and removed through
``ObjectStoragePath``) before anything is bought for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_oneatlas.client.errors import ValidationError
from airflow_provider_oneatlas.storage.destination import probe_destination
from tests.e2e.test_s3 import moto_s3, s3_client

__all__ = ["moto_s3"]  # the fixture, re-used


def test_a_writable_folder_is_created_and_left_clean(tmp_path: Path) -> None:
    root = probe_destination(str(tmp_path / "imagery" / "2024-05-01"))
    assert (tmp_path / "imagery" / "2024-05-01").is_dir()
    assert list((tmp_path / "imagery" / "2024-05-01").iterdir()) == []  # the probe was removed
    assert root.protocol in ("file", "local")


def test_a_folder_below_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file, not a folder")
    with pytest.raises(ValidationError) as error:
        probe_destination(str(tmp_path / "taken" / "imagery"))
    assert error.value.field == "destination"


def test_s3_probe_writes_and_removes_an_object(moto_s3: str) -> None:
    s3 = s3_client(moto_s3)
    s3.create_bucket(Bucket="imagery")
    probe_destination("s3://aws_moto@imagery/fields/north/")
    assert s3.list_objects_v2(Bucket="imagery").get("KeyCount", 0) == 0


def test_a_folder_that_exists_but_takes_no_object_is_refused() -> None:
    # /proc exists and passes the permission check even as root, but takes no new file: only the
    # probe write finds that out.
    with pytest.raises(ValidationError) as error:
        probe_destination("file:///proc/")
    assert error.value.field == "destination" and "is not writable" in str(error.value)
