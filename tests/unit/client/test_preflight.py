"""Preflight: an order kind the subscription does not allow, or product options an image does not
offer, are refused before anything is priced or ordered (the sandbox's request log shows none)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_oneatlas.client.errors import ValidationError
from airflow_provider_oneatlas.client.preflight import check_products_fit
from airflow_provider_oneatlas.client.query import ProductSpec, SearchQuery
from tests.conftest import TOULOUSE_FIELD
from tests.e2e.conftest import sandbox_get
from tests.unit.client.helpers import client_for, ledger


def money_requests(sandbox: Any) -> list[str]:
    log = sandbox_get(sandbox.base_url, "/_sandbox/requests")["requests"]
    return [r["path"] for r in log if r.get("method") == "POST" and r.get("path", "").endswith(("/orders", "/prices"))]


def test_neo_only_product_types_need_a_pleiades_neo_image() -> None:
    spot = {"id": "a", "constellation": "SPOT", "processing_level": "SENSOR"}
    neo = {"id": "b", "constellation": "PNEO", "processing_level": "SENSOR"}
    check_products_fit([ProductSpec(item_id="b", aoi=TOULOUSE_FIELD, product_type="bundle-fs")], {"b": neo})
    with pytest.raises(ValidationError) as error:
        check_products_fit([ProductSpec(item_id="a", aoi=TOULOUSE_FIELD, product_type="pansharpened-fs")], {"a": spot})
    assert error.value.field == "product_type" and "Pleiades Neo" in str(error.value) and "SPOT" in str(error.value)


def test_only_sensor_images_can_be_ordered() -> None:
    ortho = {"id": "a", "constellation": "PHR", "processing_level": "ORTHO"}
    with pytest.raises(ValidationError, match=r"processing level ORTHO.*processing_level='SENSOR'"):
        check_products_fit([ProductSpec(item_id="a", aoi=TOULOUSE_FIELD)], {"a": ortho})
    with pytest.raises(ValidationError, match="not in the catalogue"):
        check_products_fit([ProductSpec(item_id="zz", aoi=TOULOUSE_FIELD)], {})


@pytest.fixture
def sandbox_config() -> dict[str, Any]:
    return {"catalog_size": 400}


def test_a_fs_product_on_a_spot_image_sends_no_price_and_no_order(sandbox: Any) -> None:
    client = client_for(sandbox)
    found = client.search(SearchQuery(aoi=TOULOUSE_FIELD, processing_level="SENSOR", items_per_page=50)).features
    spot = next(f for f in found if f.constellation != "PNEO")
    with pytest.raises(ValidationError, match="exists only for Pleiades Neo"):
        # No summaries given: the preflight looks the image up in the catalogue by id.
        client.place_order(
            [ProductSpec(item_id=spot.id, aoi=TOULOUSE_FIELD, product_type="bundle-fs")], customer_ref="fs"
        )
    assert money_requests(sandbox) == [] and ledger(sandbox)["orders"] == []
    neo = [f for f in found if f.constellation == "PNEO"]
    if neo:  # the same option on a Neo image goes through
        placed = client.place_order(
            [ProductSpec(item_id=neo[0].id, aoi=TOULOUSE_FIELD, product_type="bundle-fs")], customer_ref="neo"
        )
        assert placed.order is not None


def test_a_kind_the_subscription_does_not_allow_is_refused_before_pricing(sandbox: Any) -> None:
    client = client_for(sandbox)
    found = client.search(SearchQuery(aoi=TOULOUSE_FIELD, processing_level="SENSOR", items_per_page=5)).features
    # Neither the contract nor the subscription offers this kind (the sandbox would refuse the POST).
    with pytest.raises(ValidationError) as error:
        client.place_order(
            [ProductSpec(item_id=found[0].id, aoi=TOULOUSE_FIELD)], customer_ref="gb", kind="order.data.product"
        )
    assert error.value.field == "kind" and "order.product" in str(error.value)
    assert money_requests(sandbox) == [] and ledger(sandbox)["orders"] == []
