"""``OneAtlasPriceOperator``: what images over an AOI would cost, without ordering."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context

from airflow_provider_oneatlas.operators.base import OneAtlasProductOperator


class OneAtlasPriceOperator(OneAtlasProductOperator):
    """Prices one or more images over an AOI.

    :param image_ids: an image id, a list of ids, or the search operator's result (templated).
    :param aoi: the area to cut from each image (any AOI form; templated).
    :param product_type: ``bundle`` (default), ``pansharpened``, ``bundle-fs``, ``pansharpened-fs``.
    :param radiometric_processing: ``REFLECTANCE`` (default), ``DISPLAY``, ``BASIC16``.
    :param image_format: ``image/jp2`` (default) or ``image/geotiff``.
    :param crs_code: ``urn:ogc:def:crs:EPSG::4326`` (default) or a UTM code.
    :param kind: the order kind; default: the one the subscription requires.

    Returns ``{"credits", "area_km2", "orderable", "feasibility", "deliveries", "image_ids"}``.
    """

    template_fields: Sequence[str] = (*OneAtlasProductOperator._product_fields, "kind")
    template_fields_renderers = {"aoi": "json"}
    ui_color = "#ffd27f"

    def execute(self, context: Context) -> dict[str, Any]:
        products = self.products()
        price = self.hook.get_price(products, kind=self.kind)
        self.log.info("OneAtlas price: %g credits for %.2f km2", price.credits, price.area_km2)
        return price.to_dict() | {"image_ids": [p.item_id for p in products]}
