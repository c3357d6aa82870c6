"""A run's STAC ItemCollection, and writing STAC JSON into any object store.

Paths are duck-typed (``open``, ``parent``, ``name``, ``rename``, ``exists``, ``read_bytes``):
Airflow's ``ObjectStoragePath`` and ``pathlib.Path`` both fit, so this module needs no Airflow.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import random
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pystac

log = logging.getLogger(__name__)

#: Name of the run's ItemCollection in the destination folder.
ITEM_COLLECTION_NAME = "items.json"


def public_href(path: Any) -> str:
    """The href a reader can open: a plain local path, or ``scheme://bucket/key`` without the
    Airflow connection id that ``ObjectStoragePath`` URLs may carry (``s3://conn@bucket/key``)."""
    protocol = getattr(path, "protocol", None)
    if isinstance(protocol, (list, tuple)):
        protocol = protocol[0] if protocol else None
    inner = getattr(path, "path", None)
    if protocol in (None, "", "file", "local") and inner:
        return str(inner)
    if protocol and inner:
        return f"{protocol}://{str(inner).lstrip('/')}"
    return str(path)


def to_json_bytes(doc: Mapping[str, Any]) -> bytes:
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()


def write_atomically(path: Any, data: bytes) -> None:
    """Write under a temporary name beside ``path`` and rename: readers never see a half-written file."""
    partial = path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.partial"
    try:
        with partial.open("wb") as sink:
            sink.write(data)
        partial.rename(path)
    except BaseException:
        with contextlib.suppress(Exception):
            partial.unlink()
        raise


def copy_atomically(path: Any, local_file: Any) -> tuple[int, str]:
    """Stream a local file to ``path`` (temporary name, then rename); its size and md5."""
    digest = hashlib.md5()  # noqa: S324 - the checksum STAC records, not a security use
    size = 0
    partial = path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.partial"
    try:
        with open(local_file, "rb") as source, partial.open("wb") as sink:
            while block := source.read(8 * 1024 * 1024):
                digest.update(block)
                size += len(block)
                sink.write(block)
        partial.rename(path)
    except BaseException:
        with contextlib.suppress(Exception):
            partial.unlink()
        raise
    return size, digest.hexdigest()


def item_document(item: pystac.Item) -> dict[str, Any]:
    """The item as JSON, hrefs kept as given (absolute: they point at the stored objects)."""
    return item.to_dict(include_self_link=True, transform_hrefs=False)


def item_collection_document(items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of STAC items, as STAC APIs and ``pystac.ItemCollection`` read it."""
    return {"type": "FeatureCollection", "features": [dict(item) for item in items]}


def merge_item_collection(existing: Mapping[str, Any] | None, items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``existing`` with ``items`` added, an item of the same id replaced (a retried task, a re-run)."""
    new_ids = {item["id"] for item in items}
    kept = [
        feature
        for feature in ((existing or {}).get("features") or [])
        if isinstance(feature, Mapping) and feature.get("id") not in new_ids
    ]
    return item_collection_document([*kept, *items])


def read_json(path: Any) -> dict[str, Any] | None:
    """A JSON object from ``path``, ``None`` when it is missing or not a JSON object."""
    try:
        if not path.exists():
            return None
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def write_item_collection(
    path: Any, items: Sequence[Mapping[str, Any]], *, merge: bool = True, attempts: int = 5
) -> None:
    """Write ``items`` as the ItemCollection at ``path``, merged into the one already there.

    Object stores have no locks: two tasks merging into one folder at the same moment could each
    drop the other's items. So the file is read back, and the merge repeated (after a random pause)
    until it holds every item written here; the asset event lists each task's item hrefs anyway.
    """
    wanted = {item["id"] for item in items}
    for attempt in range(attempts):
        doc = merge_item_collection(read_json(path) if merge else None, items)
        write_atomically(path, to_json_bytes(doc))
        if not merge:
            return
        time.sleep(random.uniform(0.02, 0.1))  # a concurrent writer shows up in the read-back
        present = {f.get("id") for f in (read_json(path) or {}).get("features") or [] if isinstance(f, Mapping)}
        if wanted <= present:
            return
        log.info("%s lost items to a concurrent writer; merging again (%d)", path, attempt + 1)
    raise RuntimeError(f"{path}: could not merge {len(wanted)} items in {attempts} attempts (concurrent writers)")


def load_item_collection(href: str) -> pystac.ItemCollection:
    """The ItemCollection at ``href`` (a local path or URL pystac can read)."""
    import pystac

    return pystac.ItemCollection.from_file(href)


def write_search_items(path: Any, features: Iterable[Mapping[str, Any]]) -> int:
    """Write catalogue search results as an ItemCollection at ``path`` (replacing it); how many items.

    A result that cannot be an Item (no footprint or no acquisition date) is left out with a warning.
    """
    from airflow_provider_oneatlas.stac.items import search_item

    documents = []
    for feature in features:
        try:
            documents.append(item_document(search_item(feature)))
        except ValueError as exc:
            log.warning("Search result left out of the STAC items: %s", exc)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, to_json_bytes(item_collection_document(documents)))
    return len(documents)
