"""STAC Items for OneAtlas imagery: a delivered product, or a catalogue search result.

A delivered item merges three sources, the most specific first: the DIMAP metadata of the delivery
(what the files are), the catalogue feature of the delivered item (what OneAtlas search says of it),
and the order (its id and price). Extensions, at the versions pystac writes:

- ``eo`` v1.1.0: ``eo:cloud_cover``, ``eo:snow_cover``, ``eo:bands`` (on the item and each image);
- ``view`` v1.0.0: ``view:incidence_angle``, ``view:off_nadir``, ``view:azimuth``, ``view:sun_azimuth``,
  ``view:sun_elevation``;
- ``processing`` v1.2.0: ``processing:level`` (``SENSOR``, ``ORTHO``), ``processing:facility``;
- ``projection`` v2.0.0: ``proj:code`` (and ``proj:shape`` on images);
- ``file`` v2.1.0: ``file:size`` and ``file:checksum`` (md5 multihash) of the stored objects.

OneAtlas notions without a STAC extension are ``oneatlas:`` properties (``oneatlas:order_id``,
``oneatlas:order_credits``, ``oneatlas:product_type``, ``oneatlas:radiometric_processing``, ...).
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

# The API parsers' lenient number reading: the catalogue's properties are read the same way here.
from airflow_provider_oneatlas.client.api import _float
from airflow_provider_oneatlas.stac.dimap import DimapMetadata, is_dimap_name

if TYPE_CHECKING:
    import pystac

STAC_EXTENSIONS = {
    "eo": "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "view": "https://stac-extensions.github.io/view/v1.0.0/schema.json",
    "processing": "https://stac-extensions.github.io/processing/v1.2.0/schema.json",
    "proj": "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
    "file": "https://stac-extensions.github.io/file/v2.1.0/schema.json",
}

#: Multihash prefix of an md5 digest: function code 0xd5, length 16 bytes.
MD5_MULTIHASH_PREFIX = "d510"

_PLATFORMS = {
    "PHR1A": "pleiades-1a",
    "PHR1B": "pleiades-1b",
    "SPOT6": "spot-6",
    "SPOT7": "spot-7",
    "PNEO3": "pleiades-neo-3",
    "PNEO4": "pleiades-neo-4",
}
_CONSTELLATIONS = {"PHR": "pleiades", "SPOT": "spot", "PNEO": "pleiades-neo"}
_INSTRUMENTS = {"PHR": "hiri", "SPOT": "naomi", "PNEO": "pneo"}
_COMMON_NAMES = ("blue", "green", "red", "nir")  # B0..B3 of the multispectral images

AIRBUS = {
    "name": "Airbus Defence and Space",
    "roles": ["producer", "licensor"],
    "url": "https://oneatlas.airbus.com",
}

MEDIA_TYPES = {
    ".zip": "application/zip",
    ".jp2": "image/jp2",
    ".tif": "image/tiff; application=geotiff",
    ".tiff": "image/tiff; application=geotiff",
    ".xml": "application/xml",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".kmz": "application/vnd.google-earth.kmz",
    ".gml": "application/gml+xml",
    ".json": "application/json",
    ".geojson": "application/geo+json",
    ".pdf": "application/pdf",
    ".htm": "text/html",
    ".html": "text/html",
}
IMAGE_SUFFIXES = (".jp2", ".tif", ".tiff")


def md5_multihash(md5_hex: str) -> str:
    """``file:checksum`` of an md5 digest: the multihash (code d5, 16 bytes) in hex."""
    digest = md5_hex.strip().lower()
    if len(digest) != 32 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"{md5_hex!r} is not an md5 digest in hex")
    return MD5_MULTIHASH_PREFIX + digest


def md5_of_multihash(checksum: str) -> str | None:
    """The md5 digest in a ``file:checksum``, ``None`` for another hash function."""
    text = checksum.strip().lower()
    return text[4:] if text.startswith(MD5_MULTIHASH_PREFIX) and len(text) == 36 else None


@dataclass(frozen=True)
class StoredFile:
    """One stored object of a delivery: where it is, how big, its md5 when known."""

    href: str
    size: int | None = None
    md5: str | None = None
    name: str | None = None  # path inside the delivery (extracted files), for roles and keys


@dataclass(frozen=True)
class OrderInfo:
    """What the item says of the order that bought it."""

    order_id: str | None = None
    credits: float | None = None
    product: Mapping[str, Any] = field(default_factory=dict)  # the ordered product (delivery ``datas``)


def parse_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if not isinstance(value, str) or not value.strip():
        return None
    from airflow_provider_oneatlas.stac.dimap import _datetime

    return _datetime(value)


def _bbox(geometry: Mapping[str, Any] | None) -> list[float] | None:
    if not geometry:
        return None
    from shapely.geometry import shape

    minx, miny, maxx, maxy = shape(geometry).bounds
    return [round(minx, 9), round(miny, 9), round(maxx, 9), round(maxy, 9)]


def _proj_code(crs: str | None) -> str | None:
    """``urn:ogc:def:crs:EPSG::32631`` -> ``EPSG:32631``."""
    if not crs:
        return None
    text = crs.strip()
    if "EPSG" in text.upper():
        code = text.rsplit(":", 1)[-1]
        return f"EPSG:{code}" if code.isdigit() else None
    return None


def _in_range(value: float | None, low: float, high: float) -> float | None:
    return value if value is not None and low <= value <= high else None


def _catalogue_properties(props: Mapping[str, Any]) -> dict[str, Any]:
    """STAC properties from a OneAtlas catalogue feature's ``properties``."""
    constellation = str(props.get("constellation") or "").upper()
    platform = str(props.get("platform") or "").upper()
    out: dict[str, Any] = {
        "platform": _PLATFORMS.get(platform, platform.lower() or None),
        "constellation": _CONSTELLATIONS.get(constellation, constellation.lower() or None),
        "instruments": [_INSTRUMENTS[constellation]] if constellation in _INSTRUMENTS else None,
        "gsd": _float(props.get("resolution")),
        "eo:cloud_cover": _in_range(_float(props.get("cloudCover")), 0, 100),
        "eo:snow_cover": _in_range(_float(props.get("snowCover")), 0, 100),
        "view:incidence_angle": _in_range(_float(props.get("incidenceAngle")), 0, 90),
        "view:azimuth": _in_range(_float(props.get("azimuthAngle")), 0, 360),
        "view:sun_azimuth": _in_range(_float(props.get("illuminationAzimuthAngle")), 0, 360),
        "view:sun_elevation": _in_range(_float(props.get("illuminationElevationAngle")), -90, 90),
        "processing:level": props.get("processingLevel"),
        "processing:facility": props.get("processingCenter"),
        "proj:code": _proj_code(props.get("crsCode")),
        "oneatlas:product_type": props.get("productType"),
        "oneatlas:radiometric_processing": props.get("radiometricProcessing"),
        "oneatlas:source_identifier": props.get("sourceIdentifier"),
        "oneatlas:parent_identifier": props.get("parentIdentifier"),
        "oneatlas:commercial_reference": props.get("commercialReference"),
        "oneatlas:workspace_id": props.get("workspaceId"),
        "oneatlas:order_id": props.get("orderId"),
        "oneatlas:publication_date": props.get("publicationDate"),
    }
    return out


