"""What the OneAtlas operators share: the connection id, a lazy hook, and the product parameters."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow_provider_oneatlas.client import query
from airflow_provider_oneatlas.hooks.oneatlas import OneAtlasHook
from airflow_provider_oneatlas.utils.arguments import is_templated
from airflow_provider_oneatlas.version_compat import BaseOperator


class OneAtlasBaseOperator(BaseOperator):
    """Base of the OneAtlas operators.

    :param oneatlas_conn_id: the OneAtlas connection (type ``oneatlas``; templated, so a DAG Param can
        choose it).
    """

    def __init__(self, *, oneatlas_conn_id: str = OneAtlasHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.oneatlas_conn_id = oneatlas_conn_id

    @cached_property
    def hook(self) -> OneAtlasHook:
        return OneAtlasHook(oneatlas_conn_id=self.oneatlas_conn_id)


class OneAtlasProductOperator(OneAtlasBaseOperator):
    """Parameters shared by pricing and ordering: the images, the AOI and the product options.

    Plain values are checked at DAG parse time by the same checks ``ProductSpec`` runs before a
    request; templated ones when the task runs.
    """

    _product_fields: Sequence[str] = (
        "oneatlas_conn_id",
        "image_ids",
        "aoi",
        "product_type",
        "radiometric_processing",
        "image_format",
        "crs_code",
    )

    def __init__(
        self,
        *,
        image_ids: Any,
        aoi: Any,
        product_type: str = "bundle",
        radiometric_processing: str = "REFLECTANCE",
        image_format: str = "image/jp2",
        crs_code: str = "urn:ogc:def:crs:EPSG::4326",
        kind: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.image_ids = image_ids
        self.aoi = aoi
        self.product_type = product_type
        self.radiometric_processing = radiometric_processing
        self.image_format = image_format
        self.crs_code = crs_code
        self.kind = kind
        # Options are checked at parse time when they are plain values (no geometry library needed).
        for value, check in (
            (product_type, query.check_product_type),
            (image_format, query.check_image_format),
            (kind, query.check_kind),
            (radiometric_processing, query.check_radiometric_processing),
            (crs_code, query.check_crs_code),
        ):
            if value is not None and not is_templated(value):
                check(value)
        if not is_templated(image_ids):
            query.check_image_ids(image_ids)

    def products(self) -> list[query.ProductSpec]:
        return [
            query.ProductSpec(
                item_id=item_id,
                aoi=self.aoi,
                product_type=self.product_type,
                radiometric_processing=self.radiometric_processing,
                image_format=self.image_format,
                crs_code=self.crs_code,
            )
            for item_id in query.check_image_ids(self.image_ids)
        ]
