"""Typed results of the OneAtlas API.

Each model keeps the answer it was parsed from in ``raw`` (fields the provider does not model are
still at hand) and offers ``to_dict()``: a small JSON-serialisable summary fit for XCom.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_oneatlas.client.query import ORDER_KIND_GB as ORDER_KIND_GB
from airflow_provider_oneatlas.client.query import ORDER_KIND_TILES as ORDER_KIND_TILES
from airflow_provider_oneatlas.client.query import ORDER_KINDS as ORDER_KINDS

DELIVERED = "delivered"
FAILURE_STATUSES = frozenset({"failed", "error", "rejected"})


@dataclass(frozen=True)
class Token:
    access_token: str = field(repr=False)
    expires_in: float
    obtained_at: float = field(default_factory=time.monotonic)
    token_type: str = "bearer"

    def expires_within(self, margin: float, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        # Never keep using a token for more than 90% of its life, whatever the margin says: a
        # sandbox can hand out tokens that live two seconds.
        effective = max(min(margin, self.expires_in * 0.5), self.expires_in * 0.1)
        return now >= self.obtained_at + self.expires_in - effective


@dataclass(frozen=True)
class Account:
    """``/api/v1/me``: who the key belongs to, the contract's balance and private workspace."""

    user_id: str
    contract_id: str
    balance: float
    workspace_id: str
    offers: tuple[str, ...]
    raw: dict[str, Any] = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "contract_id": self.contract_id,
            "balance": self.balance,
            "workspace_id": self.workspace_id,
            "offers": list(self.offers),
        }


@dataclass(frozen=True)
class Subscription:
    id: str
    kind: str
    status: str
    consumption_mode: str | None
    offers: tuple[str, ...]
    streaming_plan: str | None
    amount_consumed: float | None
    amount_max: float | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def is_active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True)
class ImageSummary:
    """One search result, reduced to what pipelines decide on."""

    id: str
    acquisition_date: str | None
    cloud_cover: float | None
    constellation: str | None
    platform: str | None
    processing_level: str | None
    resolution: float | None
    incidence_angle: float | None
    workspace_id: str | None
    footprint: dict[str, Any] | None
    links: dict[str, str]
    raw: dict[str, Any] = field(repr=False, compare=False)
    #: When the image became searchable (hours to days after its acquisition); None if not given.
    publication_date: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "acquisition_date": self.acquisition_date,
            "publication_date": self.publication_date,
            "cloud_cover": self.cloud_cover,
            "constellation": self.constellation,
            "platform": self.platform,
            "processing_level": self.processing_level,
            "resolution": self.resolution,
            "incidence_angle": self.incidence_angle,
            "workspace_id": self.workspace_id,
            "footprint": self.footprint,
            "links": dict(self.links),
        }


@dataclass(frozen=True)
class SearchPage:
    features: tuple[ImageSummary, ...]
    total_results: int
    items_per_page: int
    start_index: int
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class PriceDelivery:
    item_id: str
    credits: float
    area_km2: float
    source_id: str | None


@dataclass(frozen=True)
class Price:
    credits: float
    area_km2: float
    deliveries: tuple[PriceDelivery, ...]
    orderable: str | None
    feasibility: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def is_orderable(self) -> bool:
        return self.orderable in (None, "ok")

    def to_dict(self) -> dict[str, Any]:
        return {
            "credits": self.credits,
            "area_km2": self.area_km2,
            "orderable": self.orderable,
            "feasibility": self.feasibility,
            "deliveries": [
                {"item_id": d.item_id, "credits": d.credits, "area_km2": d.area_km2, "source_id": d.source_id}
                for d in self.deliveries
            ],
        }


@dataclass(frozen=True)
class Delivery:
    id: str | None
    status: str | None
    item_id: str | None
    download_url: str | None
    product: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "item_id": self.item_id,
            "download_url": self.download_url,
        }


@dataclass(frozen=True)
class Order:
    id: str
    status: str
    kind: str | None
    price: float | None
    created_at: str | None
    customer_ref: str | None
    tags: tuple[str, ...]
    message: str | None
    deliveries: tuple[Delivery, ...]
    product_ids: tuple[str, ...]
    #: The order's own address (``_links.self``), where OneAtlas gives one: the task's extra link.
    url: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_delivered(self) -> bool:
        return self.status == DELIVERED

    @property
    def is_failed(self) -> bool:
        return self.status in FAILURE_STATUSES

    @property
    def is_terminal(self) -> bool:
        return self.is_delivered or self.is_failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "kind": self.kind,
            "price": self.price,
            "created_at": self.created_at,
            "customer_ref": self.customer_ref,
            "tags": list(self.tags),
            "message": self.message,
            "product_ids": list(self.product_ids),
            "deliveries": [d.to_dict() for d in self.deliveries],
            "url": self.url,
        }


@dataclass(frozen=True)
class OrderPage:
    orders: tuple[Order, ...]
    total_results: int
    start_index: int
    items_per_page: int


@dataclass(frozen=True)
class TileMatrix:
    identifier: str
    scale_denominator: float
    top_left_corner: tuple[float, float]
    tile_width: int
    tile_height: int
    matrix_width: int
    matrix_height: int


@dataclass(frozen=True)
class WmtsCapabilities:
    layer: str
    style: str
    tile_matrix_set: str
    tile_url_template: str
    image_format: str
    wgs84_bbox: tuple[float, float, float, float] | None
    tile_matrices: tuple[TileMatrix, ...]

    def tile_url(self, zoom: int | str, col: int, row: int) -> str:
        """The URL of one tile, from the ``ResourceURL`` template."""
        return (
            self.tile_url_template.replace("{Style}", self.style)
            .replace("{TileMatrixSet}", self.tile_matrix_set)
            .replace("{TileMatrix}", str(zoom))
            .replace("{TileCol}", str(col))
            .replace("{TileRow}", str(row))
        )


@dataclass(frozen=True)
class DownloadResult:
    url: str
    size: int
    md5: str
    expected_md5: str | None
    content_type: str | None
    filename: str | None
    attempts: int = 1
    resumed_bytes: int = 0

    @property
    def verified(self) -> bool:
        return self.expected_md5 is not None and self.expected_md5 == self.md5
