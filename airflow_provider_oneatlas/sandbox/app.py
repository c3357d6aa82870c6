"""The sandbox's FastAPI application: ``create_app(config)``.

One :class:`SandboxState` is built per app and kept on ``app.state.sandbox``. Every error answers in
the OneAtlas shape (see :mod:`errors`), including FastAPI's own 404/405/422.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from airflow_provider_oneatlas.sandbox import account, admin, auth, downloads, orders, pages
from airflow_provider_oneatlas.sandbox.config import SandboxConfig
from airflow_provider_oneatlas.sandbox.errors import OneAtlasHTTPError, oneatlas_error
from airflow_provider_oneatlas.sandbox.faults import SandboxMiddleware
from airflow_provider_oneatlas.sandbox.search import router as search_router
from airflow_provider_oneatlas.sandbox.state import SandboxState
from airflow_provider_oneatlas.sandbox.view import router as view_router


async def _oneatlas_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OneAtlasHTTPError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    messages = {404: f"No route for {request.method} {request.url.path}", 405: "Method not allowed"}
    message = messages.get(exc.status_code) or str(exc.detail)
    return oneatlas_error(exc.status_code, message, headers=dict(exc.headers or {}))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors: list[Any] = list(exc.errors())
    first = errors[0] if errors else {}
    field = ".".join(str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path"))
    return oneatlas_error(400, f"{field or 'request'}: {first.get('msg', 'invalid request')}")


def create_app(config: SandboxConfig | None = None) -> FastAPI:
    """A new sandbox application with its own fresh state."""
    state = SandboxState(config or SandboxConfig())
    app = FastAPI(
        title="OneAtlas sandbox",
        description="A local OneAtlas-compatible server for tests, demos and offline DAG development.",
        docs_url="/_sandbox/docs",
        redoc_url=None,
        openapi_url="/_sandbox/openapi.json",
    )
    app.state.sandbox = state
    app.add_exception_handler(OneAtlasHTTPError, _oneatlas_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(SandboxMiddleware, state=state)
    app.include_router(auth.router)
    app.include_router(account.router)
    app.include_router(orders.router)
    app.include_router(downloads.router)
    app.include_router(admin.router)
    app.include_router(search_router)
    app.include_router(view_router)
    app.include_router(pages.router)
    return app