def _dimap_properties(dimap: DimapMetadata) -> dict[str, Any]:
    mission = (dimap.mission or "").upper()
    platform = (dimap.platform or "").upper()
    return {
        "platform": _PLATFORMS.get(platform, platform.lower() or None),
        "constellation": _CONSTELLATIONS.get(mission, mission.lower() or None),
        "instruments": [_INSTRUMENTS[mission]] if mission in _INSTRUMENTS else None,
        "gsd": dimap.gsd,
        "eo:cloud_cover": _in_range(dimap.cloud_cover, 0, 100),
        "eo:snow_cover": _in_range(dimap.snow_cover, 0, 100),
        "view:incidence_angle": _in_range(dimap.incidence_angle, 0, 90),
        "view:off_nadir": _in_range(dimap.viewing_angle, 0, 90),
        "view:azimuth": _in_range(dimap.azimuth_angle, 0, 360),
        "view:sun_azimuth": _in_range(dimap.sun_azimuth, 0, 360),
        "view:sun_elevation": _in_range(dimap.sun_elevation, -90, 90),
        "processing:level": dimap.processing_level,
        "processing:facility": dimap.processing_center,
        "proj:code": _proj_code(dimap.crs_code),
        "eo:bands": _eo_bands(dimap) or None,
        "oneatlas:dataset_name": dimap.dataset_name,
        "oneatlas:spectral_processing": dimap.spectral_processing,
        "oneatlas:radiometric_processing": dimap.radiometric_processing,
        "oneatlas:commercial_reference": dimap.commercial_reference,
    }


