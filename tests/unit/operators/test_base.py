"""operators/base.py: the connection id, a lazy hook, and product parameters checked at parse time
(plain values) or at run time (templated ones) by the same checks ``ProductSpec`` runs."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_oneatlas.client.errors import ValidationError
from airflow_provider_oneatlas.client.query import ProductSpec
from airflow_provider_oneatlas.hooks.oneatlas import OneAtlasHook
from airflow_provider_oneatlas.operators.base import OneAtlasBaseOperator, OneAtlasProductOperator
from tests.conftest import TOULOUSE_FIELD

ITEM = "e459d653-468f-471b-8d6e-90b13b14c655"


def test_the_hook_is_made_on_first_use_for_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []
    original = OneAtlasHook.__init__

    def spy(self: OneAtlasHook, *args: Any, **kwargs: Any) -> None:
        made.append(kwargs.get("oneatlas_conn_id", args[0] if args else None))
        original(self, *args, **kwargs)

    monkeypatch.setattr(OneAtlasHook, "__init__", spy)
    op = OneAtlasBaseOperator(task_id="t", oneatlas_conn_id="my_oneatlas")
    assert made == []  # nothing at parse time
    assert op.hook is op.hook and made == ["my_oneatlas"]
    assert OneAtlasBaseOperator(task_id="t").oneatlas_conn_id == "oneatlas_default"


def test_products_are_what_product_spec_builds() -> None:
    op = OneAtlasProductOperator(
        task_id="p",
        image_ids=[{"id": ITEM}, "abc-123"],
        aoi=TOULOUSE_FIELD,
        product_type="pansharpened",
        radiometric_processing="DISPLAY",
    )
    assert op.products() == [
        ProductSpec(item_id=ITEM, aoi=TOULOUSE_FIELD, product_type="pansharpened", radiometric_processing="DISPLAY"),
        ProductSpec(
            item_id="abc-123", aoi=TOULOUSE_FIELD, product_type="pansharpened", radiometric_processing="DISPLAY"
        ),
    ]
    assert op.products()[0].to_payload()["radiometricProcessing"] == "DISPLAY"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"product_type": "bundel"}, "product_type"),
        ({"radiometric_processing": "REFLECTANSE"}, "radiometric_processing"),
        ({"image_format": "image/png"}, "image_format"),
        ({"kind": "productOrder"}, "kind"),
        ({"crs_code": "EPSG:4326"}, "crs_code"),
        ({"image_ids": []}, "image_ids"),
    ],
)
def test_plain_values_are_checked_at_parse_time(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        OneAtlasProductOperator(**({"task_id": "p", "image_ids": [ITEM], "aoi": TOULOUSE_FIELD} | kwargs))
    assert err.value.field == field


def test_templated_values_wait_for_run_time() -> None:
    op = OneAtlasProductOperator(
        task_id="p", image_ids="{{ ti.xcom_pull('search') }}", aoi=TOULOUSE_FIELD, product_type="{{ params.pt }}"
    )
    op.image_ids, op.product_type = [ITEM], "bundel"  # as rendered
    with pytest.raises(ValidationError) as err:
        op.products()[0].to_payload()
    assert err.value.field == "product_type"
