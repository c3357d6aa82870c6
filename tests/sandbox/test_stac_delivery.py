"""Deliveries as STAC, end to end against the sandbox: the DIMAP in the zip, the items the download
operator writes beside what it stores, and the run's ItemCollection read back with pystac."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pystac
import pytest

from airflow_provider_oneatlas.operators.download import OneAtlasDownloadOperator
from airflow_provider_oneatlas.stac.dimap import parse_dimap
from airflow_provider_oneatlas.stac.items import md5_of_multihash
from tests.sandbox.conftest import Api, order_body, product
from tests.stac_validation import validate_item, validate_item_collection


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def catalogue_feature(api: Api, item_id: str) -> dict[str, Any]:
    answer = api.post("/api/v1/opensearch", json={"id": item_id})
    assert answer.status_code == 200, answer.text
    (feature,) = answer.json()["features"]
    return dict(feature)


def delivered_order(api: Api, *products: dict[str, Any]) -> dict[str, Any]:
    order = api.order(order_body(products=list(products) or [product()]) if products else None)
    return api.wait_status(order["id"], {"delivered"})


class OutletEvents:
    """``context["outlet_events"]`` as Airflow gives it: an accessor per asset with an ``extra``."""

    def __init__(self) -> None:
        self.by_uri: dict[str, SimpleNamespace] = {}

    def __getitem__(self, asset: Any) -> SimpleNamespace:
        return self.by_uri.setdefault(asset.uri, SimpleNamespace(extra=None))


def test_the_delivered_dimap_describes_the_delivered_item(api: Api) -> None:
    """The zip's DIM_*.XML carries what the catalogue says of the delivered item."""
    order = delivered_order(api, product(productType="pansharpened", radiometricProcessing="DISPLAY"))
    url = order["deliveries"][0]["_links"]["download"]["href"]
    item_id = url.rsplit("/", 2)[-2]
    answer = api.get(url)
    assert answer.status_code == 200
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        names = archive.namelist()
        meta = parse_dimap(archive.read(f"{item_id}/DIM_{item_id}.XML"))
    props = catalogue_feature(api, item_id)["properties"]
    assert meta.dataset_name == props["parentIdentifier"]
    assert meta.acquired is not None and meta.acquired.isoformat().startswith(props["acquisitionDate"][:19])
    assert meta.cloud_cover == pytest.approx(props["cloudCover"])
    assert meta.incidence_angle == pytest.approx(props["incidenceAngle"])
    assert meta.azimuth_angle == pytest.approx(props["azimuthAngle"])
    assert meta.sun_azimuth == pytest.approx(props["illuminationAzimuthAngle"])
    assert meta.sun_elevation == pytest.approx(props["illuminationElevationAngle"])
    assert meta.processing_level == props["processingLevel"] == "ORTHO"
    assert meta.product_type == "pansharpened" and meta.spectral_processing == "PMS"
    assert meta.radiometric_processing == "DISPLAY" and meta.bits == 8
    assert meta.platform == props["platform"] and len(meta.bands) == 4
    assert meta.footprint is not None and meta.footprint["type"] == "Polygon"
    assert [f"{item_id}/{name}" for name in meta.data_files] == [n for n in names if n.endswith(".JP2")]


def assert_every_stored_object_is_found(root: Path, collection: pystac.ItemCollection) -> None:
    """Every file the download stored is an asset of an item, and its bytes match the item's record."""
    hrefs: dict[str, pystac.Asset] = {}
    for item in collection:
        for asset in item.assets.values():
            hrefs[asset.href] = asset
    stored = {
        str(p)
        for p in root.rglob("*")
        if p.is_file() and not p.name.endswith((".json", ".md5")) and not p.name.startswith(".")
    }
    assert stored and stored == set(hrefs), (stored, set(hrefs))
    for href, asset in hrefs.items():
        data = Path(href).read_bytes()
        assert len(data) == asset.extra_fields["file:size"]
        if "file:checksum" in asset.extra_fields:
            assert md5(data) == md5_of_multihash(asset.extra_fields["file:checksum"])


