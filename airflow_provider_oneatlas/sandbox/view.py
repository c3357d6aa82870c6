"""OneAtlas view service: quicklook, thumbnail, metadata, WMTS capabilities and tiles of an image.

- ``GET /api/v1/items/{id}/quicklook[?width=]`` and ``/thumbnail[?width=]``: PNG previews of the footprint's
  bounding box (pixels outside the footprint are black), deterministic from the item id.
- ``GET /api/v1/items/{id}/metadata``: the image's properties (JSON).
- ``GET /api/v1/items/{id}/wmts``: WMTS GetCapabilities as the tutorial shows it (tile matrix set ``4326``,
  levels 10 to 18, 256 px tiles), well-formed: ``Layer`` and ``TileMatrixSet`` sit in ``Contents``.
- ``GET /api/v1/items/{id}/wmts/tiles/1.0.0/default/{Style}/{TileMatrixSet}/{TileMatrix}/{TileCol}/{TileRow}.png``:
  256x256 RGBA PNG tiles, transparent outside the footprint. Each tile's size is added to
  ``app.state.sandbox.streamed_bytes``.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np
import numpy.typing as npt
import shapely
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from shapely.geometry.base import BaseGeometry
from starlette.concurrency import run_in_threadpool

from airflow_provider_oneatlas.sandbox.auth import base_of, get_state, require_token
from airflow_provider_oneatlas.sandbox.catalog import Catalog
from airflow_provider_oneatlas.sandbox.errors import oneatlas_error
from airflow_provider_oneatlas.sandbox.images import encode_png, render_scene, seed_for

router = APIRouter(dependencies=[Depends(require_token)])

QUICKLOOK_WIDTH = 1024
THUMBNAIL_WIDTH = 256
MAX_WIDTH = 4096
TILE_SIZE = 256
MIN_LEVEL, MAX_LEVEL = 10, 18
TILE_MATRIX_SET = "4326"
TILE_MATRIX_SET_ALIASES = frozenset({"4326", "EPSG4326", "EPSG:4326", "WorldCRS84Quad"})
STYLES = frozenset({"rgb", "default"})

# Scale denominators of the tutorial's capabilities, levels 10 to 18.
SCALE_DENOMINATORS = {
    10: "272989.3867327723",
    11: "136494.6933663862",
    12: "68247.34668319309",
    13: "34123.67334159654",
    14: "17061.83667079827",
    15: "8530.918335399136",
    16: "4265.459167699568",
    17: "2132.729583849784",
    18: "1066.364791924892",
}


class _LRU:
    """A small thread-safe cache of rendered images."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[Any, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> bytes | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: Any, value: bytes) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)


_previews = _LRU(32)
_tiles = _LRU(512)


def _catalog(request: Request) -> Catalog:
    catalog: Catalog = request.app.state.sandbox.catalog
    return catalog


def _not_found(item_id: str) -> Response:
    return oneatlas_error(
        404,
        f"Item {item_id} not found",
        hint="Use an id from a search answer (properties.id)",
        internal_code="ITEM_NOT_FOUND",
    )


def _bad_request(message: str, hint: str = "") -> Response:
    return oneatlas_error(400, message, hint=hint, internal_code="INVALID_PARAMETER")


def _parse_width(value: str | None, default: int) -> int | str:
    """The width, or an error message naming ``width``."""
    if value is None or value.strip() == "":
        return default
    try:
        width = int(value.strip())
    except ValueError:
        return f"width: {value!r} is not an integer"
    if not 1 <= width <= MAX_WIDTH:
        return f"width: {width} is out of range (1 to {MAX_WIDTH} pixels)"
    return width


def _cloud_cover(props: dict[str, Any]) -> float:
    value = props.get("cloudCover")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _centres(start: float, step: float, count: int) -> npt.NDArray[np.float64]:
    """Pixel centres: ``count`` values from ``start + step / 2`` by ``step``."""
    return (start + (np.arange(count, dtype=np.float64) + 0.5) * step).astype(np.float64)


