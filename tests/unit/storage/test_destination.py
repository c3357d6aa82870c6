"""storage/destination.py: where imagery may be stored (checked, and proven writable by a probe object
written and removed, before anything is ordered), and staged writes: nothing incomplete ever carries
its final name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_oneatlas.client.errors import ValidationError
from airflow_provider_oneatlas.storage.destination import (
    download_sink,
    prepare_destination,
    probe_destination,
    staged,
    to_destination,
)
from tests.moto import moto_s3, s3_client

__all__ = ["moto_s3"]  # the fixture, re-used


@pytest.mark.parametrize("form", ["path", "str", "url", "object"])
def test_destination_forms(tmp_path: Path, form: str) -> None:
    value: Any = {
        "path": tmp_path,
        "str": str(tmp_path),
        "url": f"file://{tmp_path}",
        "object": ObjectStoragePath(f"file://{tmp_path}"),
    }[form]
    dest = to_destination(value)
    assert isinstance(dest, ObjectStoragePath) and dest.protocol in ("file", "local")
    assert dest.path.rstrip("/") == str(tmp_path)


def test_object_store_urls_are_kept() -> None:
    dest = to_destination("s3://aws_default@bucket/imagery/")
    assert dest.protocol == "s3" and "bucket" in str(dest)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("relative/path", "relative path"),
        ("", "not a destination"),
        (42, "not a destination"),
        ("::nope", "relative path"),
        ("nosuchstore://bucket/x", "no object store is known"),
        ("a b://x", "no valid URL scheme"),
    ],
)
def test_bad_destinations_name_the_field(value: Any, problem: str) -> None:
    with pytest.raises(ValidationError) as err:
        to_destination(value)
    assert err.value.field == "destination" and problem in str(err.value)
    assert "s3://aws_conn_id@bucket/prefix/" in str(err.value)  # and says what is accepted


def test_prepare_creates_the_folder(tmp_path: Path) -> None:
    root = prepare_destination(tmp_path / "imagery" / "2024-05-01")
    assert (tmp_path / "imagery" / "2024-05-01").is_dir() and root.exists()


def test_prepare_refuses_a_file_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ValidationError) as err:
        prepare_destination(tmp_path / "a-file" / "sub")
    assert err.value.field == "destination"


def test_staged_moves_into_place_only_when_complete(tmp_path: Path) -> None:
    final = ObjectStoragePath(f"file://{tmp_path}/item.zip")
    with staged(final) as sink:
        sink.write(b"half")
        assert not Path(tmp_path / "item.zip").exists()  # not under its final name while written
        assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")]
        sink.write(b" and the rest")
    assert (tmp_path / "item.zip").read_bytes() == b"half and the rest"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["item.zip"]


def test_staged_leaves_nothing_when_the_write_fails(tmp_path: Path) -> None:
    final = ObjectStoragePath(f"file://{tmp_path}/item.zip")
    with pytest.raises(RuntimeError, match="cut"), staged(final) as sink:
        sink.write(b"half")
        raise RuntimeError("cut")
    assert list(tmp_path.iterdir()) == []


def test_a_destination_under_a_file_says_it_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "imagery"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(ValidationError) as caught:
        prepare_destination(str(blocker / "2024"))
    assert str(caught.value) == (
        f"destination: file://{blocker}/2024 cannot be a folder: {blocker} is a file, not a directory "
        "(accepted: a folder the worker can create and write to, on local disk or in an object store)"
    )


def test_an_unwritable_destination_says_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    # The tests may run as root, which no chmod stops: the kernel's answer is what os.access returns.
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(locked) else real_access(p, mode))
    with pytest.raises(ValidationError) as caught:
        prepare_destination(str(locked / "2024"))
    assert str(caught.value) == (
        f"destination: file://{locked}/2024 cannot be written: permission denied on {locked} (the worker runs "
        f"as uid {os.getuid()}) (accepted: a folder the worker can create and write to, on local disk or in an "
        "object store)"
    )


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


def test_download_sink_is_staged_beyond_s3(tmp_path: Path) -> None:
    """Local disk (any scheme but S3) keeps the staged write; S3's sink: tests/unit/storage/test_s3.py."""
    final = ObjectStoragePath(f"file://{tmp_path}/item.zip")
    with pytest.raises(RuntimeError, match="cut"), download_sink(final) as sink:
        sink.write(b"half")
        assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")]
        raise RuntimeError("cut")
    assert list(tmp_path.iterdir()) == []
    with download_sink(final) as sink:
        sink.write(b"whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["item.zip"]
    assert (tmp_path / "item.zip").read_bytes() == b"whole"
