"""Bearer tokens: the dependency every OneAtlas route uses, and the Keycloak token endpoint.

``POST /auth/realms/IDP/protocol/openid-connect/token`` with the form
``apikey=<key>&grant_type=api_key&client_id=IDP`` answers
``{"access_token", "expires_in", "refresh_expires_in": 0, "token_type": "bearer"}``. Errors there
use Keycloak's shape (``{"error", "error_description"}``), as the real identity provider does.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from airflow_provider_oneatlas.sandbox.errors import OneAtlasHTTPError
from airflow_provider_oneatlas.sandbox.state import SandboxState

TOKEN_PATH = "/auth/realms/IDP/protocol/openid-connect/token"

router = APIRouter()


def get_state(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


def base_of(request: Request) -> str:
    """This server's base URL without the trailing slash (``http://127.0.0.1:PORT``)."""
    return str(request.base_url).rstrip("/")


def require_token(request: Request) -> str:
    """FastAPI dependency: the caller's bearer token, or a OneAtlas-shaped 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if not header:
        raise OneAtlasHTTPError(
            401,
            "Full authentication is required to access this resource",
            hint="Send 'Authorization: Bearer <access_token>'; get a token from " + TOKEN_PATH,
            internal_code="MISSING_TOKEN",
            headers={"WWW-Authenticate": 'Bearer realm="IDP"'},
        )
    if scheme.lower() != "bearer" or not token:
        raise OneAtlasHTTPError(
            401,
            "Invalid authorization header: expected a bearer token",
            hint="Send 'Authorization: Bearer <access_token>'",
            internal_code="INVALID_TOKEN",
            headers={"WWW-Authenticate": 'Bearer realm="IDP", error="invalid_token"'},
        )
    verdict = get_state(request).check_token(token)
    if verdict == "expired":
        raise OneAtlasHTTPError(
            401,
            "Access token expired",
            hint="Exchange the API key for a new token",
            internal_code="TOKEN_EXPIRED",
            headers={"WWW-Authenticate": 'Bearer realm="IDP", error="invalid_token"'},
        )
    if verdict != "ok":
        raise OneAtlasHTTPError(
            401,
            "Invalid access token",
            hint="Exchange the API key for a new token",
            internal_code="INVALID_TOKEN",
            headers={"WWW-Authenticate": 'Bearer realm="IDP", error="invalid_token"'},
        )
    return token


def _keycloak_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


@router.post(TOKEN_PATH)
async def token(request: Request) -> Any:
    raw = (await request.body()).decode("utf-8", errors="replace")
    form = {key: values[0] for key, values in parse_qs(raw, keep_blank_values=True).items()}
    grant_type = form.get("grant_type", "")
    client_id = form.get("client_id", "")
    apikey = form.get("apikey", "")
    if grant_type != "api_key":
        return _keycloak_error(400, "unsupported_grant_type", f"Unsupported grant_type: {grant_type!r}")
    if client_id != "IDP":
        return _keycloak_error(400, "invalid_client", f"Invalid client or client credentials: {client_id!r}")
    state = get_state(request)
    if not apikey or apikey not in state.config.api_keys:
        return _keycloak_error(401, "invalid_grant", "Invalid API key")
    access_token = state.issue_token()
    return JSONResponse(
        {
            "access_token": access_token,
            "expires_in": max(1, int(state.config.token_lifetime)),
            "refresh_expires_in": 0,
            "token_type": "bearer",
        },
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )
