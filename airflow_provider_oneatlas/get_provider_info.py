"""Provider metadata read by Airflow's providers manager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

from airflow_provider_oneatlas import __version__
from airflow_provider_oneatlas.hooks.form import provider_info_form

INTEGRATION = "Airbus OneAtlas"

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
                # The form as Airflow 3.3+ reads it; up to 3.2 it comes from the hook: one source for both.
                **provider_info_form(),
            }
        ],
    }
