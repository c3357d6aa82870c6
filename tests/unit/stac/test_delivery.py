"""``airflow_provider_oneatlas.stac.delivery``: items beside stored deliveries, with a stand-in hook and
local paths (the sandbox tests run the same code through the download operator over HTTP)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_oneatlas.client.errors import ServerError
from airflow_provider_oneatlas.sandbox.dimap import dimap_document
from airflow_provider_oneatlas.stac.delivery import catalogue_feature, write_delivery_items
from tests.stac_validation import validate_item, validate_item_collection
from tests.unit.stac.test_dimap import price_feature

ITEM = "item-1"
ORDER_ID = "0b0f7c1e-0000-4000-8000-000000000001"


class StandInHook:
    """The two hook calls the STAC step makes, answering from memory and counting them."""

    def __init__(self, feature: dict[str, Any] | None, *, fail_search: bool = False) -> None:
        self.feature = feature
        self.fail_search = fail_search
        self.searches: list[dict[str, Any]] = []
        self.orders: list[str] = []

    def search(self, **filters: Any) -> Any:
        self.searches.append(filters)
        if self.fail_search:
            raise ServerError(503, "temporarily unavailable")
        found = [] if self.feature is None else [SimpleNamespace(id=ITEM, raw=self.feature)]
        return SimpleNamespace(features=found)

    def get_order(self, order_id: str) -> Any:
        self.orders.append(order_id)
        delivery = SimpleNamespace(item_id=ITEM, product={"id": "source-image", "productType": "bundle"})
        return SimpleNamespace(id=order_id, price=321.0, deliveries=[delivery])


def delivered_feature() -> dict[str, Any]:
    feature = price_feature()
    feature["properties"]["id"] = ITEM
    return feature


def store_zip(root: Path, feature: dict[str, Any] | None) -> dict[str, Any]:
    root.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        if feature is not None:
            archive.writestr(f"{ITEM}/DIM_{ITEM}.XML", dimap_document(ITEM, 4096, feature))
        archive.writestr(f"{ITEM}/IMG_{ITEM}_R1C1.JP2", b"\0" * 4096)
    (root / f"{ITEM}.zip").write_bytes(buffer.getvalue())
    return {"item_id": ITEM, "path": str(root / f"{ITEM}.zip"), "size": len(buffer.getvalue()), "md5": "a" * 32}


def test_a_stored_zip_gets_its_item_and_the_collection(tmp_path: Path) -> None:
    hook = StandInHook(delivered_feature())
    entry = store_zip(tmp_path, delivered_feature())
    result = write_delivery_items(hook, tmp_path, [entry])

    assert result == {"items": [str(tmp_path / f"{ITEM}.json")], "collection": str(tmp_path / "items.json")}
    assert entry["stac_item"] == str(tmp_path / f"{ITEM}.json")
    assert hook.searches == [{"extra": {"id": ITEM}, "items_per_page": 10}]  # one search, by id
    doc = json.loads((tmp_path / f"{ITEM}.json").read_text())
    validate_item(doc)
    validate_item_collection(json.loads((tmp_path / "items.json").read_text()))
    # No order given: the catalogue names it, and the item keeps its id and price.
    assert hook.orders == [ORDER_ID]
    assert doc["properties"]["oneatlas:order_id"] == ORDER_ID and doc["properties"]["oneatlas:order_credits"] == 321.0
    assert doc["properties"]["oneatlas:source_id"] == "source-image"
    assert doc["properties"]["oneatlas:dataset_name"].startswith("DS_PHR1B_")  # from the zip's DIMAP


def test_an_extracted_delivery_maps_each_file(tmp_path: Path) -> None:
    folder = tmp_path / ITEM / ITEM
    folder.mkdir(parents=True)
    (folder / f"DIM_{ITEM}.XML").write_bytes(dimap_document(ITEM, 10, delivered_feature()))
    (folder / f"IMG_{ITEM}_R1C1.JP2").write_bytes(b"\0" * 100)
    files = [{"path": str(p), "size": p.stat().st_size} for p in sorted(folder.iterdir())]
    entry = {"item_id": ITEM, "path": str(tmp_path / ITEM), "size": 1, "md5": "b" * 32, "files": files}
    order = StandInHook(None).get_order("given-order")
    write_delivery_items(StandInHook(None), tmp_path, [entry], order=order)

    doc = json.loads(Path(entry["stac_item"]).read_text())
    validate_item(doc)
    assert {k: a["href"] for k, a in doc["assets"].items()} == {
        "metadata": str(folder / f"DIM_{ITEM}.XML"),
        "image": str(folder / f"IMG_{ITEM}_R1C1.JP2"),
    }
    assert doc["properties"]["oneatlas:order_id"] == "given-order"  # the given order, not looked up


def test_a_failed_catalogue_search_falls_back_to_the_dimap(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    hook = StandInHook(None, fail_search=True)
    assert catalogue_feature(hook, ITEM) is None
    assert "uses the DIMAP only" in caplog.text
    entry = store_zip(tmp_path, delivered_feature())
    write_delivery_items(hook, tmp_path, [entry])
    doc = json.loads(Path(entry["stac_item"]).read_text())
    validate_item(doc)
    assert doc["properties"]["datetime"] == "2019-07-14T10:52:31.512000Z"  # the DIMAP's acquisition time
    assert "oneatlas:order_id" not in doc["properties"] and hook.orders == []  # no catalogue, no order to read


def test_nothing_to_describe_leaves_an_error_not_a_broken_item(tmp_path: Path) -> None:
    entry = store_zip(tmp_path, None)  # a zip without DIMAP, an item search does not find
    result = write_delivery_items(StandInHook(None), tmp_path, [entry])
    assert result["items"] == [] and "footprint" in entry["stac_error"] and "stac_item" not in entry
    assert not (tmp_path / f"{ITEM}.json").exists()
    assert json.loads((tmp_path / "items.json").read_text()) == {"type": "FeatureCollection", "features": []}
