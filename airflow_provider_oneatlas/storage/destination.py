"""Destinations for imagery, and staged writes: nothing incomplete ever carries a final name.

A destination is any ``ObjectStoragePath`` (local disk, S3, GCS, ...), checked before anything is
ordered or downloaded. Every object is written under a temporary ``.partial`` name beside its final
one and renamed only when complete; on S3 a download streams into a multipart upload instead,
completed only when complete (:mod:`~airflow_provider_oneatlas.storage.s3`).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import IO, Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_oneatlas.client.errors import ValidationError
from airflow_provider_oneatlas.storage.s3 import open_sink as s3_sink

DESTINATION_ACCEPTED = (
    "an ObjectStoragePath, an absolute local path, or a URL such as file:///data/imagery/ or "
    "s3://aws_conn_id@bucket/prefix/"
)

#: What a destination that has the right form but cannot be written needs.
WRITABLE_FOLDER = "a folder the worker can create and write to, on local disk or in an object store"


def to_destination(value: Any) -> ObjectStoragePath:
    """Where to store: an ``ObjectStoragePath``, an absolute path, or an object-store URL."""
    if isinstance(value, ObjectStoragePath):
        return value
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("destination", f"{value!r} is not a destination", DESTINATION_ACCEPTED)
    text = value.strip()
    if "://" not in text:
        if not os.path.isabs(text):
            raise ValidationError("destination", f"{value!r} is a relative path", DESTINATION_ACCEPTED)
        text = "file://" + text
    scheme = text.split("://", 1)[0]
    if not scheme.isalnum():
        raise ValidationError("destination", f"{value!r} has no valid URL scheme", DESTINATION_ACCEPTED)
    import fsspec

    try:
        fsspec.get_filesystem_class(scheme)
    except ValueError:
        raise ValidationError(
            "destination", f"no object store is known for {scheme}://", DESTINATION_ACCEPTED
        ) from None
    except ImportError:
        pass  # a known store whose package is only installed on the workers: checked when the task runs
    try:
        return ObjectStoragePath(text)
    except Exception as exc:  # fsspec raises many kinds for unknown schemes
        raise ValidationError("destination", f"{value!r} cannot be opened: {exc}", DESTINATION_ACCEPTED) from None


def prepare_destination(value: Any) -> ObjectStoragePath:
    """The destination folder, checked and created, or a ``ValidationError`` naming it."""
    root = to_destination(value)
    _check_writable(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError) as exc:
        raise ValidationError("destination", f"{root} cannot be created: {exc}", WRITABLE_FOLDER) from None
    return root


def _check_writable(root: ObjectStoragePath) -> None:
    if root.protocol in ("file", "local"):
        path = root.path
        probe = path
        while probe and not os.path.exists(probe):
            probe = os.path.dirname(probe)
        if probe and not os.path.isdir(probe):
            raise ValidationError(
                "destination", f"{root} cannot be a folder: {probe} is a file, not a directory", WRITABLE_FOLDER
            )
        if probe and not os.access(probe, os.W_OK):
            raise ValidationError(
                "destination",
                f"{root} cannot be written: permission denied on {probe} (the worker runs as uid {os.getuid()})",
                WRITABLE_FOLDER,
            )


@contextlib.contextmanager
def staged(final: ObjectStoragePath) -> Iterator[IO[bytes]]:
    """Write under a temporary name beside ``final``; move into place only when the block succeeds.

    Nothing incomplete ever carries the final name: a crash leaves a ``.partial`` object, which the
    next try ignores and a cleanup can sweep.
    """
    partial = final.parent / f".{final.name}.{uuid.uuid4().hex[:12]}.partial"
    try:
        with partial.open("wb") as sink:
            yield sink
        partial.rename(final)
    except BaseException:
        with contextlib.suppress(Exception):
            partial.unlink()
        raise


def probe_destination(value: Any) -> ObjectStoragePath:
    """Prove the destination writable before anything is bought: create it, write a small probe
    object through ``ObjectStoragePath`` and remove it. Raises a ``ValidationError`` naming the
    destination otherwise (an unwritable bucket, a read-only disk, missing credentials)."""
    root = prepare_destination(value)
    probe = root / f".oneatlas-probe-{uuid.uuid4().hex[:12]}"
    try:
        with probe.open("wb") as sink:
            sink.write(b"oneatlas write probe\n")
    except Exception as exc:  # each object store raises its own kinds (OSError, botocore, gcsfs ...)
        raise ValidationError(
            "destination",
            f"{root} is not writable ({type(exc).__name__}: {exc}); nothing was ordered",
            "a folder the workers can write to, with its connection's credentials",
        ) from None
    try:
        probe.unlink()
    except Exception as exc:
        raise ValidationError(
            "destination",
            f"{root} accepts writes but the probe {probe.name} could not be removed ({exc}); nothing was ordered",
            "a folder where the workers may also delete (downloads are renamed into place)",
        ) from None
    return root


def download_sink(final: ObjectStoragePath) -> contextlib.AbstractContextManager[IO[bytes]]:
    """The sink a download streams into; ``final`` exists only if the ``with`` block succeeds.

    S3: parts uploaded concurrently into a multipart upload, completed at the end of the block or
    aborted (s3fs would send them one after the other). Any other scheme: :func:`staged`.
    """
    return s3_sink(final) or staged(final)
