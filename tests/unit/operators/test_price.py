"""OneAtlasPriceOperator against the sandbox."""

from __future__ import annotations

from typing import Any

from airflow_provider_oneatlas.operators.price import OneAtlasPriceOperator
from tests.conftest import TOULOUSE_FIELD
from tests.helpers import search


def test_price(oneatlas_conn: str, context: dict[str, Any]) -> None:
    images = search(context, limit=2)
    result = OneAtlasPriceOperator(task_id="price", image_ids=images, aoi=TOULOUSE_FIELD).execute(context)
    assert result["credits"] > 0 and result["area_km2"] > 0 and result["image_ids"] == [i["id"] for i in images]
    assert len(result["deliveries"]) == 2
