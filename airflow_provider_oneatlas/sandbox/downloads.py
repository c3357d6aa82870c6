"""``GET``/``HEAD /api/v1/items/{id}/download``: the zip of a delivered image.

Only items of the caller's private workspace can be downloaded; any other id answers 403
"permission denied", as the real API does. The zip is deterministic (same item id and size, same bytes),
built once with :mod:`zipfile` (stored, not deflated) into the cache directory and reused, and served
from the file in 1 MiB chunks with:

- ``Content-Length``, ``ETag``, ``X-Ads-Checksum-Method: md5``, ``X-Ads-Checksum-Value`` (md5 of the
  whole zip, also on ranged answers and on ``HEAD``);
- ``Range: bytes=a-b`` / ``a-`` / ``-n`` answered 206 with ``Content-Range`` (416 when unsatisfiable),
  ``Accept-Ranges: bytes``; with ``ranges=False`` the Range header is ignored (200, whole body) and no
  ``Accept-Ranges`` is sent;
- ``bandwidth``: a per-connection cap (bytes/s), by sleeping after each chunk;
- ``drop_rate``: with that probability the body is cut somewhere between 10 % and 90 % and the
  connection closed, so the client sees fewer bytes than ``Content-Length`` announced.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from airflow_provider_oneatlas.sandbox.auth import get_state, require_token
from airflow_provider_oneatlas.sandbox.dimap import dimap_document
from airflow_provider_oneatlas.sandbox.errors import OneAtlasHTTPError
from airflow_provider_oneatlas.sandbox.state import PRIVATE_WORKSPACE_ID, SandboxState

router = APIRouter(dependencies=[Depends(require_token)])

CHUNK_SIZE = 1024 * 1024
#: Bytes read and sent at a time: each chunk costs a thread hand-off and an event-loop turn, so big
#: chunks keep the sandbox's CPU per GB low (it shares the machine with the client it serves).
SEND_CHUNK_SIZE = 4 * 1024 * 1024
FORMAT_VERSION = 2  # bump when the zip layout changes, so stale cached files are not reused
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")

# Where the request middleware keeps the log entry of the current request (see app.py).
LOG_ENTRY_KEY = "oneatlas_sandbox.log_entry"


class DownloadDropped(Exception):
    """Raised after part of a body was sent, to cut the connection (see ``drop_rate``)."""


@dataclass(frozen=True)
class ZipFile:
    path: Path
    md5: str
    size: int


# -- building the zips ---------------------------------------------------------------------------------


def _bulk_chunks(item_id: str, total: int) -> Any:
    """``total`` pseudo-random bytes derived from ``item_id``, in 1 MiB chunks.

    One block of SHAKE-256 output, each copy stamped with its index, so no two chunks are equal (a
    client resuming at the wrong offset gets a wrong md5) while costing only a memory copy per chunk.
    """
    block = hashlib.shake_256(f"oneatlas-sandbox/{item_id}".encode()).digest(CHUNK_SIZE)
    index = 0
    sent = 0
    while sent < total:
        n = min(CHUNK_SIZE, total - sent)
        stamp = index.to_bytes(8, "big")
        yield (stamp + block[8:])[:n]
        sent += n
        index += 1


def build_zip(path: Path, item_id: str, size: int, feature: dict[str, Any] | None = None) -> ZipFile:
    """Write the zip of ``item_id`` (about ``size`` bytes) to ``path``; return its md5 and exact size."""
    folder = f"{item_id}"
    xml = dimap_document(item_id, size, feature)  # the DIMAP of the delivered item's catalogue feature
    image_name = f"{folder}/IMG_{item_id}_R1C1.JP2"
    xml_name = f"{folder}/DIM_{item_id}.XML"
    zip64 = size > 0x7FFF0000
    # Headers: 2 local (30 + name), 2 central (46 + name), end record (22); zip64 adds extras and records
    # (about right: beyond 2 GiB a few bytes off the target size do not matter).
    overhead = 2 * (30 + 46) + 2 * (len(xml_name) + len(image_name)) + 22 + (20 + 28 + 56 + 20 if zip64 else 0)
    bulk = max(0, size - overhead - len(xml))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            stamp = (2020, 1, 1, 0, 0, 0)
            info = zipfile.ZipInfo(xml_name, date_time=stamp)
            info.external_attr = 0o644 << 16
            archive.writestr(info, xml)
            info = zipfile.ZipInfo(image_name, date_time=stamp)
            info.external_attr = 0o644 << 16
            info.file_size = bulk
            with archive.open(info, "w", force_zip64=zip64) as member:
                for chunk in _bulk_chunks(item_id, bulk):
                    member.write(chunk)
        digest = hashlib.md5()  # noqa: S324 - the API's checksum method, not a security use
        with tmp.open("rb") as handle:
            while block := handle.read(8 * CHUNK_SIZE):
                digest.update(block)
        result = ZipFile(path, digest.hexdigest(), tmp.stat().st_size)
        sidecar = path.with_suffix(".json")
        sidecar.write_text(json.dumps({"md5": result.md5, "size": result.size}))
        os.replace(tmp, path)
        return result
    finally:
        tmp.unlink(missing_ok=True)


def ensure_zip(state: SandboxState, item_id: str) -> ZipFile:
    """The zip of ``item_id`` at the configured size, built if it is not cached yet (blocking)."""
    size = state.config.download_size
    key = (item_id, size)
    with state.lock:
        cached = state.files.get(key)
        feature = state.catalog.get(item_id)
        lock = state.file_locks.setdefault(key, threading.Lock())
    if cached is not None and cached[0].exists():
        return ZipFile(*cached)
    with lock:
        path = state.cache_dir() / f"{item_id}-{size}-v{FORMAT_VERSION}.zip"
        sidecar = path.with_suffix(".json")
        result: ZipFile | None = None
        if path.exists() and sidecar.exists():
            try:
                known = json.loads(sidecar.read_text())
                if int(known["size"]) == path.stat().st_size:
                    result = ZipFile(path, str(known["md5"]), int(known["size"]))
            except (ValueError, KeyError, OSError):
                result = None
        if result is None:
            result = build_zip(path, item_id, size, feature)
        with state.lock:
            state.files[key] = (result.path, result.md5, result.size)
        return result


# -- serving -------------------------------------------------------------------------------------------


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(first, last)`` byte positions (inclusive) of a single ``bytes=`` range, ``None`` to ignore it.

    Raises a 416 when the range is well-formed but starts beyond the end of the file.
    """
    if not header:
        return None
    match = _RANGE.match(header)
    if match is None:
        return None  # several ranges or another unit: answer the whole file, as RFC 9110 allows
    first_text, last_text = match.groups()
    if not first_text and not last_text:
        return None
    if not first_text:
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise _unsatisfiable(header, size)
        return max(0, size - suffix), size - 1
    first = int(first_text)
    last = int(last_text) if last_text else None
    if last is not None and last < first:
        return None  # syntactically invalid: ignore
    if first >= size:
        raise _unsatisfiable(header, size)
    if last is None:
        return first, size - 1
    return first, min(last, size - 1)


