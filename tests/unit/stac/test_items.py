"""STAC Items from the catalogue, the order and the DIMAP: mapping, extensions, offline validation."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from datetime import datetime, timezone
from typing import Any

import pystac
import pytest
from pystac.errors import STACValidationError

from airflow_provider_oneatlas.sandbox.catalog import tutorial_features
from airflow_provider_oneatlas.sandbox.dimap import dimap_document
from airflow_provider_oneatlas.stac.dimap import parse_dimap
from airflow_provider_oneatlas.stac.items import (
    STAC_EXTENSIONS,
    OrderInfo,
    StoredFile,
    delivery_item,
    md5_multihash,
    md5_of_multihash,
    search_item,
)
from tests.stac_validation import validate_item
from tests.unit.stac.test_dimap import price_feature

MD5 = "9e107d9d372bb6826bd81d3542a419d6"
ORDER = OrderInfo(
    order_id="0b0f7c1e-0000-4000-8000-000000000001",
    credits=372.0,
    product={
        "id": "ce4a073e-915a-4e15-b943-4470e02e0511",
        "productType": "bundle",
        "crsCode": "urn:ogc:def:crs:EPSG::4326",
    },
)


def test_md5_multihash() -> None:
    assert md5_multihash(MD5.upper()) == "d510" + MD5
    assert md5_of_multihash("d510" + MD5) == MD5
    assert md5_of_multihash("1220" + "0" * 64) is None  # sha2-256: not an md5
    with pytest.raises(ValueError, match="not an md5"):
        md5_multihash("xyz")


def zip_item(**kwargs: Any) -> pystac.Item:
    feature = price_feature()
    dimap = parse_dimap(dimap_document("item-1", 2048, feature))
    options: dict[str, Any] = {
        "stored": [StoredFile("/data/imagery/item-1.zip", 2048, MD5, "item-1.zip")],
        "feature": feature,
        "dimap": dimap,
        "order": ORDER,
        "self_href": "/data/imagery/item-1.json",
    } | kwargs
    return delivery_item("item-1", **options)


def test_delivery_item_from_every_source_validates_offline() -> None:
    item = zip_item()
    doc = item.to_dict(transform_hrefs=False)
    used = validate_item(doc)
    assert set(used[1:]) == set(STAC_EXTENSIONS.values())  # every extension used, each validated
    props = doc["properties"]
    assert doc["id"] == "item-1" and props["datetime"] == "2019-07-14T10:52:31.512000Z"
    assert doc["bbox"][0] < doc["bbox"][2] and doc["geometry"]["type"] == "Polygon"
    assert props["platform"] == "pleiades-1b" and props["constellation"] == "pleiades"
    assert props["instruments"] == ["hiri"] and props["gsd"] == 2.0
    assert props["eo:cloud_cover"] == 1.25 and props["eo:snow_cover"] == 0
    assert props["view:incidence_angle"] == pytest.approx(8.3410213374)
    assert 0 < props["view:off_nadir"] < props["view:incidence_angle"]
    assert props["view:sun_elevation"] == pytest.approx(65.3081775312)
    assert props["view:sun_azimuth"] == pytest.approx(148.22019451)
    assert props["view:azimuth"] == pytest.approx(179.871120573)
    assert props["processing:level"] == "ORTHO" and props["proj:code"] == "EPSG:32631"
    assert [b["common_name"] for b in props["eo:bands"]] == ["blue", "green", "red", "nir"]
    assert props["oneatlas:order_id"] == ORDER.order_id and props["oneatlas:order_credits"] == 372.0
    assert props["oneatlas:product_type"] == "bundle" and props["oneatlas:radiometric_processing"] == "REFLECTANCE"
    assert props["oneatlas:source_id"] == "ce4a073e-915a-4e15-b943-4470e02e0511"
    assert props["oneatlas:dataset_name"].startswith("DS_PHR1B_")
    archive = doc["assets"]["archive"]
    assert archive == {
        "href": "/data/imagery/item-1.zip",
        "type": "application/zip",
        "title": "Delivered product (zip)",
        "file:size": 2048,
        "file:checksum": "d510" + MD5,
        "roles": ["data", "archive"],
    }
    assert [link["rel"] for link in doc["links"]] == ["self"]


def test_dimap_wins_over_the_catalogue_and_fills_in_without_it() -> None:
    feature = price_feature(cloudCover=50.0)
    dimap = parse_dimap(dimap_document("item-1", 10, price_feature(cloudCover=2.0)))
    assert zip_item(feature=feature, dimap=dimap).properties["eo:cloud_cover"] == 2.0
    alone = zip_item(feature=None, order=None)  # the DIMAP alone makes a complete item
    validate_item(alone.to_dict(transform_hrefs=False))
    assert alone.datetime == datetime(2019, 7, 14, 10, 52, 31, 512000, tzinfo=timezone.utc)
    catalogue_only = zip_item(dimap=None)
    validate_item(catalogue_only.to_dict(transform_hrefs=False))
    assert catalogue_only.properties["gsd"] == 0.5  # the catalogue's resolution
    assert "view:off_nadir" not in catalogue_only.properties  # only the DIMAP gives it
    with pytest.raises(ValueError, match="footprint"):
        zip_item(feature=None, dimap=None)


def test_extracted_delivery_lists_each_file() -> None:
    feature = price_feature()
    dimap = parse_dimap(dimap_document("item-1", 10, feature))
    stored = [
        StoredFile("/d/item-1/item-1/DIM_item-1.XML", 5000, name="item-1/DIM_item-1.XML"),
        StoredFile("/d/item-1/item-1/IMG_item-1_R1C1.JP2", 900000, name="item-1/IMG_item-1_R1C1.JP2"),
        StoredFile("/d/item-1/item-1/PREVIEW_item-1.JPG", 100, name="item-1/PREVIEW_item-1.JPG"),
        StoredFile("/d/item-1/item-1/LICENCE.PDF", 100, name="item-1/LICENCE.PDF"),
    ]
    doc = zip_item(stored=stored, dimap=dimap).to_dict(transform_hrefs=False)
    validate_item(doc)
    assets = doc["assets"]
    assert set(assets) == {"metadata", "image", "PREVIEW_item-1", "LICENCE"}
    assert assets["metadata"]["roles"] == ["metadata"] and assets["metadata"]["type"] == "application/xml"
    image = assets["image"]
    assert image["type"] == "image/jp2" and image["roles"] == ["data", "reflectance"]
    assert image["file:size"] == 900000 and "file:checksum" not in image  # extraction keeps no md5
    assert image["proj:shape"] == [dimap.rows, dimap.columns] and len(image["eo:bands"]) == 4
    assert assets["PREVIEW_item-1"]["roles"] == ["overview"]
    assert assets["LICENCE"]["type"] == "application/pdf"


def test_search_result_as_stac() -> None:
    feature = tutorial_features()[0]
    item = search_item(feature)
    doc = item.to_dict(transform_hrefs=False)
    used = validate_item(doc)
    assert set(used[1:]) == {STAC_EXTENSIONS["eo"], STAC_EXTENSIONS["view"], STAC_EXTENSIONS["processing"]}
    assert doc["id"] == "e459d653-468f-471b-8d6e-90b13b14c655"
    assert doc["assets"]["quicklook"]["roles"] == ["overview"]
    assert doc["assets"]["quicklook"]["href"].endswith("/quicklook")
    assert doc["assets"]["thumbnail"]["roles"] == ["thumbnail"]
    assert doc["properties"]["platform"] == "spot-6" and doc["properties"]["eo:cloud_cover"] == 61.4
    assert doc["properties"]["processing:level"] == "SENSOR"
    assert any(link["rel"] == "wmts" for link in doc["links"])
    broken = copy.deepcopy(feature)
    del broken["properties"]["acquisitionDate"]
    with pytest.raises(ValueError, match="acquisitionDate"):
        search_item(broken)


@pytest.mark.parametrize(
    ("path", "value", "schema"),
    [
        (("properties", "eo:cloud_cover"), 150, "eo"),
        (("properties", "view:sun_elevation"), 95, "view"),
        (("assets", "archive", "file:checksum"), "D510XYZ", "file"),
        (("assets", "archive", "file:size"), -1, "file"),
        (("properties", "datetime"), "yesterday", "item.json"),
    ],
)
def test_the_offline_validator_catches_bad_items(path: tuple[str, ...], value: Any, schema: str) -> None:
    """The validation is real: one wrong field fails against its own schema."""
    doc = json.loads(json.dumps(zip_item().to_dict(transform_hrefs=False)))
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(STACValidationError) as failed:
        validate_item(doc)
    assert schema in str(failed.value)


def test_an_undeclared_extension_use_is_caught() -> None:
    doc = zip_item().to_dict(transform_hrefs=False)
    doc["stac_extensions"].remove(STAC_EXTENSIONS["view"])
    doc["stac_extensions"].append("https://stac-extensions.github.io/sat/v1.0.0/schema.json")
    with pytest.raises(AssertionError, match="not available offline"):
        validate_item(doc)


def test_importing_the_operators_does_not_import_pystac() -> None:
    """DAG files import operators at every parse: pystac comes only when a task writes items."""
    code = (
        "import sys, airflow_provider_oneatlas.operators.download, airflow_provider_oneatlas.operators.search, "
        "airflow_provider_oneatlas.stac.items, airflow_provider_oneatlas.stac.delivery; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pystac'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