def _eo_bands(dimap: DimapMetadata) -> list[dict[str, Any]]:
    bands = []
    multispectral = len(dimap.bands) >= 3
    for index, band in enumerate(dimap.bands):
        entry: dict[str, Any] = {"name": band.id}
        if multispectral and index < len(_COMMON_NAMES):
            entry["common_name"] = _COMMON_NAMES[index]
        elif band.id.upper() in ("P", "PAN"):
            entry["common_name"] = "pan"
        if band.center_wavelength is not None:
            entry["center_wavelength"] = band.center_wavelength
        if band.full_width_half_max is not None:
            entry["full_width_half_max"] = band.full_width_half_max
        bands.append(entry)
    return bands


def _merge(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Later layers win, but a ``None`` never hides a value."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if value is not None and value != "":
                merged[key] = value
    return merged


def _extensions(properties: Mapping[str, Any], assets: Sequence[Mapping[str, Any]]) -> list[str]:
    prefixes = {key.split(":", 1)[0] for key in properties if ":" in key}
    for asset in assets:
        prefixes.update(key.split(":", 1)[0] for key in asset if ":" in key)
    return [uri for prefix, uri in STAC_EXTENSIONS.items() if prefix in prefixes]


def media_type(name: str) -> str | None:
    return MEDIA_TYPES.get(posixpath.splitext(name.lower())[1])


def _asset_key(name: str, used: set[str]) -> str:
    stem = posixpath.splitext(posixpath.basename(name))[0]
    key = "".join(c if c.isalnum() or c in "-_" else "_" for c in stem) or "file"
    candidate, n = key, 2
    while candidate in used:
        candidate, n = f"{key}_{n}", n + 1
    used.add(candidate)
    return candidate


def delivery_assets(
    stored: Sequence[StoredFile], dimap: DimapMetadata | None = None, radiometric: str | None = None
) -> dict[str, dict[str, Any]]:
    """STAC asset dicts of a delivery's stored objects: the zip, or each extracted file."""
    assets: dict[str, dict[str, Any]] = {}
    used: set[str] = set()
    images = [f for f in stored if (f.name or f.href).lower().endswith(IMAGE_SUFFIXES)]
    for file in stored:
        name = file.name or posixpath.basename(file.href)
        lower = name.lower()
        asset: dict[str, Any] = {"href": file.href}
        kind = media_type(name)
        if kind:
            asset["type"] = kind
        if lower.endswith(".zip"):
            key, roles, title = "archive", ["data", "archive"], "Delivered product (zip)"
            used.add(key)
        elif is_dimap_name(name):
            key = "metadata" if "metadata" not in used else _asset_key(name, used)
            used.add(key)
            roles, title = ["metadata"], "DIMAP metadata"
        elif lower.endswith(IMAGE_SUFFIXES):
            key = "image" if len(images) == 1 and "image" not in used else _asset_key(name, used)
            used.add(key)
            roles = ["data"] + (["reflectance"] if (radiometric or "").upper() == "REFLECTANCE" else [])
            title = posixpath.basename(name)
            if dimap is not None:
                bands = _eo_bands(dimap)
                if bands:
                    asset["eo:bands"] = bands
                if dimap.rows and dimap.columns:
                    asset["proj:shape"] = [dimap.rows, dimap.columns]
                if dimap.gsd:
                    asset["gsd"] = dimap.gsd
        elif lower.endswith((".jpg", ".jpeg", ".png")):
            key, roles, title = _asset_key(name, used), ["overview"], posixpath.basename(name)
        else:
            key, roles, title = _asset_key(name, used), ["metadata"], posixpath.basename(name)
        asset["roles"] = roles
        asset["title"] = title
        if file.size is not None:
            asset["file:size"] = file.size
        if file.md5:
            asset["file:checksum"] = md5_multihash(file.md5)
        assets[key] = asset
    return assets


def delivery_item(
    item_id: str,
    *,
    stored: Sequence[StoredFile],
    feature: Mapping[str, Any] | None = None,
    dimap: DimapMetadata | None = None,
    order: OrderInfo | None = None,
    self_href: str | None = None,
) -> pystac.Item:
    """The STAC Item of a stored delivery.

    ``feature`` is the delivered item's catalogue feature (search by its id), ``dimap`` the delivery's
    DIMAP metadata, ``order`` the order that bought it; any may be missing. Raises ``ValueError``
    when neither gives a footprint or an acquisition time (a STAC Item needs both).
    """
    props: Mapping[str, Any] = (feature or {}).get("properties") or {}
    ordered = dict(order.product) if order else {}
    from_order = {
        "oneatlas:order_id": order.order_id if order else None,
        "oneatlas:order_credits": order.credits if order else None,
        "oneatlas:source_id": ordered.get("id"),
        "oneatlas:product_type": ordered.get("productType"),
        "oneatlas:radiometric_processing": ordered.get("radiometricProcessing"),
        "proj:code": _proj_code(ordered.get("crsCode")),
    }
    from_dimap = _dimap_properties(dimap) if dimap else {}
    properties = _merge(from_order, _catalogue_properties(props), from_dimap)
    geometry = (dimap.footprint if dimap else None) or (feature or {}).get("geometry")
    acquired = (dimap.acquired if dimap else None) or parse_datetime(props.get("acquisitionDate"))
    if not geometry:
        raise ValueError(f"item {item_id}: neither the DIMAP metadata nor the catalogue gives a footprint")
    if acquired is None:
        raise ValueError(f"item {item_id}: neither the DIMAP metadata nor the catalogue gives an acquisition time")
    assets = delivery_assets(stored, dimap, properties.get("oneatlas:radiometric_processing"))
    properties["providers"] = [dict(AIRBUS)]
    item = _item(item_id, geometry, acquired, properties, assets)
    if self_href:
        item.set_self_href(self_href)
    return item


def _item(
    item_id: str,
    geometry: Mapping[str, Any],
    acquired: datetime,
    properties: dict[str, Any],
    assets: Mapping[str, dict[str, Any]],
) -> pystac.Item:
    """The Item with its bbox, the extensions its fields use, and its assets."""
    import pystac

    item = pystac.Item(
        id=item_id,
        geometry=dict(geometry),
        bbox=_bbox(geometry),
        datetime=acquired,
        properties=properties,
        stac_extensions=_extensions(properties, list(assets.values())),
    )
    for key, asset in assets.items():
        item.add_asset(key, pystac.Asset.from_dict(asset))
    return item


def search_item(feature: Mapping[str, Any]) -> pystac.Item:
    """The STAC Item of a catalogue search result, with its quicklook and thumbnail as assets.

    The asset hrefs are the API's own links: reading them needs the OneAtlas bearer token.
    """
    import pystac

    props: Mapping[str, Any] = feature.get("properties") or {}
    item_id = props.get("id") or feature.get("id")
    if not isinstance(item_id, str) or not item_id:
        raise ValueError("a search result has no 'properties.id'")
    geometry = feature.get("geometry")
    acquired = parse_datetime(props.get("acquisitionDate"))
    if not geometry or acquired is None:
        raise ValueError(f"search result {item_id} has no footprint or no acquisitionDate")
    properties = _merge(_catalogue_properties(props))
    properties["providers"] = [dict(AIRBUS)]
    links = _links(feature.get("_links"))
    assets: dict[str, dict[str, Any]] = {}
    if links.get("quicklook"):
        assets["quicklook"] = {"href": links["quicklook"], "roles": ["overview"], "title": "Quicklook"}
    if links.get("thumbnail"):
        assets["thumbnail"] = {"href": links["thumbnail"], "roles": ["thumbnail"], "title": "Thumbnail"}
    if links.get("metadata"):
        assets["metadata"] = {
            "href": links["metadata"],
            "roles": ["metadata"],
            "title": "OneAtlas metadata",
            "type": "application/json",
        }
    item = _item(item_id, geometry, acquired, properties, assets)
    if links.get("wmts"):
        item.add_link(pystac.Link("wmts", links["wmts"], media_type="application/xml", title="OneAtlas WMTS"))
    return item


def _links(raw: Any) -> dict[str, str]:
    """``_links`` of a feature: name -> href (a list keeps its first HTTP entry)."""
    links: dict[str, str] = {}
    if not isinstance(raw, Mapping):
        return links
    for name, value in raw.items():
        candidates = value if isinstance(value, list) else [value]
        for candidate in candidates:
            if (
                isinstance(candidate, Mapping)
                and isinstance(candidate.get("href"), str)
                and candidate.get("type") in (None, "HTTP", "WMTS", "WMS")
            ):
                links[name] = candidate["href"]
                break
    return links