def test_download_writes_valid_items_and_the_runs_item_collection(
    api: Api, oneatlas_conn: str, context: Any, tmp_path: Path
) -> None:
    from airflow.sdk import Asset

    order = delivered_order(api, product(), product(productType="pansharpened", radiometricProcessing="DISPLAY"))
    root = tmp_path / "imagery"
    asset = Asset("oneatlas://imagery/test")
    context = {**context, "outlet_events": OutletEvents()}
    op = OneAtlasDownloadOperator(task_id="download", order_id=order["id"], destination=str(root), outlets=[asset])
    stored = op.execute(context)

    assert len(stored) == 2
    for entry in stored:
        item_path = Path(entry["stac_item"])
        assert item_path == root / f"{entry['item_id']}.json"
        doc = json.loads(item_path.read_text())
        validate_item(doc)
        truth = api.admin("GET", f"/items/{entry['item_id']}/file").json()
        assert doc["assets"]["archive"]["file:checksum"] == "d510" + truth["md5"]
        assert doc["assets"]["archive"]["file:size"] == truth["size"]
        props = doc["properties"]
        assert props["oneatlas:order_id"] == order["id"] and props["oneatlas:order_credits"] == order["price"]
        feature = catalogue_feature(api, entry["item_id"])
        assert props["oneatlas:dataset_name"] == feature["properties"]["parentIdentifier"]
        assert props["datetime"][:19] == feature["properties"]["acquisitionDate"][:19]
        assert props["eo:cloud_cover"] == feature["properties"]["cloudCover"]
    product_types = sorted(
        json.loads(Path(e["stac_item"]).read_text())["properties"]["oneatlas:product_type"] for e in stored
    )
    assert product_types == ["bundle", "pansharpened"]

    collection_doc = json.loads((root / "items.json").read_text())
    validate_item_collection(collection_doc)
    collection = pystac.ItemCollection.from_file(str(root / "items.json"))
    assert sorted(i.id for i in collection) == sorted(e["item_id"] for e in stored)
    assert_every_stored_object_is_found(root, collection)

    extra = context["outlet_events"][asset].extra
    assert extra["stac_items"] == [e["stac_item"] for e in stored]
    assert [o["stac_item"] for o in extra["objects"]] == extra["stac_items"]

    # A retried task skips the download, writes the items again, and the collection holds each once.
    again = OneAtlasDownloadOperator(task_id="download", order_id=order["id"], destination=str(root)).execute(context)
    assert all(e.get("skipped") for e in again)
    assert sorted(i.id for i in pystac.ItemCollection.from_file(str(root / "items.json"))) == sorted(
        e["item_id"] for e in stored
    )


def test_extracted_delivery_lists_each_file(api: Api, oneatlas_conn: str, context: Any, tmp_path: Path) -> None:
    order = delivered_order(api)
    stored = OneAtlasDownloadOperator(
        task_id="download", order_id=order["id"], destination=str(tmp_path), extract=True
    ).execute(context)
    (entry,) = stored
    doc = json.loads(Path(entry["stac_item"]).read_text())
    validate_item(doc)
    assert set(doc["assets"]) == {"metadata", "image"}
    assert doc["assets"]["image"]["type"] == "image/jp2" and "data" in doc["assets"]["image"]["roles"]
    assert doc["assets"]["metadata"]["roles"] == ["metadata"]
    validate_item_collection(json.loads((tmp_path / "items.json").read_text()))
    collection = pystac.ItemCollection.from_file(str(tmp_path / "items.json"))
    assert_every_stored_object_is_found(tmp_path, collection)
    # Each extracted file is byte for byte the zip's member, as the API serves the zip.
    url = order["deliveries"][0]["_links"]["download"]["href"]
    with zipfile.ZipFile(io.BytesIO(api.get(url).content)) as archive:
        members = {name.rsplit("/", 1)[-1]: md5(archive.read(name)) for name in archive.namelist()}
    for asset in collection.items[0].assets.values():
        assert md5(Path(asset.href).read_bytes()) == members[Path(asset.href).name]


