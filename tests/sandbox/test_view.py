"""The sandbox's view service (``airflow_provider_oneatlas.sandbox.view``): quicklook, thumbnail, metadata, WMTS.

PNGs are checked with a decoder written here (chunk CRCs, IHDR, the inflated scanlines), not with
the sandbox's own encoder.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree

import numpy as np
import pytest
import requests
from shapely.geometry import shape

from airflow_provider_oneatlas.sandbox.catalog import TUTORIAL_PRICE_ITEM_ID
from airflow_provider_oneatlas.sandbox.config import SandboxConfig
from airflow_provider_oneatlas.sandbox.server import SandboxServer
from tests.conftest import tutorial
from tests.sandbox.http import ERROR_KEYS, SandboxSession, decode_png

WMTS = "{http://www.opengis.net/wmts/1.0}"


OWS = "{http://www.opengis.net/ows/1.1}"


XLINK = "{http://www.w3.org/1999/xlink}"


TEMPLATE_TAIL = "/tiles/1.0.0/default/{Style}/{TileMatrixSet}/{TileMatrix}/{TileCol}/{TileRow}.png"


SPOT_ITEM = "e459d653-468f-471b-8d6e-90b13b14c655"


class Client(SandboxSession):
    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(self.base + path, params=params)

    def png(self, path: str, **params: Any) -> tuple[int, int, int, np.ndarray[Any, Any]]:
        answer = self.get(path, **params)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "image/png"
        return decode_png(answer.content)

    def error(self, path: str, status: int, **params: Any) -> dict[str, Any]:
        answer = self.get(path, **params)
        assert answer.status_code == status, answer.text
        doc: dict[str, Any] = answer.json()
        assert set(doc) == ERROR_KEYS
        return doc

    def capabilities(self, item_id: str) -> ElementTree.Element:
        answer = self.get(f"/api/v1/items/{item_id}/wmts")
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("application/xml")
        return ElementTree.fromstring(answer.content)

    def template(self, item_id: str) -> str:
        resource = self.capabilities(item_id).find(f"{WMTS}Contents/{WMTS}Layer/{WMTS}ResourceURL")
        assert resource is not None
        return resource.attrib["template"]


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with SandboxServer(SandboxConfig(seed=9, catalog_size=100)) as server:
        yield Client(server)


def tile_of(lon: float, lat: float, level: int) -> tuple[int, int]:
    span = 180.0 / 2**level
    return int((lon + 180.0) // span), int((90.0 - lat) // span)


def tile_url(template: str, level: int, col: int, row: int, style: str = "rgb", matrix_set: str = "4326") -> str:
    return (
        template.replace("{Style}", style)
        .replace("{TileMatrixSet}", matrix_set)
        .replace("{TileMatrix}", str(level))
        .replace("{TileCol}", str(col))
        .replace("{TileRow}", str(row))
    )


def test_quicklook_default_width_and_footprint_shape(client: Client) -> None:
    width, height, colour, pixels = client.png(f"/api/v1/items/{TUTORIAL_PRICE_ITEM_ID}/quicklook")
    assert (width, colour) == (1024, 2)
    # The Toulouse footprint is about as tall as wide on the ground.
    assert 0.8 < height / width < 1.4
    assert pixels.std() > 5  # an image, not a flat colour


@pytest.mark.parametrize("width", [1, 250, 333, 4096])
def test_quicklook_width(client: Client, width: int) -> None:
    decoded_width, height, _, _ = client.png(f"/api/v1/items/{SPOT_ITEM}/quicklook", width=width)
    assert decoded_width == width
    assert 1 <= height <= 4096


def test_thumbnail_is_small_and_scales(client: Client) -> None:
    assert client.png(f"/api/v1/items/{SPOT_ITEM}/thumbnail")[0] == 256
    assert client.png(f"/api/v1/items/{SPOT_ITEM}/thumbnail", width=64)[0] == 64


def test_previews_are_deterministic_and_differ_between_items(client: Client) -> None:
    first = client.get(f"/api/v1/items/{SPOT_ITEM}/thumbnail", width=120).content
    again = client.get(f"/api/v1/items/{SPOT_ITEM}/thumbnail", width=120).content
    other_id = client.catalog.all()[10]["properties"]["id"]
    other = client.get(f"/api/v1/items/{other_id}/thumbnail", width=120).content
    assert first == again
    assert first != other
    # The same item in another sandbox: the same picture.
    with SandboxServer(SandboxConfig(seed=1, catalog_size=0)) as server:
        assert Client(server).get(f"/api/v1/items/{SPOT_ITEM}/thumbnail", width=120).content == first


def test_pixels_outside_the_footprint_are_black(client: Client) -> None:
    # The first tutorial footprint is a quadrilateral a little off its bounding box.
    _, _, _, pixels = client.png(f"/api/v1/items/{SPOT_ITEM}/quicklook", width=400)
    assert (pixels[0, 0] == 0).all() or (pixels[-1, -1] == 0).all() or (pixels[0, -1] == 0).all()
    middle = pixels[pixels.shape[0] // 2, pixels.shape[1] // 2]
    assert middle.any()


@pytest.mark.parametrize("width", ["0", "4097", "-3", "wide", "1.5"])
@pytest.mark.parametrize("kind", ["quicklook", "thumbnail"])
def test_bad_width_is_refused_naming_width(client: Client, kind: str, width: str) -> None:
    error = client.error(f"/api/v1/items/{SPOT_ITEM}/{kind}", 400, width=width)
    assert error["message"].startswith("width:")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/items/{id}/quicklook",
        "/api/v1/items/{id}/thumbnail",
        "/api/v1/items/{id}/metadata",
        "/api/v1/items/{id}/wmts",
        "/api/v1/items/{id}/wmts/tiles/1.0.0/default/rgb/4326/12/2000/500.png",
    ],
)
def test_unknown_items_answer_404(client: Client, path: str) -> None:
    error = client.error(path.format(id="00000000-0000-4000-8000-000000000000"), 404)
    assert "00000000-0000-4000-8000-000000000000" in error["message"]


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/items/{SPOT_ITEM}/quicklook",
        f"/api/v1/items/{SPOT_ITEM}/thumbnail",
        f"/api/v1/items/{SPOT_ITEM}/metadata",
        f"/api/v1/items/{SPOT_ITEM}/wmts",
        f"/api/v1/items/{SPOT_ITEM}/wmts/tiles/1.0.0/default/rgb/4326/10/103/28.png",
    ],
)
def test_view_needs_a_token(client: Client, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        answer = requests.get(client.base + path, headers=headers)
        assert answer.status_code == 401
        assert set(answer.json()) == ERROR_KEYS


def test_metadata_is_the_items_properties(client: Client) -> None:
    answer = client.get(f"/api/v1/items/{SPOT_ITEM}/metadata")
    assert answer.status_code == 200
    assert answer.json() == tutorial("search.json")["features"][0]["properties"]


def test_search_links_lead_to_the_view_service(client: Client) -> None:
    search = client.session.post(client.base + "/api/v1/opensearch", json={"itemsPerPage": 3})
    for feature in search.json()["features"]:
        links = feature["_links"]
        assert client.session.get(links["metadata"]["href"]).json() == feature["properties"]
        assert decode_png(client.session.get(links["thumbnail"]["href"]).content)[0] == 256
        wmts = client.session.get(links["wmts"]["href"])
        assert wmts.status_code == 200 and ElementTree.fromstring(wmts.content).tag == f"{WMTS}Capabilities"


def test_capabilities_follow_the_tutorial(client: Client) -> None:
    root = client.capabilities(TUTORIAL_PRICE_ITEM_ID)
    reference = ElementTree.fromstring(tutorial("wmts.xml"))
    assert root.tag == reference.tag == f"{WMTS}Capabilities"
    assert root.attrib == reference.attrib
    contents = root.find(f"{WMTS}Contents")
    assert contents is not None
    assert [child.tag for child in contents] == [f"{WMTS}Layer", f"{WMTS}TileMatrixSet"]
    assert [child.tag for child in root] == [child.tag for child in reference]

    # Same elements and texts as the tutorial, except the item's bounding boxes and URLs.
    def shape_of(element: ElementTree.Element) -> list[tuple[str, str, dict[str, str]]]:
        out = []
        for node in element.iter():
            text = (node.text or "").strip()
            attrib = {k: v for k, v in node.attrib.items() if k not in ("template", f"{XLINK}href")}
            if node.tag in (f"{OWS}LowerCorner", f"{OWS}UpperCorner") and not text.startswith(("-180", "180")):
                text = "<corner>"
            out.append((node.tag, text, attrib))
        return out

    assert shape_of(root) == shape_of(reference)


def test_capabilities_describe_the_item(client: Client) -> None:
    root = client.capabilities(TUTORIAL_PRICE_ITEM_ID)
    footprint = client.catalog.footprint(TUTORIAL_PRICE_ITEM_ID)
    assert footprint is not None
    minx, miny, maxx, maxy = footprint.bounds
    layer = root.find(f"{WMTS}Contents/{WMTS}Layer")
    assert layer is not None
    wgs84 = layer.find(f"{OWS}WGS84BoundingBox")
    assert wgs84 is not None
    assert [float(v) for v in (wgs84.findtext(f"{OWS}LowerCorner") or "").split()] == [minx, miny]
    assert [float(v) for v in (wgs84.findtext(f"{OWS}UpperCorner") or "").split()] == [maxx, maxy]
    # The tutorial writes the CRS84 BoundingBox latitude first.
    crs84 = layer.find(f"{OWS}BoundingBox")
    assert crs84 is not None
    assert [float(v) for v in (crs84.findtext(f"{OWS}LowerCorner") or "").split()] == [miny, minx]
    assert layer.findtext(f"{WMTS}Style/{OWS}Identifier") == "rgb"
    assert layer.findtext(f"{WMTS}Format") == "image/png"
    assert layer.findtext(f"{WMTS}TileMatrixSetLink/{WMTS}TileMatrixSet") == "4326"
    resource = layer.find(f"{WMTS}ResourceURL")
    assert resource is not None
    assert resource.attrib == {
        "format": "image/png",
        "resourceType": "tile",
        "template": f"{client.base}/api/v1/items/{TUTORIAL_PRICE_ITEM_ID}/wmts{TEMPLATE_TAIL}",
    }
    matrices = root.findall(f"{WMTS}Contents/{WMTS}TileMatrixSet/{WMTS}TileMatrix")
    reference = ElementTree.fromstring(tutorial("wmts.xml")).findall(f".//{WMTS}TileMatrix")
    assert [m.findtext(f"{OWS}Identifier") for m in matrices] == [str(level) for level in range(10, 19)]
    for matrix, expected in zip(matrices, reference, strict=True):
        level = int(matrix.findtext(f"{OWS}Identifier") or "")
        assert matrix.findtext(f"{WMTS}ScaleDenominator") == expected.findtext(f"{WMTS}ScaleDenominator")
        assert int(matrix.findtext(f"{WMTS}MatrixWidth") or "") == 2 ** (level + 1)
        assert int(matrix.findtext(f"{WMTS}MatrixHeight") or "") == 2**level
        assert matrix.findtext(f"{WMTS}TileWidth") == matrix.findtext(f"{WMTS}TileHeight") == "256"
    metadata_url = root.find(f"{WMTS}ServiceMetadataURL")
    assert metadata_url is not None
    href = metadata_url.attrib[f"{XLINK}href"]
    assert href == f"{client.base}/api/v1/items/{TUTORIAL_PRICE_ITEM_ID}/wmts/1.0.0/WMTSCapabilities.xml"
    assert client.session.get(href).content == client.get(f"/api/v1/items/{TUTORIAL_PRICE_ITEM_ID}/wmts").content


def test_the_providers_client_reads_the_capabilities(client: Client) -> None:
    from airflow_provider_oneatlas.client.api import parse_wmts_capabilities

    answer = client.get(f"/api/v1/items/{TUTORIAL_PRICE_ITEM_ID}/wmts")
    capabilities = parse_wmts_capabilities(answer.content)
    assert capabilities.tile_matrix_set == "4326"
    assert capabilities.style == "rgb"
    assert [m.identifier for m in capabilities.tile_matrices] == [str(level) for level in range(10, 19)]
    footprint = client.catalog.footprint(TUTORIAL_PRICE_ITEM_ID)
    assert footprint is not None
    assert capabilities.wgs84_bbox == footprint.bounds


@pytest.mark.parametrize("level", [10, 12, 14, 18])
def test_tiles_over_the_footprint(client: Client, level: int) -> None:
    template = client.template(TUTORIAL_PRICE_ITEM_ID)
    col, row = tile_of(1.40, 43.60, level)
    width, height, colour, pixels = client.png(tile_url(template, level, col, row).replace(client.base, ""))
    assert (width, height, colour) == (256, 256, 6)
    assert (pixels[..., 3] == 255).all()  # the footprint's middle: opaque
    assert pixels[..., :3].std() > 1
    # On the footprint's west edge: partly transparent.
    footprint = client.catalog.footprint(TUTORIAL_PRICE_ITEM_ID)
    assert footprint is not None
    col, row = tile_of(footprint.bounds[0] + 0.0005, 43.60, level)
    _, _, _, edge = client.png(tile_url(template, level, col, row).replace(client.base, ""))
    assert (edge[..., 3] == 255).any() and (edge[..., 3] == 0).any()
    assert (edge[edge[..., 3] == 0] == 0).all()


def test_tiles_are_transparent_outside_the_footprint_and_join_up(client: Client) -> None:
    template = client.template(TUTORIAL_PRICE_ITEM_ID)
    col, row = tile_of(30.0, -10.0, 12)
    _, _, _, far = client.png(tile_url(template, 12, col, row).replace(client.base, ""))
    assert (far == 0).all()
    # Two neighbouring tiles: the seam is smooth (same landscape on both sides).
    col, row = tile_of(1.40, 43.60, 13)
    _, _, _, left = client.png(tile_url(template, 13, col, row).replace(client.base, ""))
    _, _, _, right = client.png(tile_url(template, 13, col + 1, row).replace(client.base, ""))
    seam = np.abs(left[:, -1, :3].astype(int) - right[:, 0, :3].astype(int)).mean()
    across = np.abs(left[:, -1, :3].astype(int) - left[:, 0, :3].astype(int)).mean()
    assert seam < across


@pytest.mark.parametrize(
    ("level", "col", "row", "style", "matrix_set", "field"),
    [
        ("9", "0", "0", "rgb", "4326", "TileMatrix"),
        ("19", "0", "0", "rgb", "4326", "TileMatrix"),
        ("x", "0", "0", "rgb", "4326", "TileMatrix"),
        ("10", str(2**11), "0", "rgb", "4326", "TileCol"),
        ("10", "-1", "0", "rgb", "4326", "TileCol"),
        ("10", "0", str(2**10), "rgb", "4326", "TileRow"),
        ("18", "0", "zz", "rgb", "4326", "TileRow"),
        ("10", "0", "0", "rgb", "3857", "TileMatrixSet"),
        ("10", "0", "0", "infrared", "4326", "Style"),
    ],
)
def test_bad_tile_addresses_answer_400(
    client: Client, level: str, col: str, row: str, style: str, matrix_set: str, field: str
) -> None:
    path = f"/api/v1/items/{SPOT_ITEM}/wmts/tiles/1.0.0/default/{style}/{matrix_set}/{level}/{col}/{row}.png"
    assert client.error(path, 400)["message"].startswith(field + ":")


def test_last_tile_of_each_level_exists(client: Client) -> None:
    for level in (10, 18):
        last_col, last_row = 2 ** (level + 1) - 1, 2**level - 1
        path = f"/api/v1/items/{SPOT_ITEM}/wmts/tiles/1.0.0/default/rgb/4326/{level}/{last_col}/{last_row}.png"
        assert client.png(path)[:2] == (256, 256)


def test_tiles_count_streamed_bytes(client: Client) -> None:
    state = client.server.state
    had = hasattr(state, "streamed_bytes")
    before = getattr(state, "streamed_bytes", 0)
    if not had:
        setattr(state, "streamed_bytes", 0)
        before = 0
    try:
        col, row = tile_of(1.40, 43.60, 15)
        path = f"/api/v1/items/{TUTORIAL_PRICE_ITEM_ID}/wmts/tiles/1.0.0/default/rgb/4326/15/{col}/{row}.png"
        sizes = [len(client.get(path).content) for _ in range(2)]
        assert getattr(state, "streamed_bytes") == before + sum(sizes)
    finally:
        if not had:
            delattr(state, "streamed_bytes")


def test_private_item_footprints_are_viewable(client: Client) -> None:
    catalog = client.catalog
    source = catalog.get(TUTORIAL_PRICE_ITEM_ID)
    assert source is not None
    aoi = shape(source["geometry"]).buffer(-0.15)
    delivered = {
        "type": "Feature",
        "geometry": {"type": "MultiPolygon", "coordinates": [[list(map(list, aoi.exterior.coords))]]},
        "properties": {
            **source["properties"],
            "id": "view-private-1",
            "workspaceId": "ws-1",
            "workspaceName": "private",
        },
    }
    catalog.add(delivered)
    width, _, _, pixels = client.png("/api/v1/items/view-private-1/quicklook", width=200)
    assert width == 200 and pixels.any()
    wgs84 = client.capabilities("view-private-1").find(f"{WMTS}Contents/{WMTS}Layer/{OWS}WGS84BoundingBox")
    assert wgs84 is not None
    assert [float(v) for v in (wgs84.findtext(f"{OWS}LowerCorner") or "").split()] == list(aoi.bounds[:2])
