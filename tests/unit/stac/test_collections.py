"""The run's ItemCollection: merging, atomic writes, hrefs, loading back with pystac."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pystac
import pytest

from airflow_provider_oneatlas.stac.collections import (
    merge_item_collection,
    public_href,
    write_atomically,
    write_item_collection,
)
from tests.stac_validation import validate_item_collection
from tests.unit.stac.test_items import zip_item


def item_doc(item_id: str) -> dict[str, Any]:
    item = zip_item()
    item.id = item_id
    return item.to_dict(transform_hrefs=False)


class FakeRemotePath:
    protocol = "s3"
    path = "bucket/imagery/x.zip"

    def __str__(self) -> str:
        return "s3://aws_default@bucket/imagery/x.zip"


def test_public_href_drops_the_connection_id() -> None:
    assert public_href(Path("/data/x.zip")) == "/data/x.zip"  # pathlib: no protocol, str() is the path
    assert public_href(FakeRemotePath()) == "s3://bucket/imagery/x.zip"


def test_merge_replaces_items_of_the_same_id() -> None:
    first = merge_item_collection(None, [item_doc("a"), item_doc("b")])
    again = merge_item_collection(first, [item_doc("b"), item_doc("c")])
    assert [f["id"] for f in again["features"]] == ["a", "b", "c"]
    assert again["type"] == "FeatureCollection"


def test_write_merge_and_load_with_pystac(tmp_path: Path) -> None:
    path = tmp_path / "items.json"
    write_item_collection(path, [item_doc("a")])
    write_item_collection(path, [item_doc("b"), item_doc("a")])
    doc = json.loads(path.read_text())
    validate_item_collection(doc)
    loaded = pystac.ItemCollection.from_file(str(path))
    assert sorted(item.id for item in loaded) == ["a", "b"]
    assert loaded.items[0].assets["archive"].href == "/data/imagery/item-1.zip"
    assert not list(tmp_path.glob("*.partial"))


def test_a_concurrent_writer_is_merged_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another task overwrites the file between our write and our read-back: we merge once more."""
    from airflow_provider_oneatlas.stac import collections

    path = tmp_path / "items.json"
    real_write = collections.write_atomically
    calls = []

    def racing_write(target: Any, data: bytes) -> None:
        real_write(target, data)
        calls.append(target)
        if len(calls) == 1:  # the other task's write lands just after ours, without our item
            real_write(target, json.dumps(merge_item_collection(None, [item_doc("theirs")])).encode())

    monkeypatch.setattr(collections, "write_atomically", racing_write)
    write_item_collection(path, [item_doc("ours")])
    assert len(calls) == 2
    assert sorted(f["id"] for f in json.loads(path.read_text())["features"]) == ["ours", "theirs"]


def test_write_atomically_leaves_nothing_on_failure(tmp_path: Path) -> None:
    class Boom(Exception):
        pass

    class Exploding:
        def __init__(self, inner: Path) -> None:
            self.inner = inner
            self.parent = self
            self.name = inner.name

        def __truediv__(self, name: str) -> Any:
            target = self.inner.parent / name

            class Partial:
                def open(self, mode: str) -> Any:
                    return target.open(mode)

                def rename(self, final: Any) -> None:
                    raise Boom

                def unlink(self) -> None:
                    target.unlink()

            return Partial()

    with pytest.raises(Boom):
        write_atomically(Exploding(tmp_path / "items.json"), b"{}")
    assert list(tmp_path.iterdir()) == []
