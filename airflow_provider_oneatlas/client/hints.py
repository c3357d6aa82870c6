"""Hints appended to errors a new user meets first, saying what to change (free of Airflow)."""

from __future__ import annotations

from urllib.parse import urlsplit

#: Where the connection is documented (the docs site's page).
CONNECTION_DOCS = "docs/connection.md"

#: Appended to "not valid JSON" when a template rendered a Python dict as text (single quotes).
NATIVE_RENDERING_HINT = (
    "; a templated AOI rendered as text gives Python's repr, not JSON: set render_template_as_native_obj=True "
    "on the DAG, or render the value as JSON with '| tojson' (e.g. \"{{ params.aoi | tojson }}\")"
)


def json_hint(text: str, error: Exception) -> str:
    """A hint for text that failed to parse as JSON, when it looks like a Python literal."""
    if "Expecting property name enclosed in double quotes" in str(error) or "'" in text[:200]:
        return NATIVE_RENDERING_HINT
    return ""


def unreachable_hint(url: str, source: str) -> str:
    """Appended to a connection refused: which host and where it is set."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    where = source or "the connection"
    return (
        f". Nothing answers at {origin}: check the Host (and any *_url extras) of {where}, and that the "
        "server there is running (for the sandbox: oneatlas-sandbox --port <port>)"
    )


def missing_connection(conn_id: str) -> str:
    """How to create the OneAtlas connection that is not defined."""
    env = "AIRFLOW_CONN_" + conn_id.upper()
    return (
        f"The OneAtlas connection {conn_id!r} is not defined. Create it with connection type 'oneatlas' and "
        f"your API key as the password: in the UI (Admin > Connections > Add, type 'OneAtlas'), with "
        f"`airflow connections add {conn_id} --conn-type oneatlas --conn-password <API key>`, or as an "
        f"environment variable: {env}='{{\"conn_type\": \"oneatlas\", \"password\": \"<API key>\"}}'. "
        f"See {CONNECTION_DOCS} (the Connection page of the provider's docs)"
    )