def test_items_by_id_find_their_order(api: Api, oneatlas_conn: str, context: Any, tmp_path: Path) -> None:
    """Without an order id, the catalogue feature names the order, whose id and price the item keeps."""
    order = delivered_order(api)
    item_id = order["deliveries"][0]["_links"]["download"]["href"].rsplit("/", 2)[-2]
    (entry,) = OneAtlasDownloadOperator(task_id="download", item_ids=[item_id], destination=str(tmp_path)).execute(
        context
    )
    doc = json.loads(Path(entry["stac_item"]).read_text())
    validate_item(doc)
    assert doc["properties"]["oneatlas:order_id"] == order["id"]
    assert doc["properties"]["oneatlas:order_credits"] == order["price"]


def test_stac_can_be_turned_off(api: Api, oneatlas_conn: str, context: Any, tmp_path: Path) -> None:
    order = delivered_order(api)
    (entry,) = OneAtlasDownloadOperator(
        task_id="download", order_id=order["id"], destination=str(tmp_path), stac=False
    ).execute(context)
    assert "stac_item" not in entry
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{entry['item_id']}.zip", f"{entry['item_id']}.zip.md5"]


def test_search_results_as_stac(api: Api, oneatlas_conn: str, context: Any, tmp_path: Path) -> None:
    from airflow_provider_oneatlas.operators.search import OneAtlasSearchOperator
    from tests.conftest import TOULOUSE_FIELD

    target = tmp_path / "search" / "items.json"
    op = OneAtlasSearchOperator(
        task_id="search", aoi=TOULOUSE_FIELD, processing_level="SENSOR", limit=3, stac_items=str(target)
    )
    summaries = op.execute(context)
    assert len(summaries) == 3
    assert context["ti"].xcoms["stac_items"] == str(target)
    doc = json.loads(target.read_text())
    validate_item_collection(doc)
    collection = pystac.ItemCollection.from_file(str(target))
    assert [item.id for item in collection] == [s["id"] for s in summaries]  # same images, same order
    for item, summary in zip(collection, summaries, strict=True):
        assert item.properties["eo:cloud_cover"] == summary["cloud_cover"]
        assert item.properties["processing:level"] == "SENSOR"
        for key, role in (("quicklook", "overview"), ("thumbnail", "thumbnail")):
            asset = item.assets[key]
            assert asset.roles == [role]
            answer = api.get(asset.href)  # the API's own link: it needs the bearer token
            assert answer.status_code == 200 and answer.headers["content-type"].startswith("image/")


def test_search_stac_destination_is_checked_when_the_dag_is_parsed() -> None:
    from airflow_provider_oneatlas.client.errors import ValidationError
    from airflow_provider_oneatlas.operators.search import OneAtlasSearchOperator

    with pytest.raises(ValidationError, match=r"^stac_items: .*relative path"):
        OneAtlasSearchOperator(task_id="search", stac_items="relative/items.json")


