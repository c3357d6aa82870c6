"""Extra links: from an order task to its order, from a download task to the stored object.

Airflow 3 computes links on the worker right after ``execute`` and stores them in XCom, so a link
reads the URL the operator recorded on itself while it ran.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperatorLink


class OneAtlasOrderLink(BaseOperatorLink):
    """A page a person can open for the order: the sandbox's readable order page; none for the real
    OneAtlas, whose web application has no documented URL per order (the API's own order URL answers
    a browser with 401). See :mod:`airflow_provider_oneatlas.client.order_pages`."""

    name = "OneAtlas order"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        return str(getattr(operator, "oneatlas_order_url", "") or "")


class OneAtlasStoredObjectLink(BaseOperatorLink):
    """The first stored object, where its store has a URL a browser can open."""

    name = "Stored imagery"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        return str(getattr(operator, "oneatlas_stored_url", "") or "")