def _unsatisfiable(header: str, size: int) -> OneAtlasHTTPError:
    return OneAtlasHTTPError(
        416,
        f"Requested range not satisfiable: {header.strip()} (the file has {size} bytes)",
        hint="Ask for a range that starts before the end of the file",
        internal_code="RANGE_NOT_SATISFIABLE",
        headers={"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"},
    )


class FileChunksResponse(Response):
    """Sends ``length`` bytes of ``path`` from ``offset`` as a raw ASGI body, in big chunks.

    Stops reading when the client goes away, sleeps to honour ``bandwidth``, and when ``drop_at`` is
    set sends only that many bytes and then raises :class:`DownloadDropped` (the request middleware
    turns it into a closed connection).
    """

    def __init__(
        self,
        path: Path,
        offset: int,
        length: int,
        status_code: int,
        headers: dict[str, str],
        *,
        send_body: bool = True,
        bandwidth: float | None = None,
        drop_at: int | None = None,
    ) -> None:
        super().__init__(status_code=status_code, headers=headers, media_type="application/zip")
        self.path = path
        self.offset = offset
        self.length = length
        self.send_body = send_body
        self.bandwidth = bandwidth
        self.drop_at = drop_at

    def init_headers(self, headers: Any = None) -> None:
        super().init_headers(headers)
        # Response computes Content-Length from an empty body: replace it with the real one.
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [*self.raw_headers, (b"content-length", str(self.length).encode())]
        await send({"type": "http.response.start", "status": self.status_code, "headers": headers})
        if not self.send_body or self.length == 0:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        outcome: dict[str, bool] = {}
        async with anyio.create_task_group() as group:

            async def watch_disconnect() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                outcome["disconnected"] = True
                group.cancel_scope.cancel()

            group.start_soon(watch_disconnect)
            outcome["dropped"] = await self._stream(send)
            group.cancel_scope.cancel()
        if outcome.get("dropped") and not outcome.get("disconnected"):
            raise DownloadDropped(f"body cut after {self.drop_at} of {self.length} bytes")

    async def _stream(self, send: Send) -> bool:
        """Send the body; True when it was cut short on purpose."""
        chunk_size = SEND_CHUNK_SIZE
        if self.bandwidth:
            chunk_size = max(4096, min(SEND_CHUNK_SIZE, int(self.bandwidth / 20)))
        limit = self.length if self.drop_at is None else min(self.drop_at, self.length)
        started = time.monotonic()
        sent = 0
        handle = await anyio.to_thread.run_sync(self.path.open, "rb")
        try:
            await anyio.to_thread.run_sync(handle.seek, self.offset)
            while sent < limit:
                n = min(chunk_size, limit - sent)
                data = await anyio.to_thread.run_sync(handle.read, n)
                if not data:
                    raise OSError(f"{self.path} is shorter than expected")
                sent += len(data)
                last = sent >= self.length
                await send({"type": "http.response.body", "body": data, "more_body": not last})
                if self.bandwidth:
                    ahead = started + sent / self.bandwidth - time.monotonic()
                    if ahead > 0:
                        await anyio.sleep(ahead)
        finally:
            await anyio.to_thread.run_sync(handle.close)
        return sent < self.length


