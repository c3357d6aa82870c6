"""links.py: the extra links read the URL the operator recorded while it ran, and are declared."""

from __future__ import annotations

from typing import Any

from airflow_provider_oneatlas.get_provider_info import get_provider_info
from airflow_provider_oneatlas.links import OneAtlasOrderLink, OneAtlasStoredObjectLink
from airflow_provider_oneatlas.operators.download import OneAtlasDownloadOperator
from airflow_provider_oneatlas.operators.order import OneAtlasOrderOperator
from tests.conftest import TOULOUSE_FIELD
from tests.helpers import search


def test_links_read_what_the_operator_recorded() -> None:
    class Ran:
        oneatlas_order_url = "http://127.0.0.1:8765/orders/abc-123"
        oneatlas_stored_url = "https://bucket.example/imagery/abc-123.zip"

    assert OneAtlasOrderLink().get_link(Ran(), ti_key=None) == Ran.oneatlas_order_url
    assert OneAtlasStoredObjectLink().get_link(Ran(), ti_key=None) == Ran.oneatlas_stored_url


def test_no_url_recorded_is_no_link() -> None:
    op = OneAtlasOrderOperator(task_id="o", image_ids=["abc-123"], aoi=TOULOUSE_FIELD)
    assert OneAtlasOrderLink().get_link(op, ti_key=None) == ""
    assert OneAtlasStoredObjectLink().get_link(object(), ti_key=None) == ""


def test_the_operators_carry_their_links_and_the_provider_declares_them() -> None:
    assert any(isinstance(link, OneAtlasOrderLink) for link in OneAtlasOrderOperator.operator_extra_links)
    assert any(isinstance(link, OneAtlasStoredObjectLink) for link in OneAtlasDownloadOperator.operator_extra_links)
    declared = get_provider_info()["extra-links"]
    assert "airflow_provider_oneatlas.links.OneAtlasOrderLink" in declared
    assert "airflow_provider_oneatlas.links.OneAtlasStoredObjectLink" in declared


def test_an_order_task_links_to_its_order(oneatlas_conn: str, context: dict[str, Any], sandbox: Any) -> None:
    op = OneAtlasOrderOperator(task_id="order", image_ids=search(context, limit=1), aoi=TOULOUSE_FIELD)
    result = op.execute(context)
    link = OneAtlasOrderLink().get_link(op, ti_key=None)
    # The sandbox's readable order page, not the API's JSON URL (a browser gets 401 there).
    assert link == f"{sandbox.base_url}/orders/{result['order_id']}"