def footprint_mask(
    footprint: BaseGeometry, lons: npt.NDArray[np.float64], lats: npt.NDArray[np.float64]
) -> npt.NDArray[np.bool_]:
    """Which pixel centres (``lats`` rows x ``lons`` columns) lie inside the footprint (even-odd rule).

    The grid is separable, so each edge costs one comparison per pixel: far faster than testing points.
    """
    inside = np.zeros((lats.size, lons.size), dtype=bool)
    polygons = getattr(footprint, "geoms", [footprint])
    for polygon in polygons:
        if polygon.geom_type != "Polygon":
            continue
        for ring in [polygon.exterior, *polygon.interiors]:
            coords = [(float(x), float(y)) for x, y, *_ in ring.coords]
            for (x1, y1), (x2, y2) in itertools.pairwise(coords):
                if y1 == y2:
                    continue
                crosses = (y1 > lats) != (y2 > lats)
                if not crosses.any():
                    continue
                x_at = x1 + (lats[crosses] - y1) * (x2 - x1) / (y2 - y1)
                inside[crosses] ^= lons[None, :] < x_at[:, None]
    return inside


def render_preview(item_id: str, footprint: BaseGeometry, cloud_cover: float, width: int) -> bytes:
    """PNG of the footprint's bounding box, ``width`` pixels wide, height from the footprint's shape."""
    key = (item_id, width, footprint.wkb, cloud_cover)
    cached = _previews.get(key)
    if cached is not None:
        return cached
    minx, miny, maxx, maxy = footprint.bounds
    ground_width = max(maxx - minx, 1e-9) * max(np.cos(np.radians((miny + maxy) / 2.0)), 1e-6)
    ground_height = max(maxy - miny, 1e-9)
    height = int(min(MAX_WIDTH, max(1, round(width * ground_height / ground_width))))
    lons = _centres(minx, (maxx - minx) / width, width)
    lats = _centres(maxy, -(maxy - miny) / height, height)
    mask = footprint_mask(footprint, lons, lats) if footprint.area > 0 else None
    pixels = render_scene(seed_for(item_id), lons, lats, cloud_cover=cloud_cover, mask=mask)
    png = encode_png(pixels, width, height, 3, level=3)
    _previews.put(key, png)
    return png


def tile_bounds(level: int, col: int, row: int) -> tuple[float, float, float, float]:
    """(west, south, east, north) of a tile of the WorldCRS84Quad matrix set."""
    span = 180.0 / (1 << level)
    west = -180.0 + col * span
    north = 90.0 - row * span
    return west, north - span, west + span, north


def render_tile(item_id: str, footprint: BaseGeometry, cloud_cover: float, level: int, col: int, row: int) -> bytes:
    west, south, east, north = tile_bounds(level, col, row)
    if not footprint.intersects(shapely.box(west, south, east, north)):
        key: Any = "empty"
    else:
        key = (item_id, footprint.wkb, cloud_cover, level, col, row)
    cached = _tiles.get(key)
    if cached is not None:
        return cached
    if key == "empty":
        png = encode_png(np.zeros((TILE_SIZE, TILE_SIZE, 4), dtype=np.uint8), TILE_SIZE, TILE_SIZE, 4)
    else:
        step = (east - west) / TILE_SIZE
        lons = _centres(west, step, TILE_SIZE)
        lats = _centres(north, -step, TILE_SIZE)
        mask = footprint_mask(footprint, lons, lats)
        pixels = render_scene(seed_for(item_id), lons, lats, cloud_cover=cloud_cover, mask=mask, alpha=True)
        png = encode_png(pixels, TILE_SIZE, TILE_SIZE, 4)
    _tiles.put(key, png)
    return png


def _coordinate(value: float) -> str:
    return repr(float(value))


