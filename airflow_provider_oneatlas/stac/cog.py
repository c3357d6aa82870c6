"""Cloud-Optimized GeoTIFFs of delivered images, added to their STAC Item (the ``cog`` extra).

Airbus delivers JPEG 2000 (or GeoTIFF) images; many readers stream COGs far better. Each image asset
of an extracted delivery is converted with rio-cogeo (rasterio's wheels bundle GDAL with OpenJPEG),
checked with ``cog_validate``, stored beside the image as ``<image>.cog.tif`` and added to the item
as ``<key>_cog`` with its size, md5 and the raster's own projection.

Object stores are not seekable enough for GDAL writes: the image is copied to a local temporary
folder (when it is not local already), converted there, and the COG streamed back under a temporary
name and renamed, like every other stored object.
"""

from __future__ import annotations

import importlib.util
import posixpath
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_oneatlas.stac.collections import copy_atomically, public_href
from airflow_provider_oneatlas.stac.items import STAC_EXTENSIONS, md5_multihash

if TYPE_CHECKING:
    import pystac

COG_MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
COG_SUFFIX = ".cog.tif"
_IMAGE_TYPES = ("image/jp2", "image/tiff; application=geotiff")


def cog_available() -> bool:
    """Whether the ``cog`` extra (rio-cogeo, rasterio) is installed."""
    return importlib.util.find_spec("rio_cogeo") is not None and importlib.util.find_spec("rasterio") is not None


def convert(source: str, target: str, profile: str = "deflate") -> dict[str, Any]:
    """Write ``source`` (any raster GDAL reads) as a COG at ``target`` (local paths); its projection.

    Raises ``ValueError`` when the result is not a valid COG.
    """
    import rasterio
    from rasterio.vrt import WarpedVRT
    from rio_cogeo.cogeo import cog_translate, cog_validate
    from rio_cogeo.profiles import cog_profiles

    options = cog_profiles.get(profile)  # type: ignore[no-untyped-call]
    with rasterio.open(source) as dataset:
        if dataset.crs and not dataset.transform.is_identity:
            # GDAL's JPEG 2000 driver reports a GCP CRS without GCPs, which rio-cogeo takes for a
            # GCP-georeferenced image ("Cannot invert geotransform"): an identity VRT hides it.
            with WarpedVRT(
                dataset, crs=dataset.crs, transform=dataset.transform, width=dataset.width, height=dataset.height
            ) as vrt:
                cog_translate(vrt, target, options, in_memory=False, quiet=True)
        else:
            cog_translate(dataset, target, options, in_memory=False, quiet=True)
    valid, errors, _warnings = cog_validate(target, quiet=True)
    if not valid:
        raise ValueError(f"{posixpath.basename(source)}: the converted file is not a valid COG: {errors}")
    with rasterio.open(target) as dataset:
        epsg = dataset.crs.to_epsg() if dataset.crs else None
        return {
            "proj:code": f"EPSG:{epsg}" if epsg else None,
            "proj:shape": [dataset.height, dataset.width],
            "proj:transform": [round(v, 12) for v in list(dataset.transform)[:6]],
        }


def _local_copy(path: Any, folder: Path) -> str:
    """A local file path of ``path``: itself on local disk, else a copy in ``folder``."""
    protocol = getattr(path, "protocol", None)
    inner = getattr(path, "path", None)
    if protocol in (None, "", "file", "local") and inner and Path(str(inner)).is_file():
        return str(inner)
    local = folder / posixpath.basename(str(inner or path))
    with path.open("rb") as source, local.open("wb") as sink:
        shutil.copyfileobj(source, sink, 8 * 1024 * 1024)
    return str(local)


def add_cog_assets(item: pystac.Item, images: Mapping[str, Any], profile: str = "deflate") -> list[str]:
    """Convert each image asset of ``item`` whose href is a key of ``images`` (href -> stored path)
    to a COG stored beside it, and add it to the item; the hrefs of the COGs written."""
    import pystac

    written = []
    for key, asset in list(item.assets.items()):
        stored = images.get(asset.href)
        if stored is None or asset.media_type not in _IMAGE_TYPES:
            continue
        target = stored.parent / (posixpath.splitext(stored.name)[0] + COG_SUFFIX)
        with tempfile.TemporaryDirectory(prefix="oneatlas-cog-") as tmp:
            folder = Path(tmp)
            source = _local_copy(stored, folder)
            local_cog = folder / ("cog" + COG_SUFFIX)
            projection = convert(source, str(local_cog), profile)
            size, md5 = copy_atomically(target, local_cog)
        fields: dict[str, Any] = {
            "file:size": size,
            "file:checksum": md5_multihash(md5),
            **{k: v for k, v in projection.items() if v is not None},
        }
        for name in ("eo:bands", "gsd"):
            if name in asset.extra_fields:
                fields[name] = asset.extra_fields[name]
        item.add_asset(
            f"{key}_cog",
            pystac.Asset(
                href=public_href(target),
                media_type=COG_MEDIA_TYPE,
                roles=["data", "cloud-optimized"],
                title=f"{asset.title or key} (Cloud-Optimized GeoTIFF)",
                extra_fields=fields,
            ),
        )
        written.append(public_href(target))
    for prefix in ("proj", "file"):
        if written and STAC_EXTENSIONS[prefix] not in item.stac_extensions:
            item.stac_extensions.append(STAC_EXTENSIONS[prefix])
    return written