def test_a_delivery_nothing_describes_is_kept_without_an_item(
    api: Api, oneatlas_conn: str, context: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No DIMAP in the zip and no catalogue answer: the verified zip stays, the entry says why."""
    from airflow_provider_oneatlas.hooks.oneatlas import OneAtlasHook
    from airflow_provider_oneatlas.stac import delivery

    order = delivered_order(api)
    monkeypatch.setattr(delivery, "read_dimap_from_zip", lambda source: None)
    monkeypatch.setattr(OneAtlasHook, "search", lambda self, **filters: SimpleNamespace(features=()))
    (entry,) = OneAtlasDownloadOperator(task_id="download", order_id=order["id"], destination=str(tmp_path)).execute(
        context
    )
    assert "stac_item" not in entry and "footprint" in entry["stac_error"]
    assert (tmp_path / f"{entry['item_id']}.zip").is_file()
    assert json.loads((tmp_path / "items.json").read_text())["features"] == []


def test_stac_must_be_a_boolean() -> None:
    from airflow_provider_oneatlas.client.errors import ValidationError

    with pytest.raises(ValidationError, match=r"^stac: 'yes' is not True or False"):
        OneAtlasDownloadOperator(task_id="d", order_id="abc-123", destination="/tmp/x", stac="yes")  # type: ignore[arg-type]


def test_cog_of_a_real_jpeg2000_delivery(
    api: Api, sandbox: Any, oneatlas_conn: str, context: Any, tmp_path: Path
) -> None:
    """The sandbox serves a delivery whose image is a real JPEG 2000 over the delivered footprint:
    cog=True adds a valid Cloud-Optimized GeoTIFF of the same pixels to the item."""
    import rasterio
    from rio_cogeo.cogeo import cog_validate
    from shapely.geometry import shape

    from airflow_provider_oneatlas.sandbox.dimap import dimap_document
    from tests.unit.stac.test_cog import write_jp2

    order = delivered_order(api)
    item_id = order["deliveries"][0]["_links"]["download"]["href"].rsplit("/", 2)[-2]
    state = sandbox.state
    feature = state.catalog.get(item_id)
    size = state.config.download_size
    source = write_jp2(tmp_path / f"IMG_{item_id}_R1C1.JP2", shape(feature["geometry"]).bounds)
    real = tmp_path / "real.zip"
    with zipfile.ZipFile(real, "w") as archive:
        archive.writestr(f"{item_id}/DIM_{item_id}.XML", dimap_document(item_id, size, feature))
        archive.write(source, f"{item_id}/{source.name}")
    with state.lock:  # what the download route serves for this item from now on
        state.files[(item_id, size)] = (real, md5(real.read_bytes()), real.stat().st_size)

    root = tmp_path / "imagery"
    (entry,) = OneAtlasDownloadOperator(
        task_id="download", order_id=order["id"], destination=str(root), extract=True, cog=True
    ).execute(context)

    cog_path = root / item_id / item_id / f"IMG_{item_id}_R1C1.cog.tif"
    assert "cog_error" not in entry and entry["cogs"] == [str(cog_path)]
    doc = json.loads(Path(entry["stac_item"]).read_text())
    validate_item(doc)
    cog = doc["assets"]["image_cog"]
    assert cog["href"] == str(cog_path) and cog["proj:code"] == "EPSG:4326"
    assert cog_validate(str(cog_path), quiet=True)[0]
    with rasterio.open(source) as jp2, rasterio.open(cog_path) as tif:
        assert (jp2.read() == tif.read()).all() and tif.transform == jp2.transform
    collection = pystac.ItemCollection.from_file(str(root / "items.json"))
    assert_every_stored_object_is_found(root, collection)  # the COG included, md5 and size checked


def test_cog_failure_keeps_the_delivery(api: Api, oneatlas_conn: str, context: Any, tmp_path: Path) -> None:
    """The sandbox's usual images are not real JPEG 2000: the conversion fails, the item stays."""
    order = delivered_order(api)
    (entry,) = OneAtlasDownloadOperator(
        task_id="download", order_id=order["id"], destination=str(tmp_path), extract=True, cog=True
    ).execute(context)
    assert entry["cog_error"] and "cogs" not in entry
    doc = json.loads(Path(entry["stac_item"]).read_text())
    validate_item(doc)
    assert set(doc["assets"]) == {"metadata", "image"}
    assert not list(tmp_path.rglob("*.cog.tif")) and not list(tmp_path.rglob("*.partial"))


@pytest.mark.parametrize(
    "options", [{"cog": True}, {"cog": True, "extract": True, "stac": False}, {"cog": "yes", "extract": True}]
)
def test_cog_needs_extracted_stac_items(options: dict[str, Any]) -> None:
    from airflow_provider_oneatlas.client.errors import ValidationError

    with pytest.raises(ValidationError, match=r"^cog: .* needs extract=True and stac=True"):
        OneAtlasDownloadOperator(task_id="d", order_id="abc-123", destination="/tmp/x", **options)