def capabilities_xml(item_id: str, footprint: BaseGeometry, base: str) -> str:
    """The tutorial's GetCapabilities document for one image, with a proper ``Contents`` element."""
    minx, miny, maxx, maxy = footprint.bounds
    item_base = f"{base}/api/v1/items/{item_id}/wmts"
    template = f"{item_base}/tiles/1.0.0/default/{{Style}}/{{TileMatrixSet}}/{{TileMatrix}}/{{TileCol}}/{{TileRow}}.png"
    matrices = "".join(
        f"""
            <TileMatrix>
                <ows:Identifier>{level}</ows:Identifier>
                <ScaleDenominator>{SCALE_DENOMINATORS[level]}</ScaleDenominator>
                <TopLeftCorner>90.000000 -180.000000</TopLeftCorner>
                <TileWidth>{TILE_SIZE}</TileWidth>
                <TileHeight>{TILE_SIZE}</TileHeight>
                <MatrixWidth>{2 << level}</MatrixWidth>
                <MatrixHeight>{1 << level}</MatrixHeight>
            </TileMatrix>"""
        for level in range(MIN_LEVEL, MAX_LEVEL + 1)
    )
    # As in the tutorial, the CRS84 BoundingBox lists latitude first and the WGS84BoundingBox longitude
    # first; clients should read the WGS84BoundingBox.
    return f"""<Capabilities xmlns="http://www.opengis.net/wmts/1.0" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:gml="http://www.opengis.net/gml" \
xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:ows="http://www.opengis.net/ows/1.1" version="1.0.0" \
xsi:schemaLocation="http://www.opengis.net/wmts/1.0 \
http://schemas.opengis.net/wmts/1.0/wmtsGetCapabilities_response.xsd">
    <Contents>
        <Layer xmlns:ows="http://www.opengis.net/ows/1.1">
            <ows:Title>IDP On The Fly Ortho Imagery (Geographic)</ows:Title>
            <ows:Abstract>IDP On The Fly Ortho Imagery from DaaS</ows:Abstract>
            <ows:Identifier>default</ows:Identifier>
            <ows:BoundingBox crs="urn:ogc:def:crs:OGC:1.3:CRS84">
                <ows:LowerCorner>{_coordinate(miny)} {_coordinate(minx)}</ows:LowerCorner>
                <ows:UpperCorner>{_coordinate(maxy)} {_coordinate(maxx)}</ows:UpperCorner>
            </ows:BoundingBox>
            <ows:WGS84BoundingBox crs="urn:ogc:def:crs:OGC:2:84">
                <ows:LowerCorner>{_coordinate(minx)} {_coordinate(miny)}</ows:LowerCorner>
                <ows:UpperCorner>{_coordinate(maxx)} {_coordinate(maxy)}</ows:UpperCorner>
            </ows:WGS84BoundingBox>
            <Style isDefault="true">
                <ows:Title>Default Style</ows:Title>
                <ows:Identifier>rgb</ows:Identifier>
            </Style>
            <Format>image/png</Format>
            <TileMatrixSetLink>
                <TileMatrixSet>{TILE_MATRIX_SET}</TileMatrixSet>
            </TileMatrixSetLink>
            <ResourceURL format="image/png" resourceType="tile" template={quoteattr(template)}/>
        </Layer>
        <TileMatrixSet xmlns:ows="http://www.opengis.net/ows/1.1">
            <ows:Title>WorldCRS84Quad (EPSG:4326)</ows:Title>
            <ows:Identifier>{TILE_MATRIX_SET}</ows:Identifier>
            <ows:BoundingBox crs="urn:ogc:def:crs:EPSG:6.3:4326">
                <ows:LowerCorner>-180.000000 -90.000000</ows:LowerCorner>
                <ows:UpperCorner>180.000000 90.000000</ows:UpperCorner>
            </ows:BoundingBox>
            <ows:SupportedCRS>urn:ogc:def:crs:EPSG:6.3:4326</ows:SupportedCRS>
            <WellKnownScaleSet>urn:ogc:def:wkss:OGC:1.0:GoogleCRS84Quad</WellKnownScaleSet>{matrices}
        </TileMatrixSet>
    </Contents>
    <ServiceMetadataURL xlink:href={quoteattr(item_base + "/1.0.0/WMTSCapabilities.xml")}/>
</Capabilities>
"""


