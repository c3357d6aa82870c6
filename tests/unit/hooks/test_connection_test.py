"""The Test button with the API key left masked (``***``), on every Airflow version.

3.0 passes the mask to the hook; 3.3 refuses a changed host (Base URL) with a masked key before the
hook runs (checked against 3.3's real API route below). The hook itself must never send the mask as a
key: it says to type the key again, and the sandbox sees no request.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_oneatlas.hooks.connection_test import MASKED_API_KEY_MESSAGE, is_masked_api_key
from airflow_provider_oneatlas.hooks.oneatlas import OneAtlasHook
from airflow_provider_oneatlas.version_compat import AIRFLOW_V_3_3_PLUS
from tests.conftest import SANDBOX_KEY


def _request_count(sandbox: Any) -> int:
    return int(sandbox.state.request_count)  # read in-process: a control request would count itself


@pytest.mark.parametrize("password", ["***", " *** "])
def test_a_masked_key_is_not_sent_and_the_message_says_what_to_do(
    sandbox: Any, monkeypatch: pytest.MonkeyPatch, password: str
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_MASKED", json.dumps({"conn_type": "oneatlas", "host": sandbox.base_url, "password": password})
    )
    before = _request_count(sandbox)
    ok, message = OneAtlasHook("masked").test_connection()
    assert not ok
    assert message == MASKED_API_KEY_MESSAGE
    assert "API key" in message and "again" in message
    assert _request_count(sandbox) == before, "the mask was sent to the sandbox"


def test_a_real_key_is_not_mistaken_for_the_mask(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert not is_masked_api_key(SANDBOX_KEY) and not is_masked_api_key("a***b") and not is_masked_api_key(None)
    monkeypatch.setenv(
        "AIRFLOW_CONN_REAL", json.dumps({"conn_type": "oneatlas", "host": sandbox.base_url, "password": SANDBOX_KEY})
    )
    ok, message = OneAtlasHook("real").test_connection()
    assert ok, message


def test_the_form_names_the_host_and_asks_for_the_key_again() -> None:
    behaviour = OneAtlasHook.get_ui_field_behaviour()
    assert "host" in behaviour["relabeling"]["host"] and "Base URL" in behaviour["relabeling"]["host"]
    assert "again" in behaviour["placeholders"]["password"]


@pytest.mark.skipif(not AIRFLOW_V_3_3_PLUS, reason="the route's host check is new in Airflow 3.3")
def test_airflow_3_3_refuses_a_changed_base_url_with_a_masked_key() -> None:
    """3.3's own rule, which the form's wording relies on: same check the API route makes."""
    from airflow.api_fastapi.core_api.datamodels.connections import ConnectionBody
    from airflow.api_fastapi.core_api.routes.public import connections as route

    changed = ConnectionBody.model_validate(
        {"connection_id": "oneatlas_default", "conn_type": "oneatlas", "host": "https://other.example",
         "password": "***"}
    )
    assert not route._same_endpoint(changed.host, "http://127.0.0.1:8765")
    assert not route._supplies_own_credentials(changed), "3.3 would reuse the stored key for another host"
    typed = changed.model_copy(update={"password": SANDBOX_KEY})
    typed.__pydantic_fields_set__.add("password")
    assert route._supplies_own_credentials(typed)
