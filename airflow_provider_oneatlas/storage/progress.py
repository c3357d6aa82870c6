"""Progress reporters for the download operator: downloads to local disk, uploads to object stores.

The bytes of a delivery stream from OneAtlas straight into the destination, so for an object store
(S3, GCS, ...) the transfer is an upload as much as a download: its lines say "Uploading ... to
s3://...". The reporter itself lives in the client (:mod:`airflow_provider_oneatlas.client.progress`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_oneatlas.client.progress import TransferProgress


def is_local(root: ObjectStoragePath) -> bool:
    return root.protocol in ("file", "local")


def item_name(item_id: str, root: ObjectStoragePath) -> str:
    """How an item is named in progress lines: with its destination when that is an object store."""
    return item_id if is_local(root) else f"{item_id} to {root}"


def transfer_progress(log: Any, root: ObjectStoragePath, items: int, interval: float) -> TransferProgress:
    """The reporter of the deliveries a task stores under ``root``."""
    verb = "Downloading" if is_local(root) else "Uploading"
    return TransferProgress(log, verb=verb, items=items, interval=interval)


def extraction_progress(
    log: Any, target: ObjectStoragePath, item_id: str, members: Sequence[Any], interval: float
) -> TransferProgress:
    """The reporter of one zip unpacked into ``target``: its files' bytes, in total."""
    progress = TransferProgress(log, verb="Extracting" if is_local(target) else "Uploading", interval=interval)
    progress.begin(f"{item_id} into {target}", sum(int(member.size) for member in members))
    return progress
