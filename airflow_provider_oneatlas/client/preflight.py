"""Preflight: what can be checked before an order is checked before it, so no credit is spent on an
order that cannot succeed (the destination is checked by the Airflow layer, ``storage/destination.py``).

- the order ``kind`` is one the contract and its active subscriptions offer;
- each image can be ordered with the product options: ``processingLevel`` SENSOR, and the
  ``-fs`` product types (``bundle-fs``, ``pansharpened-fs``) only for Pleiades Neo (``PNEO``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_oneatlas.client.errors import ValidationError
from airflow_provider_oneatlas.client.query import ORDER_KINDS, ProductSpec

if TYPE_CHECKING:
    from airflow_provider_oneatlas.client.client import OneAtlasClient
    from airflow_provider_oneatlas.client.models import Account, Subscription

#: Product types that exist only for Pleiades Neo images.
NEO_ONLY_PRODUCT_TYPES = ("bundle-fs", "pansharpened-fs")
NEO_CONSTELLATION = "PNEO"


def allowed_kinds(account: Account, subscriptions: Sequence[Subscription]) -> set[str]:
    """Order kinds the contract's offers and its active subscriptions' offers allow."""
    offers = set(account.offers)
    for sub in subscriptions:
        if sub.is_active:
            offers.update(sub.offers)
    return {kind for kind in ORDER_KINDS if kind in offers}


def check_kind(kind: str, account: Account, subscriptions: Sequence[Subscription]) -> None:
    allowed = allowed_kinds(account, subscriptions)
    if allowed and kind not in allowed:
        raise ValidationError(
            "kind",
            f"{kind!r} is not allowed by your contract and subscriptions",
            "one of " + ", ".join(sorted(allowed)) + ", or leave kind unset to let the subscription decide",
        )


def _field(image: Any, name: str, raw_name: str) -> Any:
    if isinstance(image, Mapping):
        if name in image:
            return image[name]
        return (image.get("properties") or {}).get(raw_name)
    return getattr(image, name, None)


def check_products_fit(products: Sequence[ProductSpec], images: Mapping[str, Any]) -> None:
    """Raise :class:`ValidationError` (naming the product option and the fix) when an image cannot be
    ordered with its options. ``images`` maps image id to a search summary (dict or ImageSummary)."""
    for product in products:
        image = images.get(product.item_id)
        if image is None:
            raise ValidationError(
                "image_ids", f"image {product.item_id} is not in the catalogue", "ids of images the search returned"
            )
        level = _field(image, "processing_level", "processingLevel")
        if level is not None and str(level).upper() != "SENSOR":
            raise ValidationError(
                "image_ids",
                f"image {product.item_id} has processing level {level}: only SENSOR images can be ordered",
                "search with processing_level='SENSOR'",
            )
        constellation = _field(image, "constellation", "constellation")
        if product.product_type in NEO_ONLY_PRODUCT_TYPES and str(constellation or "").upper() != NEO_CONSTELLATION:
            raise ValidationError(
                "product_type",
                f"{product.product_type!r} exists only for Pleiades Neo images; image {product.item_id} is "
                f"{constellation or 'of an unknown constellation'}",
                "bundle or pansharpened for SPOT and Pleiades, or search with constellation='PNEO'",
            )


def lookup_images(client: OneAtlasClient, image_ids: Sequence[str]) -> dict[str, Any]:
    """The catalogue's summary of each of ``image_ids`` (absent ones are missing from the result)."""
    from airflow_provider_oneatlas.client.query import SearchQuery

    found: dict[str, Any] = {}
    ids = list(dict.fromkeys(image_ids))
    for start in range(0, len(ids), 100):
        chunk = ids[start : start + 100]
        page = client.search(SearchQuery(extra={"id": ",".join(chunk)}, items_per_page=max(len(chunk), 1)))
        for feature in page.features:
            if feature.id in chunk:
                found[feature.id] = feature
    return found


def preflight(
    client: OneAtlasClient,
    products: Sequence[ProductSpec],
    *,
    kind: str | None,
    account: Account,
    images: Mapping[str, Any] | None = None,
) -> str:
    """Check the order kind and the products against the account and the catalogue; return the kind
    to order with (the subscription's when ``kind`` is None)."""
    subscriptions = client.get_subscriptions(account.contract_id)
    from airflow_provider_oneatlas.client.api import order_kind_for

    chosen = kind or order_kind_for(subscriptions, account)
    check_kind(chosen, account, subscriptions)
    known = dict(images or {})
    missing = [p.item_id for p in products if p.item_id not in known]
    if missing:
        known.update(lookup_images(client, missing))
    check_products_fit(products, known)
    return chosen
