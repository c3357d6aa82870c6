"""Replays the tutorial's exact requests and answers (requests-mock): what the client sends, and
what it makes of what OneAtlas answers. The real hosts are mocked, never reached."""

from __future__ import annotations

import hashlib
import io
import json
from urllib.parse import parse_qs

import pytest
import requests_mock

from airflow_provider_oneatlas.client import api
from airflow_provider_oneatlas.client.client import OneAtlasClient
from airflow_provider_oneatlas.client.config import DEFAULT_SERVICE_URLS, ClientConfig
from airflow_provider_oneatlas.client.errors import ValidationError
from airflow_provider_oneatlas.client.models import ORDER_KIND_GB, ORDER_KIND_TILES
from tests.conftest import TUTORIAL_AOI as TOULOUSE
from tests.conftest import TUTORIAL_SEARCH_AOI as CAVTAT
from tests.conftest import tutorial

AUTH = DEFAULT_SERVICE_URLS["auth"] + api.TOKEN_PATH
DATA = DEFAULT_SERVICE_URLS["data"]
SEARCH = DEFAULT_SERVICE_URLS["search"]
VIEW = DEFAULT_SERVICE_URLS["view"]
API_KEY = "tutorial-api-key-0123"
TOKEN = "tutorial-access-token-abc"


@pytest.fixture
def mock() -> requests_mock.Mocker:
    with requests_mock.Mocker() as m:
        m.post(AUTH, json={"access_token": TOKEN, "expires_in": 3600, "refresh_expires_in": 0, "token_type": "bearer"})
        yield m


@pytest.fixture
def client() -> OneAtlasClient:
    return OneAtlasClient(ClientConfig(api_key=API_KEY))


def test_token_exchange_sends_the_tutorial_form(mock: requests_mock.Mocker, client: OneAtlasClient) -> None:
    mock.get(DATA + "/api/v1/me", json=tutorial("me.json"))
    client.get_me()
    token_request = mock.request_history[0]
    assert token_request.method == "POST"
    assert token_request.url == AUTH
    assert token_request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(token_request.text) == {"apikey": [API_KEY], "grant_type": ["api_key"], "client_id": ["IDP"]}
    me_request = mock.request_history[1]
    assert me_request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert me_request.verify not in (False, None, "")  # True or a CA bundle: never off


def test_me_and_balance(mock: requests_mock.Mocker, client: OneAtlasClient) -> None:
    mock.get(DATA + "/api/v1/me", json=tutorial("me.json"))
    me = client.get_me()
    assert me.contract_id == "8b273bd7-5626-4ef3-80cf-c4fc33191083"
    assert me.balance == 1341
    assert me.workspace_id == "148eebbd-a9b9-4cf6-97d3-87237901a7b9"
    assert "order.product" in me.offers
    mock.get(DATA + "/api/v1/me", json=tutorial("me_balance.json"))
    assert client.get_balance() == 3741
    # One token for every call of the process.
    assert [r.url for r in mock.request_history].count(AUTH) == 1


def test_subscriptions_decide_the_order_kind(mock: requests_mock.Mocker, client: OneAtlasClient) -> None:
    mock.get(DATA + "/api/v1/me", json=tutorial("me.json"))
    contract = "8b273bd7-5626-4ef3-80cf-c4fc33191083"
    mock.get(DATA + f"/api/v1/contracts/{contract}/subscriptions", json=tutorial("subscriptions.json"))
    subs = client.get_subscriptions()
    assert [s.consumption_mode for s in subs] == [None, "gb"]
    assert subs[1].streaming_plan == "advanced" and subs[1].amount_max == 101293740
    assert client.get_order_kind() == ORDER_KIND_GB
    tiles = tutorial("subscriptions.json")
    tiles["items"][1].update(consumptionMode="tiles", offers=["order.product"])
    mock.get(DATA + f"/api/v1/contracts/{contract}/subscriptions", json=tiles)
    assert client.get_order_kind() == ORDER_KIND_TILES


def test_search_sends_nested_geojson_and_parses_features(mock: requests_mock.Mocker, client: OneAtlasClient) -> None:
    mock.post(SEARCH + "/api/v1/opensearch", json=tutorial("search.json"))
    page = client.search(aoi=CAVTAT)
    body = mock.request_history[-1].json()
    # Not the tutorial's flattened list: a list of rings of [lon, lat] pairs.
    assert body["geometry"] == CAVTAT
    assert body["itemsPerPage"] == 50 and body["startPage"] == 1
    assert len(page.features) == 3
    first = page.features[0]
    assert first.id == "e459d653-468f-471b-8d6e-90b13b14c655"
    assert first.cloud_cover == 61.4 and first.constellation == "SPOT" and first.platform == "SPOT6"
    assert first.processing_level == "SENSOR"
    assert first.links["quicklook"].endswith("/api/v1/items/e459d653-468f-471b-8d6e-90b13b14c655/quicklook")
    assert first.footprint is not None and first.footprint["type"] == "Polygon"
    json.dumps(first.to_dict())  # fit for XCom


def test_search_filters_become_range_strings(mock: requests_mock.Mocker, client: OneAtlasClient) -> None:
    mock.post(
        SEARCH + "/api/v1/opensearch", json={"features": [], "totalResults": 0, "itemsPerPage": 500, "startIndex": 0}
    )
    client.search(
        aoi=CAVTAT,
        relation="within",
        acquisition_date=("2019-01-01", "2019-12-31T23:59:59Z"),
        cloud_cover=(0, 30),
        incidence_angle=(None, 20),
        constellation=["spot", "PHR"],
        processing_level="SENSOR",
        workspace="public",
        sort_by="-acquisitionDate,cloudCover",
        items_per_page=500,
        start_page=3,
    )
    body = mock.request_history[-1].json()
    assert body["acquisitionDate"] == "[2019-01-01T00:00:00Z,2019-12-31T23:59:59Z]"
    assert body["cloudCover"] == "[0,30]"
    assert body["incidenceAngle"] == "[,20]"
    assert body["constellation"] == "SPOT,PHR"
    assert body["relation"] == "within"
    assert body["processingLevel"] == "SENSOR"
    assert body["workspace"] == "public"
    assert body["sortBy"] == "-acquisitionDate,cloudCover"
    assert (body["itemsPerPage"], body["startPage"]) == (500, 3)


def test_price_body_is_the_tutorials(mock: requests_mock.Mocker, client: OneAtlasClient) -> None:
    mock.post(DATA + "/api/v1/prices", json=tutorial("price.json"))
    product = api.ProductSpec(item_id="ce4a073e-915a-4e15-b943-4470e02e0511", aoi=TOULOUSE)
    price = client.get_price([product], kind=ORDER_KIND_TILES)
    sent = mock.request_history[-1].json()
    assert sent == {
        "kind": "order.product",
        "products": [
            {
                "productType": "bundle",
                "radiometricProcessing": "REFLECTANCE",
                "imageFormat": "image/jp2",
                "crsCode": "urn:ogc:def:crs:EPSG::4326",
                "id": "ce4a073e-915a-4e15-b943-4470e02e0511",
                "aoi": TOULOUSE,
            }
        ],
    }
    assert price.credits == 377 and price.area_km2 == 37.75
    assert price.is_orderable and price.feasibility == "automatic"
    assert price.deliveries[0].source_id == "DS_PHR1B_201801080119199_FR1_PX_E133S26_0203_00541"


def test_create_order_posts_once_to_the_right_path(mock: requests_mock.Mocker, client: OneAtlasClient) -> None:
    # The tutorial's curl says /api/v1/api/v1/orders: the path is /api/v1/orders.
    mock.post(DATA + "/api/v1/orders", status_code=201, json=tutorial("order.json"))
    product = api.ProductSpec(item_id="ce4a073e-915a-4e15-b943-4470e02e0511", aoi=TOULOUSE)
    order = client.create_order([product], kind=ORDER_KIND_TILES, customer_ref="field-7 2024-05-01", tags=["farm"])
    request = mock.request_history[-1]
    assert request.url == DATA + "/api/v1/orders"
    assert request.json()["customerRef"] == "field-7 2024-05-01" and request.json()["tags"] == ["farm"]
    assert order.status == "ordered" and order.price == 377 and order.kind == "order.product"
    assert order.product_ids == ("xxxxxx-yyyyyy-zzzzzz-vvvvvv-wwwwww",)
    assert mock.call_count == 2  # token + one POST


def test_get_order_and_delivery_links(mock: requests_mock.Mocker, client: OneAtlasClient) -> None:
    delivered = tutorial("order.json") | {
        "status": "delivered",
        "deliveries": [
            {
                "id": "d1",
                "status": "delivered",
                "datas": {"id": "xxxxxx"},
                "_links": {"download": {"href": DATA + "/api/v1/items/90ebd420-fab4-49b7-85cd-ced051ea2343/download"}},
            }
        ],
    }
    mock.get(DATA + "/api/v1/orders/xxxxxx-yyyyyy-zzzzzz-vvvvvv-wwwwww", json=delivered)
    order = client.get_order("xxxxxx-yyyyyy-zzzzzz-vvvvvv-wwwwww")
    assert order.is_delivered and order.is_terminal
    assert order.deliveries[0].item_id == "90ebd420-fab4-49b7-85cd-ced051ea2343"


