"""The OpenSearch endpoint (``airflow_provider_oneatlas.sandbox.search``): answer shape, links, paging, versions."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from shapely.geometry import shape

from airflow_provider_oneatlas.sandbox.catalog import (
    PUBLIC_WORKSPACE_ID,
    TUTORIAL_ITEM_IDS,
    TUTORIAL_PRICE_ITEM_ID,
)
from airflow_provider_oneatlas.sandbox.config import SandboxConfig
from airflow_provider_oneatlas.sandbox.server import SandboxServer
from tests.conftest import TUTORIAL_AOI as TOULOUSE_AOI
from tests.conftest import TUTORIAL_SEARCH_AOI as CAVTAT_AOI
from tests.conftest import tutorial
from tests.sandbox.http import ERROR_KEYS, SearchClient, when


def test_answer_has_the_tutorials_shape(client: SearchClient) -> None:
    doc = client.search({})
    assert list(doc) == ["error", "features", "itemsPerPage", "startIndex", "totalResults", "type"]
    assert doc["error"] is False and doc["type"] == "FeatureCollection"
    assert (doc["itemsPerPage"], doc["startIndex"], doc["totalResults"]) == (50, 0, len(client.catalog))
    assert len(doc["features"]) == 50
    reference = tutorial("search.json")["features"][0]
    for feature in doc["features"]:
        assert list(feature) == list(reference)
        assert list(feature["_links"]) == list(reference["_links"])


def test_tutorial_features_are_served_verbatim_with_links_on_this_server(client: SearchClient) -> None:
    expected = tutorial("search.json")["features"]
    doc = client.search({"ids": ",".join(TUTORIAL_ITEM_IDS), "sortBy": "-acquisitionDate"})
    assert [f["properties"]["id"] for f in doc["features"]] == list(TUTORIAL_ITEM_IDS)
    for served, original in zip(doc["features"], expected, strict=True):
        assert served["properties"] == original["properties"]
        assert served["geometry"] == original["geometry"]
        assert served["rights"] == original["rights"]
        assert served["type"] == "Feature"
        for name, link in original["_links"].items():
            path = "/api/" + link["href"].split("/api/", 1)[1]
            assert served["_links"][name] == {**link, "href": client.base + path}


def test_links_point_at_this_server(client: SearchClient) -> None:
    doc = client.search({"itemsPerPage": 20})
    for feature in doc["features"]:
        item_id = feature["properties"]["id"]
        links = feature["_links"]
        for name in ("quicklook", "thumbnail", "metadata", "wms", "wmts"):
            assert links[name]["href"] == f"{client.base}/api/v1/items/{item_id}/{name}"
        assert links["delete"]["href"] == (
            f"{client.base}/api/v1/workspaces/{PUBLIC_WORKSPACE_ID}/types/satellite_imagery/items/{item_id}"
        )
        assert "download" not in links
    quicklook = client.session.get(doc["features"][0]["_links"]["quicklook"]["href"])
    assert quicklook.status_code == 200 and quicklook.headers["content-type"] == "image/png"


def test_private_items_are_found_by_workspace_and_carry_download_links(small_client: SearchClient) -> None:
    client = small_client
    source = client.catalog.get(TUTORIAL_PRICE_ITEM_ID)
    assert source is not None
    workspace_id = "148eebbd-a9b9-4cf6-97d3-87237901a7b9"
    delivered = {
        "type": "Feature",
        "geometry": TOULOUSE_AOI,
        "properties": {
            **source["properties"],
            "id": "5a1d5c2e-0000-4000-8000-000000000001",
            "processingLevel": "ORTHO",
            "workspaceId": workspace_id,
            "workspaceName": "private",
            "workspaceTitle": "Private",
        },
    }
    assert client.search({"workspace": "private"})["totalResults"] == 0
    client.catalog.add(delivered)
    for workspace in ("private", workspace_id, f"{workspace_id},public"):
        ids = client.all_ids({"workspace": workspace})
        assert "5a1d5c2e-0000-4000-8000-000000000001" in ids
    assert client.all_ids({"workspace": "private"}) == ["5a1d5c2e-0000-4000-8000-000000000001"]
    assert "5a1d5c2e-0000-4000-8000-000000000001" not in client.all_ids({"workspace": "public"})
    assert len(client.all_ids({"workspace": "public"})) == len(client.catalog) - 1
    feature = client.search({"workspace": "private"})["features"][0]
    download = feature["_links"]["download"]
    assert isinstance(download, list)
    http = [entry for entry in download if entry["type"] == "HTTP" and entry["name"] == "download"]
    assert http == [
        {
            "href": f"{client.base}/api/v1/items/5a1d5c2e-0000-4000-8000-000000000001/download",
            "name": "download",
            "type": "HTTP",
        }
    ]
    assert feature["_links"]["delete"]["href"].endswith(
        f"/api/v1/workspaces/{workspace_id}/types/satellite_imagery/items/5a1d5c2e-0000-4000-8000-000000000001"
    )
    assert feature["_links"]["quicklook"]["href"].startswith(client.base)


def test_paging(client: SearchClient) -> None:
    params = {"cloudCover": "[0,50]", "sortBy": "cloudCover"}
    whole = client.search({**params, "itemsPerPage": 21})
    pages = [client.search({**params, "itemsPerPage": 7, "startPage": page}) for page in (1, 2, 3)]
    assert [p["startIndex"] for p in pages] == [0, 7, 14]
    assert all(p["itemsPerPage"] == 7 and p["totalResults"] == whole["totalResults"] for p in pages)
    assert [f["properties"]["id"] for p in pages for f in p["features"]] == [
        f["properties"]["id"] for f in whole["features"]
    ]
    beyond = client.search({**params, "itemsPerPage": 500, "startPage": 9})
    assert beyond["features"] == [] and beyond["totalResults"] == whole["totalResults"]
    assert len(client.search({"itemsPerPage": 500})["features"]) == 500
    assert client.search({"itemsPerPage": "3", "startPage": "2"}, method="GET")["startIndex"] == 3


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"itemsPerPage": 501}, "itemsPerPage"),
        ({"itemsPerPage": -1}, "itemsPerPage"),
        ({"itemsPerPage": "many"}, "itemsPerPage"),
        ({"startPage": 0}, "startPage"),
        ({"startPage": "first"}, "startPage"),
        ({"startPage": True}, "startPage"),
    ],
)
def test_bad_paging_is_refused(client: SearchClient, params: dict[str, Any], field: str) -> None:
    assert client.error(params)["message"].startswith(field + ":")


def test_results_are_capped_at_ten_thousand() -> None:
    with SandboxServer(SandboxConfig(seed=3, catalog_size=12_000)) as server:
        client = SearchClient(server)
        doc = client.search({"itemsPerPage": 500, "startPage": 20})
        assert doc["totalResults"] == 10_000
        assert doc["startIndex"] == 9_500 and len(doc["features"]) == 500
        error = client.error({"itemsPerPage": 500, "startPage": 21})
        assert "10000" in error["message"] and "acquisitionDate" in error["hint"]
        # A page straddling the cap stops at it.
        straddling = client.search({"itemsPerPage": 300, "startPage": 34})
        assert straddling["startIndex"] == 9_900 and len(straddling["features"]) == 100
        # Narrowing by date gets under the cap, with the exact count.
        narrow = "[2018-01-01T00:00:00Z,2022-01-01T00:00:00Z)"
        expected = client.expected(lambda f: when(f["properties"]["acquisitionDate"]) < when("2022-01-01T00:00:00Z"))
        assert 0 < len(expected) < 10_000
        assert client.search({"acquisitionDate": narrow})["totalResults"] == len(expected)


def test_v1_v2_get_and_post_answer_the_same(client: SearchClient) -> None:
    params = {
        "geometry": shape(TOULOUSE_AOI).wkt,
        "cloudCover": "[0,60]",
        "constellation": "SPOT,PHR,PNEO",
        "sortBy": "-cloudCover,acquisitionDate",
        "itemsPerPage": 40,
        "startPage": 2,
    }
    answers = [
        client.search(params, method=method, version=version) for method in ("GET", "POST") for version in (1, 2)
    ]
    first = answers[0]
    assert first["features"] and first["totalResults"] > 40
    for other in answers[1:]:
        assert other == first


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_search_needs_a_token(client: SearchClient, version: int, method: str) -> None:
    url = f"{client.base}/api/v{version}/opensearch"
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic abc"}):
        answer = requests.request(method, url, headers=headers, json={} if method == "POST" else None)
        assert answer.status_code == 401
        assert set(answer.json()) == ERROR_KEYS


def test_malformed_bodies(client: SearchClient) -> None:
    url = client.base + "/api/v1/opensearch"
    for body in (b"{not json", b"[1, 2]", b'"text"'):
        answer = client.session.post(url, data=body, headers={"Content-Type": "application/json"})
        assert answer.status_code == 400
        assert set(answer.json()) == ERROR_KEYS
    empty = client.session.post(url, data=b"")
    assert empty.status_code == 200 and empty.json()["totalResults"] == len(client.catalog)


def test_unknown_parameters_are_ignored(client: SearchClient) -> None:
    assert client.search({"count": 3, "foo": "bar"})["totalResults"] == len(client.catalog)


def test_query_and_search_agree(client: SearchClient) -> None:
    params = {"geometry": CAVTAT_AOI, "cloudCover": "[0,25]", "sortBy": "-cloudCover"}
    assert [f["properties"]["id"] for f in client.catalog.query(**params)] == client.all_ids(params)
