"""Streaming downloads into any writable binary stream, never holding the file in memory.

A cut connection is resumed with an HTTP Range request from the byte where it stopped when the
server accepts ranges; otherwise the transfer starts over, which needs a seekable sink (a local
temporary file, an object store's upload buffer does not seek, so callers then retry whole). The md5
announced in ``X-Ads-Checksum-Value`` is checked on the way.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import requests

from airflow_provider_oneatlas.client import api
from airflow_provider_oneatlas.client.errors import ChecksumMismatchError, DownloadError, TransportError
from airflow_provider_oneatlas.client.models import DownloadResult

if TYPE_CHECKING:
    from airflow_provider_oneatlas.client.transport import SyncTransport

log = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024
_CONTENT_RANGE_RE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_FILENAME_RE = re.compile(r'filename\*?=(?:UTF-8\'\')?"?([^";]+)"?', re.IGNORECASE)
_STREAM_ERRORS = (
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
)


@dataclass(frozen=True)
class RemoteFile:
    """What the headers of a download answer (or a HEAD) say about the file."""

    url: str
    size: int | None
    md5: str | None
    accepts_ranges: bool
    etag: str | None
    content_type: str | None
    filename: str | None

    @classmethod
    def from_headers(cls, url: str, headers: Mapping[str, str], *, full_size: int | None = None) -> RemoteFile:
        method = (headers.get("X-Ads-Checksum-Method") or "").lower()
        value = headers.get("X-Ads-Checksum-Value")
        size = full_size
        if size is None and headers.get("Content-Length", "").isdigit():
            size = int(headers["Content-Length"])
        disposition = headers.get("Content-Disposition") or ""
        match = _FILENAME_RE.search(disposition)
        return cls(
            url=url,
            size=size,
            md5=value.strip().lower() if value and method == "md5" else None,
            accepts_ranges="bytes" in (headers.get("Accept-Ranges") or "").lower(),
            etag=headers.get("ETag"),
            content_type=headers.get("Content-Type"),
            filename=match.group(1).strip() if match else None,
        )


def _identity(call: api.ApiCall) -> api.ApiCall:
    # Byte-exact transfer: a transparently gunzipped body would not match the announced size and md5.
    return api.ApiCall(
        call.method,
        call.service,
        call.path,
        params=call.params,
        headers={**call.headers, "Accept-Encoding": "identity"},
        url=call.url,
        name=call.name,
    )


def head(transport: SyncTransport, call: api.ApiCall) -> RemoteFile:
    head_call = api.ApiCall(
        "HEAD",
        call.service,
        call.path,
        params=call.params,
        headers=dict(call.headers),
        url=call.url,
        name=f"{call.name}:head",
    )
    response = transport.request(_identity(head_call))
    response.close()
    return RemoteFile.from_headers(response.url, response.headers)


def _can_restart(sink: IO[bytes]) -> bool:
    try:
        return bool(sink.seekable())
    except (AttributeError, ValueError):
        return False


def download_to(
    transport: SyncTransport,
    call: api.ApiCall,
    sink: IO[bytes],
    *,
    verify_checksum: bool = True,
    max_resumes: int = 5,
    chunk_size: int = CHUNK_SIZE,
    max_size: int | None = None,
) -> DownloadResult:
    """Stream the answer of ``call`` into ``sink`` and check it.

    Raises ``DownloadError`` (or ``ChecksumMismatchError``) when the bytes cannot be delivered intact;
    the caller must then discard what ``sink`` holds.
    """
    call = _identity(call)
    response = transport.request(call, stream=True)
    remote = RemoteFile.from_headers(response.url, response.headers)
    expected_size = remote.size
    digest = hashlib.md5(usedforsecurity=False)
    received = 0
    attempts = 1
    resumed_bytes = 0
    while True:
        try:
            for chunk in response.iter_content(chunk_size=chunk_size):
                received += len(chunk)
                if expected_size is not None and received > expected_size:
                    raise DownloadError(
                        f"{remote.url} sent more than the {expected_size} bytes it announced: the file was not kept"
                    )
                if max_size is not None and received > max_size:
                    raise DownloadError(f"{remote.url} is larger than the limit of {max_size} bytes")
                digest.update(chunk)
                sink.write(chunk)
            if expected_size is None or received == expected_size:
                break
            problem = f"connection closed after {received} of {expected_size} bytes"
        except _STREAM_ERRORS as exc:
            problem = f"{type(exc).__name__} after {received} bytes"
        finally:
            response.close()
        if attempts > max_resumes:
            raise DownloadError(f"{remote.url}: {problem}; gave up after {attempts} attempts")
        attempts += 1
        response, resumed = _reopen(transport, call, remote, received, sink)
        if resumed:
            log.info("Download of %s cut (%s); resuming from byte %d", remote.url, problem, received)
            resumed_bytes += received
        else:
            log.info("Download of %s cut (%s); the server does not resume, starting over", remote.url, problem)
            digest = hashlib.md5(usedforsecurity=False)
            received = 0
    actual = digest.hexdigest()
    if verify_checksum and remote.md5 and actual != remote.md5:
        raise ChecksumMismatchError(remote.url, remote.md5, actual)
    return DownloadResult(
        url=remote.url,
        size=received,
        md5=actual,
        expected_md5=remote.md5,
        content_type=remote.content_type,
        filename=remote.filename,
        attempts=attempts,
        resumed_bytes=resumed_bytes,
    )


def _reopen(
    transport: SyncTransport, call: api.ApiCall, remote: RemoteFile, offset: int, sink: IO[bytes]
) -> tuple[Any, bool]:
    """Ask for the rest of the file; fall back to the whole file (restarting the sink) if needed."""
    headers: dict[str, str] = {}
    if remote.accepts_ranges and offset > 0:
        headers["Range"] = f"bytes={offset}-"
        if remote.etag:
            headers["If-Range"] = remote.etag
    try:
        response = transport.request(call, stream=True, headers=headers)
    except TransportError as exc:
        raise DownloadError(f"{remote.url}: could not reconnect to resume: {exc}") from None
    if response.status_code == 206:
        match = _CONTENT_RANGE_RE.match(response.headers.get("Content-Range", ""))
        if not match or int(match.group(1)) != offset:
            response.close()
            raise DownloadError(
                f"{remote.url}: the server resumed at the wrong offset ({response.headers.get('Content-Range')})"
            )
        return response, True
    # 200: the whole file again.
    if offset and not _can_restart(sink):
        response.close()
        raise DownloadError(
            f"{remote.url}: cut after {offset} bytes, the server does not resume and the destination cannot restart"
        )
    if offset:
        sink.seek(0)
        sink.truncate()
    return response, False
