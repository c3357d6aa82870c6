"""The sandbox application (``airflow_provider_oneatlas.sandbox.app``): one fresh state per app, every error in
the OneAtlas shape, including FastAPI's own 404, 405 and 422."""

from __future__ import annotations

from typing import Any

from airflow_provider_oneatlas.sandbox.app import create_app
from airflow_provider_oneatlas.sandbox.config import SandboxConfig
from airflow_provider_oneatlas.sandbox.server import SandboxServer
from tests.sandbox.conftest import Api, MakeApi
from tests.sandbox.http import ERROR_KEYS


def test_each_app_has_its_own_fresh_state() -> None:
    first = create_app(SandboxConfig(catalog_size=5, balance=10))
    second = create_app(SandboxConfig(catalog_size=5, balance=20))
    assert first.state.sandbox is not second.state.sandbox
    assert (first.state.sandbox.balance, second.state.sandbox.balance) == (10, 20)
    assert create_app().state.sandbox.config == SandboxConfig()


def error_of(api: Api, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    answer = api.http.request(method, path, headers=api.auth, **kwargs)
    document: dict[str, Any] = answer.json()
    assert set(document) == ERROR_KEYS, document
    assert answer.headers["X-Ads-Correlation-Id"] == document["correlationId"]
    return answer.status_code, document


def test_framework_errors_have_the_oneatlas_shape(sandbox: SandboxServer, make_api: MakeApi) -> None:
    api = make_api(sandbox)
    status, document = error_of(api, "GET", "/api/v1/nowhere")
    assert status == 404 and document["message"] == "No route for GET /api/v1/nowhere"
    assert document["internalCode"] == "NOT_FOUND"
    status, document = error_of(api, "DELETE", "/api/v1/me")
    assert status == 405 and document["message"] == "Method not allowed"


def test_the_openapi_document_lives_under_the_admin_prefix(sandbox: SandboxServer, make_api: MakeApi) -> None:
    api = make_api(sandbox)
    document = api.http.get("/_sandbox/openapi.json").json()
    assert document["info"]["title"] == "OneAtlas sandbox"
    assert "/api/v1/orders" in document["paths"] and "/_sandbox/clock" in document["paths"]
    assert api.http.get("/_sandbox/docs").status_code == 200
