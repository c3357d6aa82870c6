"""The ``oneatlas`` connection form, declared once (no Airflow import: provider info reads it too).

Airflow builds the form from two places, depending on the version: up to 3.2 from the hook
(``get_connection_form_widgets``, ``get_ui_field_behaviour``); from 3.3 from the provider info
(``conn-fields``, ``ui-field-behaviour``). Both are generated from this module, so the form reads the
same on every supported Airflow.
"""

from __future__ import annotations

import copy
from typing import Any

from airflow_provider_oneatlas.client.config import SERVICES

#: Extras understood by the connection (anything else is refused, so typos do not pass silently).
CONNECTION_EXTRAS: dict[str, str] = {
    **{
        f"{service}_url": f"base URL of the {service} service; empty for the Base URL or the real host"
        for service in SERVICES
    },
    "connect_timeout": "seconds to wait for a connection (default 10)",
    "read_timeout": "seconds to wait for an answer (default 60)",
    "max_attempts": "attempts for calls that are safe to repeat, never an order (default 5)",
    "backoff_initial": "first backoff delay in seconds (default 0.5)",
    "backoff_max": "longest backoff delay in seconds (default 30)",
    "max_retry_after": "longest Retry-After honoured, in seconds (default 120)",
    "ca_bundle": "path of a CA bundle, for TLS-intercepting proxies (verification cannot be turned off)",
    "trusted_origins": "more origins that may receive the token (comma-separated)",
}

#: The extras shown in the form, in order: key -> (label, JSON type). Empty means the client's default.
FORM_FIELDS: dict[str, tuple[str, str]] = {
    **{f"{service}_url": (f"{service.capitalize()} service URL", "string") for service in SERVICES},
    "connect_timeout": ("Connect timeout (s)", "string"),
    "read_timeout": ("Read timeout (s)", "string"),
    "max_attempts": ("Max attempts", "integer"),
    "ca_bundle": ("CA bundle path", "string"),
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden_fields": ["schema", "login", "port", "extra"],
    # "host" stays in the label: Airflow's own messages (e.g. 3.3's connection test) name it.
    "relabeling": {"password": "API key", "host": "Base URL (host, optional)"},
    "placeholders": {
        "host": "empty for the real OneAtlas hosts, or http://127.0.0.1:8765 for the sandbox",
        "password": "your OneAtlas API key (type it again to test a changed Base URL)",
        "auth_url": "https://authenticate.foundation.api.oneatlas.airbus.com",
        "data_url": "https://data.api.oneatlas.airbus.com",
        "search_url": "https://search.foundation.api.oneatlas.airbus.com",
        "view_url": "https://view.oneatlas.geoapi-airbusds.com",
        "download_url": "https://access.foundation.api.oneatlas.airbus.com",
        "connect_timeout": "10",
        "read_timeout": "60",
        "max_attempts": "5",
    },
}


def description(key: str) -> str:
    """The help text of an extra, as a sentence."""
    text = CONNECTION_EXTRAS[key]
    return text[:1].upper() + text[1:]


def ui_field_behaviour() -> dict[str, Any]:
    """``get_ui_field_behaviour``'s answer (a copy: Airflow may mutate it)."""
    return copy.deepcopy(UI_FIELD_BEHAVIOUR)


def provider_info_form() -> dict[str, Any]:
    """The same form in provider-info terms (``ui-field-behaviour``, ``conn-fields``), read by 3.3+."""
    return {
        "ui-field-behaviour": {key.replace("_", "-"): value for key, value in ui_field_behaviour().items()},
        "conn-fields": {
            key: {"label": label, "description": description(key), "schema": {"type": [kind, "null"]}}
            for key, (label, kind) in FORM_FIELDS.items()
        },
    }
