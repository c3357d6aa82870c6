"""STAC Items beside stored deliveries: what the download operator calls once its objects are in place.

For each stored delivery it gathers the three sources of the item (the DIMAP file read back from the
stored zip or the extracted folder, the delivered item's catalogue feature found by a search on its id,
and the order), writes ``<destination>/<item id>.json`` and merges every item into the run's
``<destination>/items.json`` ItemCollection. Only the hook's public calls are used, and paths are
duck-typed (``ObjectStoragePath`` in the operator, ``pathlib.Path`` in tests), so nothing here imports
Airflow.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_oneatlas.client.errors import OneAtlasError
from airflow_provider_oneatlas.stac.collections import (
    ITEM_COLLECTION_NAME,
    item_document,
    public_href,
    to_json_bytes,
    write_atomically,
    write_item_collection,
)
from airflow_provider_oneatlas.stac.dimap import (
    DimapError,
    DimapMetadata,
    is_dimap_name,
    parse_dimap,
    read_dimap_from_zip,
)
from airflow_provider_oneatlas.stac.items import OrderInfo, StoredFile, delivery_item

log = logging.getLogger(__name__)


def catalogue_feature(hook: Any, item_id: str) -> dict[str, Any] | None:
    """The catalogue feature of ``item_id`` (OpenSearch ``id`` filter), ``None`` when search fails or
    does not find it: the DIMAP file still describes the delivery."""
    try:
        page = hook.search(extra={"id": item_id}, items_per_page=10)
    except OneAtlasError as exc:
        log.warning("Could not look up item %s in the catalogue (%s): its STAC item uses the DIMAP only", item_id, exc)
        return None
    for feature in page.features:
        if feature.id == item_id:
            return dict(feature.raw)
    log.warning("Item %s is not found by a catalogue search on its id: its STAC item uses the DIMAP only", item_id)
    return None


def order_info(order: Any, item_id: str) -> OrderInfo:
    """Order id, price and the ordered product (the delivery's ``datas``) of ``item_id``."""
    product: Mapping[str, Any] = {}
    for delivery in getattr(order, "deliveries", ()) or ():
        if delivery.item_id == item_id:
            product = delivery.product
            break
    return OrderInfo(order_id=order.id, credits=order.price, product=dict(product))


def _dimap_of_zip(path: Any, item_id: str) -> DimapMetadata | None:
    try:
        with path.open("rb") as source:
            found = read_dimap_from_zip(source)
    except (OSError, ValueError) as exc:  # zipfile.BadZipFile and DimapError are ValueErrors or OSErrors
        log.warning("Could not read the DIMAP metadata of %s (%s)", item_id, exc)
        return None
    return found[1] if found else None


def _dimap_of_folder(folder: Any, names: Sequence[str], item_id: str) -> DimapMetadata | None:
    dimaps = sorted(name for name in names if is_dimap_name(name))
    if not dimaps:
        return None
    try:
        return parse_dimap((folder / dimaps[0]).read_bytes())
    except (OSError, DimapError) as exc:
        log.warning("Could not read the DIMAP metadata of %s (%s)", item_id, exc)
        return None


def write_delivery_items(
    hook: Any, root: Any, stored: list[dict[str, Any]], *, order: Any = None, cog: bool = False
) -> dict[str, Any]:
    """Write a STAC item beside each stored delivery and the run's ItemCollection.

    ``stored`` is the download operator's result (``item_id``, ``path``, ``size``, ``md5``, and
    ``files`` when extracted); each entry gains ``"stac_item"``, the href of its item (or
    ``"stac_error"`` when neither the DIMAP nor the catalogue describes it). With ``cog``, the images
    of extracted deliveries are converted to Cloud-Optimized GeoTIFFs added to the items (``"cogs"``:
    their hrefs; ``"cog_error"`` when a conversion fails). Returns
    ``{"items": [hrefs], "collection": href}``.
    """
    orders: dict[str, Any] = {order.id: order} if order is not None else {}
    documents, hrefs = [], []
    for entry in stored:
        item_id = entry["item_id"]
        if "files" in entry:
            folder = root / item_id
            prefix = str(folder).rstrip("/") + "/"
            names = [str(f["path"]).removeprefix(prefix) for f in entry["files"]]
            files = [
                StoredFile(href=public_href(folder / name), size=f.get("size"), name=name)
                for name, f in zip(names, entry["files"], strict=True)
            ]
            dimap = _dimap_of_folder(folder, names, item_id)
        else:
            archive = root / f"{item_id}.zip"
            files = [
                StoredFile(href=public_href(archive), size=entry.get("size"), md5=entry.get("md5"), name=archive.name)
            ]
            dimap = _dimap_of_zip(archive, item_id)
        feature = catalogue_feature(hook, item_id)
        this_order = order
        order_id = ((feature or {}).get("properties") or {}).get("orderId")
        if this_order is None and isinstance(order_id, str):
            if order_id not in orders:
                try:
                    orders[order_id] = hook.get_order(order_id)
                except OneAtlasError as exc:
                    log.warning("Could not read order %s of item %s (%s)", order_id, item_id, exc)
                    orders[order_id] = None
            this_order = orders[order_id]
        target = root / f"{item_id}.json"
        try:
            item = delivery_item(
                item_id,
                stored=files,
                feature=feature,
                dimap=dimap,
                order=order_info(this_order, item_id) if this_order is not None else None,
                self_href=public_href(target),
            )
        except ValueError as exc:
            # The delivery itself is stored and verified: a missing STAC item must not undo it, nor
            # make a retry download again; the entry says why it has no item.
            log.warning("No STAC item for %s: %s", item_id, exc)
            entry["stac_error"] = str(exc)
            continue
        if cog and "files" in entry:
            from airflow_provider_oneatlas.stac.cog import add_cog_assets

            images = {public_href(folder / name): folder / name for name in names}
            try:
                entry["cogs"] = add_cog_assets(item, images)
            except Exception as exc:  # GDAL raises many kinds; the extracted delivery stays valid
                log.warning("No Cloud-Optimized GeoTIFF for %s: %s", item_id, exc)
                entry["cog_error"] = str(exc)
        document = item_document(item)
        write_atomically(target, to_json_bytes(document))
        entry["stac_item"] = public_href(target)
        documents.append(document)
        hrefs.append(entry["stac_item"])
    collection = root / ITEM_COLLECTION_NAME
    write_item_collection(collection, documents)
    log.info("Wrote %d STAC items and the ItemCollection %s", len(documents), public_href(collection))
    return {"items": hrefs, "collection": public_href(collection)}
