"""The token endpoint and bearer tokens (``airflow_provider_oneatlas.sandbox.auth``), over real HTTP."""

from __future__ import annotations

import time

from airflow_provider_oneatlas.client.api import TOKEN_PATH
from tests.conftest import tutorial
from tests.sandbox.conftest import Api, MakeApi, MakeSandbox
from tests.sandbox.http import assert_error, token_form


def test_token_answer_has_the_tutorial_shape(api: Api) -> None:
    answer = api.http.post(TOKEN_PATH, data=token_form())
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == set(tutorial("token.json"))
    assert body["expires_in"] == 3600
    assert body["refresh_expires_in"] == 0
    assert body["token_type"] == "bearer"
    assert len(body["access_token"]) >= 32
    assert api.http.post(TOKEN_PATH, data=token_form()).json()["access_token"] != body["access_token"]
    me = api.http.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200


def test_token_errors_are_keycloak_shaped(api: Api) -> None:
    bad_key = api.http.post(TOKEN_PATH, data=token_form(apikey="wrong"))
    assert bad_key.status_code == 401
    assert bad_key.json() == {"error": "invalid_grant", "error_description": "Invalid API key"}
    bad_grant = api.http.post(TOKEN_PATH, data=token_form(grant_type="password"))
    assert bad_grant.status_code == 400
    assert bad_grant.json()["error"] == "unsupported_grant_type"
    bad_client = api.http.post(TOKEN_PATH, data=token_form(client_id="other"))
    assert bad_client.status_code == 400
    assert bad_client.json()["error"] == "invalid_client"


def test_missing_bad_and_expired_tokens_answer_401(make_sandbox: MakeSandbox, make_api: MakeApi) -> None:
    server = make_sandbox(token_lifetime=0.5)
    api = make_api(server)
    assert api.http.post(TOKEN_PATH, data=token_form()).json()["expires_in"] == 1  # an int, at least 1
    assert_error(api.http.get("/api/v1/me"), 401)
    assert_error(api.http.get("/api/v1/me", headers={"Authorization": "Bearer nope"}), 401, "Invalid")
    api.new_token()
    assert api.get("/api/v1/me").status_code == 200
    time.sleep(0.7)
    expired = assert_error(api.get("/api/v1/me"), 401, "expired")
    assert expired["internalCode"] == "TOKEN_EXPIRED"
    api.new_token()
    assert api.get("/api/v1/me").status_code == 200