def test_list_orders_filters(mock: requests_mock.Mocker, client: OneAtlasClient) -> None:
    mock.get(
        DATA + "/api/v1/orders",
        json={"items": [tutorial("order.json")], "totalResults": 1, "startIndex": 0, "itemsPerPage": 50},
    )
    page = client.list_orders(status="ordered", tags=["farm"], customer_ref="ref", page=2, items_per_page=10)
    assert page.total_results == 1 and page.orders[0].status == "ordered"
    qs = mock.request_history[-1].qs
    assert qs == {
        "status": ["ordered"],
        "tags": ["farm"],
        "customerref": ["ref"],
        "page": ["2"],
        "itemsperpage": ["10"],
    }


def test_quicklook_width_and_wmts(mock: requests_mock.Mocker, client: OneAtlasClient) -> None:
    item = "d2c6220a-2475-427b-81b0-6e418bdd7990"
    mock.get(VIEW + f"/api/v1/items/{item}/quicklook", content=b"\x89PNG fake")
    assert client.get_quicklook(item, width=250) == b"\x89PNG fake"
    assert mock.request_history[-1].qs == {"width": ["250"]}
    mock.get(VIEW + f"/api/v1/items/{item}/wmts", text=tutorial("wmts.xml"))
    caps = client.get_wmts_capabilities(item)
    assert [m.identifier for m in caps.tile_matrices] == [str(z) for z in range(10, 19)]
    assert caps.tile_matrix_set == "4326" and caps.style == "rgb"
    assert caps.tile_matrices[0].matrix_width == 2048 and caps.tile_matrices[0].tile_width == 256
    assert caps.tile_url(12, 3, 4) == VIEW + f"/api/v1/items/{item}/wmts/tiles/1.0.0/default/rgb/4326/12/3/4.png"
    assert caps.wgs84_bbox == (52.5414838102001, 29.30212505097054, 52.80838841780883, 29.37644730946102)


def test_download_checks_md5(mock: requests_mock.Mocker, client: OneAtlasClient) -> None:
    item = "90ebd420-fab4-49b7-85cd-ced051ea2343"
    body = b"PK\x03\x04" + bytes(range(256)) * 100
    md5 = hashlib.md5(body).hexdigest()
    headers = {"X-Ads-Checksum-Method": "md5", "X-Ads-Checksum-Value": md5, "Content-Length": str(len(body))}
    mock.get(DATA + f"/api/v1/items/{item}/download", content=body, headers=headers)
    sink = io.BytesIO()
    result = client.download_item(sink, url=DATA + f"/api/v1/items/{item}/download")
    assert sink.getvalue() == body and result.md5 == md5 and result.verified and result.size == len(body)
    assert mock.request_history[-1].headers["Accept-Encoding"] == "identity"


def test_bad_input_sends_nothing(mock: requests_mock.Mocker, client: OneAtlasClient) -> None:
    bad_products = [
        api.ProductSpec(item_id="ce4a073e", aoi=TOULOUSE, radiometric_processing="REFLECTANSE"),
        api.ProductSpec(item_id="ce4a073e", aoi=TOULOUSE, crs_code="EPSG:4326"),
        api.ProductSpec(item_id="../etc/passwd", aoi=TOULOUSE),
        api.ProductSpec(item_id="ce4a073e", aoi={"type": "Point", "coordinates": [1, 2]}),
    ]
    for product in bad_products:
        with pytest.raises(ValidationError):
            client.get_price([product], kind=ORDER_KIND_TILES)
    with pytest.raises(ValidationError) as err:
        client.create_order([bad_products[0]], kind="productOrder")
    assert err.value.field == "kind" and "order.product" in str(err.value)
    with pytest.raises(ValidationError, match="cloud_cover"):
        client.search(cloud_cover=(0, 130))
    with pytest.raises(ValidationError, match="acquisition_date"):
        client.search(acquisition_date=("2020-01-02", "2020-01-01"))
    with pytest.raises(ValidationError, match="items_per_page"):
        client.search(items_per_page=501)
    assert mock.call_count == 0
