"""The "OneAtlas order" extra link: a page a person can open, never the API's JSON URL (401)."""

from __future__ import annotations

from typing import Any

import requests

from airflow_provider_oneatlas.client.config import ClientConfig
from airflow_provider_oneatlas.client.order_pages import order_page_url
from airflow_provider_oneatlas.links import OneAtlasOrderLink
from airflow_provider_oneatlas.operators.order import OneAtlasOrderOperator
from airflow_provider_oneatlas.operators.search import OneAtlasSearchOperator
from tests.conftest import TOULOUSE_FIELD


def test_the_order_link_opens_the_sandbox_order_page_in_a_browser(
    oneatlas_conn: str, context: dict[str, Any], sandbox: Any
) -> None:
    images = OneAtlasSearchOperator(task_id="s", aoi=TOULOUSE_FIELD, processing_level="SENSOR", limit=1).execute(
        context
    )
    op = OneAtlasOrderOperator(task_id="order", image_ids=images, aoi=TOULOUSE_FIELD)
    order = op.execute(context)
    url = OneAtlasOrderLink().get_link(op, ti_key=None)
    assert url == f"{sandbox.base_url}/orders/{order['order_id']}"
    # What a browser does: a plain GET, no token.
    page = requests.get(url, timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert order["order_id"] in page.text
    # The API's JSON URL, which the link used to be, answers a browser with 401.
    assert requests.get(f"{sandbox.base_url}/api/v1/orders/{order['order_id']}", timeout=10).status_code == 401


def test_no_link_for_the_real_oneatlas_whose_order_page_url_is_not_known() -> None:
    assert order_page_url(ClientConfig(api_key="k"), "abc-123") is None
    local = ClientConfig.for_base_url("k", "http://localhost:8765")
    assert order_page_url(local, "abc/123") == "http://localhost:8765/orders/abc%2F123"
