"""Extra links: from an order task to its order, from a download task to the stored object.

Airflow 3 computes links on the worker right after ``execute`` and stores them in XCom, so a link
reads the URL the operator recorded on itself while it ran.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperatorLink


class OneAtlasOrderLink(BaseOperatorLink):
    """The order at OneAtlas (its ``_links.self`` URL)."""

    name = "OneAtlas order"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        return str(getattr(operator, "oneatlas_order_url", "") or "")


class OneAtlasStoredObjectLink(BaseOperatorLink):
    """The first stored object, where its store has a URL a browser can open."""

    name = "Stored imagery"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        return str(getattr(operator, "oneatlas_stored_url", "") or "")
