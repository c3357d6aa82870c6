"""Provider metadata read by Airflow's providers manager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

from airflow_provider_oneatlas import __version__
from airflow_provider_oneatlas.client.config import SERVICES

INTEGRATION = "Airbus OneAtlas"

_SERVICE_FIELDS = {
    f"{service}_url": {
        "label": f"{service.capitalize()} service URL",
        "description": f"Base URL of the OneAtlas {service} service; empty for the real host or the Base URL.",
        "schema": {"type": ["string", "null"], "format": "uri"},
    }
    for service in SERVICES
}


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-oneatlas",
        "name": INTEGRATION,
        "description": "Search, price, order, wait for and download Airbus OneAtlas satellite imagery.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://oneatlas.airbus.com/",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": INTEGRATION, "python-modules": ["airflow_provider_oneatlas.hooks.oneatlas"]}],
        "operators": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_provider_oneatlas.operators.search",
                    "airflow_provider_oneatlas.operators.price",
                    "airflow_provider_oneatlas.operators.order",
                    "airflow_provider_oneatlas.operators.download",
                    "airflow_provider_oneatlas.operators.quicklook",
                    "airflow_provider_oneatlas.operators.approval",
                ],
            }
        ],
        "sensors": [
            {"integration-name": INTEGRATION, "python-modules": ["airflow_provider_oneatlas.sensors.oneatlas"]}
        ],
        "triggers": [
            {"integration-name": INTEGRATION, "python-modules": ["airflow_provider_oneatlas.triggers.oneatlas"]}
        ],
        "extra-links": [
            "airflow_provider_oneatlas.links.OneAtlasOrderLink",
            "airflow_provider_oneatlas.links.OneAtlasStoredObjectLink",
        ],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_oneatlas.hooks.oneatlas.OneAtlasHook",
                "hook-name": "Airbus OneAtlas",
                "connection-type": "oneatlas",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "port", "extra"],
                    "relabeling": {"password": "API key", "host": "Base URL (optional)"},
                    "placeholders": {
                        "host": "empty for the real OneAtlas hosts, or http://127.0.0.1:8765 for the sandbox",
                        "password": "your OneAtlas API key",
                    },
                },
                "conn-fields": {
                    **_SERVICE_FIELDS,
                    "connect_timeout": {
                        "label": "Connect timeout (s)",
                        "schema": {"type": ["number", "null"], "default": 10},
                    },
                    "read_timeout": {
                        "label": "Read timeout (s)",
                        "schema": {"type": ["number", "null"], "default": 60},
                    },
                    "max_attempts": {
                        "label": "Max attempts",
                        "description": "Attempts for calls that are safe to repeat (never order creation).",
                        "schema": {"type": ["integer", "null"], "default": 5},
                    },
                    "ca_bundle": {
                        "label": "CA bundle path",
                        "description": "For TLS-intercepting proxies. TLS verification cannot be turned off.",
                        "schema": {"type": ["string", "null"]},
                    },
                },
            }
        ],
    }