def _check_private_item(state: SandboxState, item_id: str) -> None:
    # Due orders were delivered by SandboxMiddleware before the route ran.
    with state.lock:
        item = state.catalog.get(item_id)
    workspace = ((item or {}).get("properties") or {}).get("workspaceId")
    if workspace != PRIVATE_WORKSPACE_ID:
        raise OneAtlasHTTPError(
            403,
            "permission denied",
            hint="Only items of your own workspace can be downloaded: order the image first, then use the "
            "download link of the delivered order",
            internal_code="PERMISSION_DENIED",
        )


# One route per method: a single route with both methods gives OpenAPI a duplicate operation id.
@router.get("/api/v1/items/{item_id}/download", operation_id="download_item")
@router.head("/api/v1/items/{item_id}/download", operation_id="head_item_download")
async def download(item_id: str, request: Request) -> Response:
    state = get_state(request)
    _check_private_item(state, item_id)
    config = state.config
    archive = await anyio.to_thread.run_sync(ensure_zip, state, item_id)
    etag = f'"{archive.md5}"'
    headers = {
        "Content-Disposition": f'attachment; filename="{item_id}.zip"',
        "X-Ads-Checksum-Method": "md5",
        "X-Ads-Checksum-Value": archive.md5,
        "ETag": etag,
    }
    first, last, status = 0, archive.size - 1, 200
    if config.ranges:
        headers["Accept-Ranges"] = "bytes"
        if_range = request.headers.get("if-range")
        wanted = parse_range(request.headers.get("range"), archive.size)
        if wanted is not None and (if_range is None or if_range.strip() == etag):
            first, last = wanted
            status = 206
            headers["Content-Range"] = f"bytes {first}-{last}/{archive.size}"
    length = last - first + 1
    send_body = request.method != "HEAD"
    drop_at: int | None = None
    if send_body and length > 1 and state.roll(config.drop_rate):
        with state.lock:
            drop_at = max(1, min(length - 1, int(length * state.rng.uniform(0.1, 0.9))))
        state.count_fault("drop")
        entry = request.scope.get(LOG_ENTRY_KEY)
        if isinstance(entry, dict):
            entry["fault"] = "drop"
    return FileChunksResponse(
        archive.path,
        first,
        length,
        status,
        headers,
        send_body=send_body,
        bandwidth=config.bandwidth,
        drop_at=drop_at,
    )


def file_info(state: SandboxState, item_id: str) -> ZipFile | None:
    """The zip of a known item (building it if needed), ``None`` for an unknown id."""
    with state.lock:
        known = item_id in state.catalog
    return ensure_zip(state, item_id) if known else None
