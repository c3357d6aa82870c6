"""Cloud-Optimized GeoTIFFs of delivered JPEG 2000 images (the ``cog`` extra), on real rasters."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio  # the cog extra is in the lock file: no skip when it is missing
from rasterio.errors import RasterioIOError

from airflow_provider_oneatlas.sandbox.dimap import dimap_document
from airflow_provider_oneatlas.stac.cog import COG_MEDIA_TYPE, add_cog_assets, convert
from airflow_provider_oneatlas.stac.dimap import parse_dimap
from airflow_provider_oneatlas.stac.items import StoredFile, delivery_item, md5_of_multihash
from tests.stac_validation import validate_item
from tests.unit.stac.test_dimap import price_feature


def write_jp2(
    path: Path, bbox: tuple[float, float, float, float] = (1.16, 43.39, 1.65, 43.79), size: int = 300
) -> Path:
    """A real 4-band 12-bit JPEG 2000 image over ``bbox`` in EPSG:4326, as a bundle's MS image."""
    from rasterio.transform import from_bounds

    rng = np.random.default_rng(7)
    data = (rng.random((4, size, size)) * 4095).astype("uint16")
    profile = {
        "driver": "JP2OpenJPEG",
        "width": size,
        "height": size,
        "count": 4,
        "dtype": "uint16",
        "crs": "EPSG:4326",
        "transform": from_bounds(*bbox, size, size),
    }
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(data)
    return path


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_the_rasterio_wheel_reads_and_writes_jpeg_2000() -> None:
    with rasterio.Env() as env:
        assert "JP2OpenJPEG" in env.drivers()


def test_convert_gives_a_valid_cog(tmp_path: Path) -> None:
    from rio_cogeo.cogeo import cog_validate

    source = write_jp2(tmp_path / "IMG_R1C1.JP2")
    projection = convert(str(source), str(tmp_path / "out.cog.tif"))
    assert cog_validate(str(tmp_path / "out.cog.tif"), quiet=True)[0]
    assert projection["proj:code"] == "EPSG:4326" and projection["proj:shape"] == [300, 300]
    with rasterio.open(source) as jp2, rasterio.open(tmp_path / "out.cog.tif") as cog:
        assert (jp2.read() == cog.read()).all()  # lossless: the same pixels
    with pytest.raises(RasterioIOError):
        convert(str(tmp_path / "missing.JP2"), str(tmp_path / "x.tif"))


def test_cog_assets_join_the_item(tmp_path: Path) -> None:
    folder = tmp_path / "item-1"
    folder.mkdir()
    image = write_jp2(folder / "IMG_item-1_R1C1.JP2")
    xml = dimap_document("item-1", 10, price_feature())
    (folder / "DIM_item-1.XML").write_bytes(xml)
    stored = [
        StoredFile(str(folder / "DIM_item-1.XML"), len(xml), name="DIM_item-1.XML"),
        StoredFile(str(image), image.stat().st_size, name="IMG_item-1_R1C1.JP2"),
    ]
    item = delivery_item("item-1", stored=stored, feature=price_feature(), dimap=parse_dimap(xml))
    written = add_cog_assets(item, {str(image): image, str(folder / "DIM_item-1.XML"): folder / "DIM_item-1.XML"})

    cog_path = folder / "IMG_item-1_R1C1.cog.tif"
    assert written == [str(cog_path)]
    doc: dict[str, Any] = json.loads(json.dumps(item.to_dict(transform_hrefs=False)))
    validate_item(doc)
    cog = doc["assets"]["image_cog"]
    assert cog["href"] == str(cog_path) and cog["type"] == COG_MEDIA_TYPE
    assert cog["roles"] == ["data", "cloud-optimized"]
    assert cog["file:size"] == cog_path.stat().st_size and md5_of_multihash(cog["file:checksum"]) == md5(cog_path)
    assert cog["proj:code"] == "EPSG:4326" and cog["proj:shape"] == [300, 300] and len(cog["proj:transform"]) == 6
    assert [b["common_name"] for b in cog["eo:bands"]] == ["blue", "green", "red", "nir"]
    assert set(doc["assets"]) == {"metadata", "image", "image_cog"}  # the XML is not converted
    assert not list(folder.glob(".*partial"))
