"""client/hints.py: errors a new user meets first name what failed and say what to change (the exact
texts, as the hook and the operators raise them)."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from airflow_provider_oneatlas.client.errors import TransportError, ValidationError
from airflow_provider_oneatlas.hooks.oneatlas import OneAtlasHook
from airflow_provider_oneatlas.operators.search import OneAtlasSearchOperator
from airflow_provider_oneatlas.version_compat import AirflowNotFoundException
from tests.conftest import SANDBOX_KEY


def free_port() -> int:
    """A port nothing listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def dead_conn(monkeypatch: pytest.MonkeyPatch) -> str:
    """A connection whose host has nothing listening, with one attempt per request."""
    port = free_port()
    conn = {
        "conn_type": "oneatlas",
        "host": f"http://127.0.0.1:{port}",
        "password": SANDBOX_KEY,
        "extra": {"max_attempts": 1},
    }
    monkeypatch.setenv("AIRFLOW_CONN_ONEATLAS_DEAD", json.dumps(conn))
    return f"http://127.0.0.1:{port}"


def test_nothing_listening_names_the_host_and_the_connection(dead_conn: str) -> None:
    with pytest.raises(TransportError) as caught:
        OneAtlasHook("oneatlas_dead").get_me()
    assert str(caught.value) == (
        f"POST {dead_conn}/auth/realms/IDP/protocol/openid-connect/token failed: ConnectionError "
        f"(ConnectionError, after 1 attempts). Nothing answers at {dead_conn}: check the Host (and any *_url "
        "extras) of the Airflow connection 'oneatlas_dead', and that the server there is running (for the "
        "sandbox: oneatlas-sandbox --port <port>)"
    )


def test_no_connection_says_how_to_create_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_ONEATLAS_NOWHERE", raising=False)
    with pytest.raises(AirflowNotFoundException) as caught:
        _ = OneAtlasHook("oneatlas_nowhere").config
    assert str(caught.value) == (
        "The OneAtlas connection 'oneatlas_nowhere' is not defined. Create it with connection type 'oneatlas' "
        "and your API key as the password: in the UI (Admin > Connections > Add, type 'OneAtlas'), with "
        "`airflow connections add oneatlas_nowhere --conn-type oneatlas --conn-password <API key>`, or as an "
        'environment variable: AIRFLOW_CONN_ONEATLAS_NOWHERE=\'{"conn_type": "oneatlas", "password": '
        "\"<API key>\"}'. See docs/connection.md (the Connection page of the provider's docs)"
    )


def test_an_aoi_rendered_as_text_hints_at_native_rendering(oneatlas_conn: str, context: dict[str, Any]) -> None:
    # What "{{ params.aoi }}" renders to without render_template_as_native_obj: Python's repr.
    rendered = str({"type": "Polygon", "coordinates": [[[1.3, 43.5], [1.4, 43.5], [1.4, 43.6], [1.3, 43.5]]]})
    with pytest.raises(ValidationError) as caught:
        OneAtlasSearchOperator(task_id="search", aoi=rendered).execute(context)
    message = str(caught.value)
    assert message.startswith(
        "aoi: not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1); a "
        "templated AOI rendered as text gives Python's repr, not JSON: set render_template_as_native_obj=True on "
        "the DAG, or render the value as JSON with '| tojson' (e.g. \"{{ params.aoi | tojson }}\")"
    ), message
