"""storage/destination.py: where imagery may be stored (checked before anything is ordered), and staged
writes: nothing incomplete ever carries its final name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_oneatlas.client.errors import ValidationError
from airflow_provider_oneatlas.storage.destination import download_sink, prepare_destination, staged, to_destination


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