@router.get("/api/v1/items/{item_id}/quicklook")
async def quicklook(request: Request, item_id: str, width: str | None = None) -> Response:
    return await _preview(request, item_id, width, QUICKLOOK_WIDTH)


@router.get("/api/v1/items/{item_id}/thumbnail")
async def thumbnail(request: Request, item_id: str, width: str | None = None) -> Response:
    return await _preview(request, item_id, width, THUMBNAIL_WIDTH)


async def _preview(request: Request, item_id: str, width_text: str | None, default: int) -> Response:
    catalog = _catalog(request)
    feature = catalog.get(item_id)
    footprint = catalog.footprint(item_id)
    if feature is None or footprint is None:
        return _not_found(item_id)
    width = _parse_width(width_text, default)
    if isinstance(width, str):
        return _bad_request(width, hint=f"width is the image width in pixels, 1 to {MAX_WIDTH}")
    png = await run_in_threadpool(
        render_preview, item_id, footprint, _cloud_cover(feature.get("properties", {})), width
    )
    return Response(content=png, media_type="image/png")


@router.get("/api/v1/items/{item_id}/metadata")
async def metadata(request: Request, item_id: str) -> Response:
    feature = _catalog(request).get(item_id)
    if feature is None:
        return _not_found(item_id)
    return JSONResponse(feature.get("properties", {}))


@router.get("/api/v1/items/{item_id}/wmts")
@router.get("/api/v1/items/{item_id}/wmts/1.0.0/WMTSCapabilities.xml")
async def wmts_capabilities(request: Request, item_id: str) -> Response:
    footprint = _catalog(request).footprint(item_id)
    if footprint is None:
        return _not_found(item_id)
    return Response(content=capabilities_xml(item_id, footprint, base_of(request)), media_type="application/xml")


def _tile_index(name: str, text: str, low: int, high: int, what: str) -> int | str:
    try:
        value = int(text)
    except ValueError:
        return f"{name}: {text!r} is not an integer"
    if not low <= value <= high:
        return f"{name}: {value} is out of range ({what}: {low} to {high})"
    return value


@router.get("/api/v1/items/{item_id}/wmts/tiles/1.0.0/default/{style}/{matrix_set}/{level}/{col}/{row}.png")
async def wmts_tile(
    request: Request, item_id: str, style: str, matrix_set: str, level: str, col: str, row: str
) -> Response:
    catalog = _catalog(request)
    feature = catalog.get(item_id)
    footprint = catalog.footprint(item_id)
    if feature is None or footprint is None:
        return _not_found(item_id)
    if style not in STYLES:
        return _bad_request(f"Style: unknown style {style!r}", hint="The layer's style is 'rgb'")
    if matrix_set not in TILE_MATRIX_SET_ALIASES:
        return _bad_request(
            f"TileMatrixSet: unknown tile matrix set {matrix_set!r}",
            hint=f"The layer's tile matrix set is '{TILE_MATRIX_SET}'",
        )
    z = _tile_index("TileMatrix", level, MIN_LEVEL, MAX_LEVEL, f"levels of tile matrix set {TILE_MATRIX_SET}")
    if isinstance(z, str):
        return _bad_request(z, hint="See the TileMatrix elements of the capabilities (GET .../wmts)")
    x = _tile_index("TileCol", col, 0, (2 << z) - 1, f"columns at level {z}")
    if isinstance(x, str):
        return _bad_request(x, hint="See MatrixWidth in the capabilities")
    y = _tile_index("TileRow", row, 0, (1 << z) - 1, f"rows at level {z}")
    if isinstance(y, str):
        return _bad_request(y, hint="See MatrixHeight in the capabilities")
    png = await run_in_threadpool(render_tile, item_id, footprint, _cloud_cover(feature.get("properties", {})), z, x, y)
    state = get_state(request)
    with state.lock:
        state.streamed_bytes += len(png)
    return Response(content=png, media_type="image/png")
