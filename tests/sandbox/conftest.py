"""Fixtures for the sandbox tests: real servers on 127.0.0.1 (random ports), real HTTP, no mocks."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_oneatlas.client.api import TOKEN_PATH
from airflow_provider_oneatlas.sandbox.config import SandboxConfig
from airflow_provider_oneatlas.sandbox.server import SandboxServer
from tests.conftest import SANDBOX_KEY
from tests.conftest import TUTORIAL_AOI as TOULOUSE
from tests.sandbox.http import PINNED, START, SearchClient

TUTORIAL_PRICE_ITEM = "ce4a073e-915a-4e15-b943-4470e02e0511"


def product(**overrides: Any) -> dict[str, Any]:
    """One product of the tutorial's price body, with ``overrides`` applied."""
    item = {
        "productType": "bundle",
        "radiometricProcessing": "REFLECTANCE",
        "imageFormat": "image/jp2",
        "crsCode": "urn:ogc:def:crs:EPSG::4326",
        "id": TUTORIAL_PRICE_ITEM,
        "aoi": TOULOUSE,
    }
    item.update(overrides)
    return item


def order_body(kind: str = "order.product", **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "products": [product()], **extra}


class Api:
    """A tiny client for the tests: one httpx client, a token, helpers that do not hide the HTTP."""

    def __init__(self, base_url: str, api_key: str = SANDBOX_KEY) -> None:
        self.base_url = base_url
        self.api_key = api_key
        self.http = httpx.Client(base_url=base_url, trust_env=False, timeout=60)
        self.token: str | None = None

    def close(self) -> None:
        self.http.close()

    def new_token(self) -> str:
        answer = self.http.post(TOKEN_PATH, data={"apikey": self.api_key, "grant_type": "api_key", "client_id": "IDP"})
        assert answer.status_code == 200, answer.text
        self.token = answer.json()["access_token"]
        return self.token

    @property
    def auth(self) -> dict[str, str]:
        if self.token is None:
            self.new_token()
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.auth, **kwargs.pop("headers", {})}
        return self.http.get(path, headers=headers, **kwargs)

    def head(self, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.auth, **kwargs.pop("headers", {})}
        return self.http.head(path, headers=headers, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.auth, **kwargs.pop("headers", {})}
        return self.http.post(path, headers=headers, **kwargs)

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, "/_sandbox" + path, **kwargs)

    def order(self, body: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = self.post("/api/v1/orders", json=body or order_body())
        assert answer.status_code == 201, answer.text
        document: dict[str, Any] = answer.json()
        return document

    def wait_status(self, order_id: str, wanted: set[str], timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            document: dict[str, Any] = self.get(f"/api/v1/orders/{order_id}").json()
            if document["status"] in wanted:
                return document
            assert time.monotonic() < deadline, f"order still {document['status']}"
            time.sleep(0.05)

    def delivered_item(self, **order_overrides: Any) -> tuple[str, str]:
        """Order the tutorial product, force it delivered; (item id, download URL)."""
        order = self.order(order_body(**order_overrides))
        forced = self.admin("POST", f"/orders/{order['id']}/status", json={"status": "delivered"})
        assert forced.status_code == 200, forced.text
        delivery = forced.json()["deliveries"][0]
        url: str = delivery["_links"]["download"]["href"]
        return url.rsplit("/", 2)[-2], url


MakeSandbox = Callable[..., SandboxServer]
MakeApi = Callable[..., Api]


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., SandboxServer]]:
    """Start a sandbox with the given config fields; all are stopped at the end of the test."""
    started: list[SandboxServer] = []

    def start(**config: Any) -> SandboxServer:
        server = SandboxServer(SandboxConfig(**config)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def sandbox(make_sandbox: Callable[..., SandboxServer]) -> SandboxServer:
    return make_sandbox(processing_after=0.2, delivered_after=0.4)


@pytest.fixture
def make_api() -> Iterator[Callable[[SandboxServer], Api]]:
    clients: list[Api] = []

    def build(server: SandboxServer, api_key: str = SANDBOX_KEY) -> Api:
        api = Api(server.base_url, api_key)
        clients.append(api)
        return api

    yield build
    for api in clients:
        api.close()


@pytest.fixture
def api(sandbox: SandboxServer, make_api: Callable[[SandboxServer], Api]) -> Api:
    return make_api(sandbox)


@pytest.fixture(scope="module")
def client() -> Iterator[SearchClient]:
    with SandboxServer(SandboxConfig(seed=11, catalog_size=1500, **PINNED)) as server:
        yield SearchClient(server)


@pytest.fixture()
def small_client() -> Iterator[SearchClient]:
    """A sandbox of its own, for tests that add items."""
    with SandboxServer(SandboxConfig(seed=5, catalog_size=60, **PINNED)) as server:
        yield SearchClient(server)


def search(api: Api, **params: Any) -> dict[str, Any]:
    answer = api.post("/api/v1/opensearch", json={"itemsPerPage": 500, **params})
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def ids(document: dict[str, Any]) -> list[str]:
    return [f["properties"]["id"] for f in document["features"]]


@pytest.fixture
def live_server(make_sandbox: MakeSandbox) -> SandboxServer:
    """A sandbox whose clock stands still at 2024-05-01T00:00Z until the test moves it."""
    return make_sandbox(catalog_size=300, clock_start=START, clock_speed=0)


@pytest.fixture
def live(live_server: SandboxServer, make_api: MakeApi) -> Api:
    return make_api(live_server)
