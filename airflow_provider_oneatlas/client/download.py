"""Streaming downloads into any writable binary stream, in flat memory, at the wire's speed.

Two ways, chosen from the first answer's headers:

- **Parallel ranged download** when the server accepts ranges (``Accept-Ranges: bytes`` with a known
  ``Content-Length``), the file is at least ``parallel_threshold`` bytes (32 MiB) and
  ``connections > 1``: the file is cut into parts of ``part_size`` (8 MiB) fetched with HTTP ``Range``
  requests on ``connections`` threads, each with its own HTTP session (its own connection pool) but
  the same token cache and trust rules (the token only ever goes to the configured OneAtlas origins;
  a redirect to signed storage is followed without it; every part goes through
  ``SyncTransport.request``). The calling thread writes the parts to the sink **in order** through a
  bounded reorder buffer: a part is only started when it lies within ``connections`` parts of the
  next one to write, so at most ``connections * part_size`` bytes (64 MiB by default) are ever held,
  whatever the file size. A part whose connection is cut is resumed from the byte where it stopped.
- **One stream** otherwise (``connections=1``, a server that does not accept ranges, a small file):
  read in ``chunk_size`` blocks straight into a few reused buffers (``readinto``: no per-chunk
  allocation or copy). A cut connection is resumed with a ``Range`` request from the byte where it
  stopped when the server accepts ranges; otherwise the transfer starts over, which needs a seekable
  sink (a local temporary file; an object store's upload buffer does not seek, so callers then
  retry whole).

md5 is the main CPU cost of a download (about 600 MB/s on one core of a current server, slower than
a fast local link), and writing a local file is the next: the md5 runs on a helper thread, in order,
while the calling thread writes the same bytes, so a download costs the longer of the two rather
than their sum.

Why 8 connections by default: a single HTTP connection is often held well below the link's speed
(per-connection caps of the storage behind the API, TCP windows on long round trips); 8 connections
fill a typical link while keeping the memory bound at 64 MiB and staying as polite as a browser
(6-8 connections per host). ``connections=1`` forces one stream.

Either way the md5 announced in ``X-Ads-Checksum-Value`` and the total size are checked at the end,
and the sink is only ever written from the calling thread, in order: any object with a ``write``
method works (a local file, ``ObjectStoragePath.open("wb")`` streaming to S3 through s3fs multipart
uploads, ``io.BytesIO``). ``write`` receives a ``memoryview`` that is only valid during the call, as
the :mod:`io` contract says; it is never a full copy of the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import logging
import queue
import re
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import requests
import urllib3.exceptions

from airflow_provider_oneatlas.client import api

# Connections of a parallel ranged download (the choice is explained above), re-exported; defined
# with the configuration so that DAG files can name it without importing the HTTP client.
from airflow_provider_oneatlas.client.config import DEFAULT_CONNECTIONS as DEFAULT_CONNECTIONS
from airflow_provider_oneatlas.client.errors import ChecksumMismatchError, DownloadError, TransportError
from airflow_provider_oneatlas.client.models import DownloadResult
from airflow_provider_oneatlas.client.progress import TransferProgress, counting

if TYPE_CHECKING:
    from airflow_provider_oneatlas.client.transport import SyncTransport

log = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024
#: Bytes per ranged request; the reorder buffer holds at most ``connections`` of them.
PART_SIZE = 8 * 1024 * 1024
#: Files smaller than this are fetched on one stream: the extra connections would not pay off.
PARALLEL_THRESHOLD = 32 * 1024 * 1024
#: Buffers of ``chunk_size`` a single stream cycles through (reading one while the previous are hashed).
_SINGLE_BUFFERS = 4
#: How long to wait for the worker threads to stop after a failure, before leaving them behind.
_JOIN_TIMEOUT = 10.0

_CONTENT_RANGE_RE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_FILENAME_RE = re.compile(r'filename\*?=(?:UTF-8\'\')?"?([^";]+)"?', re.IGNORECASE)
_STREAM_ERRORS = (
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
)
#: What reading a body raises when the connection is cut or stalls (the sink's own errors are not here).
_READ_ERRORS = (*_STREAM_ERRORS, OSError, http.client.HTTPException, urllib3.exceptions.HTTPError)


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


@dataclass
class DownloadStats:
    """What a download did; pass one to :func:`download_to` to watch it (tests, benchmarks, logs)."""

    mode: str = ""  # "parallel" or "single"
    connections: int = 1
    part_size: int = 0
    parts: int = 0
    requests: int = 0  # HTTP requests for the body: the first one, the parts, the resumes
    resumes: int = 0  # cut transfers picked up again (or restarted)
    buffer_limit: int = 0  # bytes the reorder buffer may hold: connections * part_size
    buffered_bytes: int = 0  # bytes it holds now (parts being fetched or waiting to be written)
    peak_buffered_bytes: int = 0
    allocated_bytes: int = 0  # part buffers ever allocated (they are reused), never above buffer_limit
    window_waits: int = 0  # times a connection waited because the buffer was full


def _identity(call: api.ApiCall) -> api.ApiCall:
    # Byte-exact transfer: a transparently gunzipped body would not match the announced size and md5.
    return dataclasses.replace(call, headers={**call.headers, "Accept-Encoding": "identity"})


def head(transport: SyncTransport, call: api.ApiCall) -> RemoteFile:
    head_call = dataclasses.replace(call, method="HEAD", name=f"{call.name}:head")
    response = transport.request(_identity(head_call))
    response.close()
    return RemoteFile.from_headers(response.url, response.headers)


def _can_restart(sink: IO[bytes]) -> bool:
    try:
        return bool(sink.seekable())
    except (AttributeError, ValueError):
        return False


def _write_all(sink: IO[bytes], data: memoryview) -> None:
    """``sink.write`` until every byte is taken (a raw, unbuffered file may take fewer)."""
    written = sink.write(data)  # any bytes-like object, as io promises
    if written is None:  # sinks that do not count (many wrappers): they took everything
        return
    while written < len(data):
        more = sink.write(data[written:])
        if not more:
            raise DownloadError(f"the destination accepted only {written} of {len(data)} bytes")
        written += more


class _Body:
    """Reads a streamed answer's body into caller-provided buffers.

    Over a plain HTTP connection it reads from the ``http.client`` response underneath urllib3 with
    ``readinto``: the bytes land in the caller's buffer with no intermediate copy, and when the
    whole body is read the connection goes back to the pool for the next request. Any other answer
    (another adapter, an encoded body) is read through ``iter_content``.
    """

    def __init__(self, response: requests.Response, chunk_size: int = CHUNK_SIZE) -> None:
        self.response = response
        raw = response.raw
        fp = getattr(raw, "_fp", None)
        encoding = (response.headers.get("Content-Encoding") or "identity").strip().lower()
        self._fp: http.client.HTTPResponse | None = None
        self._chunks: Iterator[bytes] | None = None
        self._pending = memoryview(b"")
        if isinstance(fp, http.client.HTTPResponse) and encoding == "identity" and hasattr(raw, "release_conn"):
            self._fp = fp
        else:
            self._chunks = response.iter_content(chunk_size=chunk_size)

    def readinto(self, view: memoryview) -> int:
        """Fill ``view`` as far as the body goes; 0 at its end. Raises one of ``_READ_ERRORS`` on a cut."""
        if self._fp is not None:
            return self._fp.readinto(view)
        assert self._chunks is not None
        filled = 0
        while filled < len(view):
            if not self._pending:
                chunk = next(self._chunks, b"")
                if not chunk:
                    break
                self._pending = memoryview(chunk)
            n = min(len(view) - filled, len(self._pending))
            view[filled : filled + n] = self._pending[:n]
            self._pending = self._pending[n:]
            filled += n
        return filled

    def close(self) -> None:
        fp = self._fp
        if fp is not None and fp.isclosed():
            # The whole body was read: the connection can serve the next request.
            self.response.raw.release_conn()
        self.response.close()


class _Hasher:
    """md5 on a helper thread, in submission order, so that hashing (the main CPU cost of a
    download) runs alongside reading the network and writing the sink instead of after them.

    ``submit`` hands over a view and returns a ticket; the view's memory must stay untouched until
    ``wait(ticket)`` returns. hashlib releases the GIL while hashing, so this uses a second core.
    """

    def __init__(self) -> None:
        self.digest = hashlib.md5(usedforsecurity=False)
        self._queue: queue.SimpleQueue[memoryview | None] = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._submitted = 0
        self._done = 0
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="oneatlas-download-md5", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (view := self._queue.get()) is not None:
            try:
                self.digest.update(view)
            except BaseException as exc:  # pragma: no cover - md5 of a buffer does not fail
                self._error = exc
            with self._cond:
                self._done += 1
                self._cond.notify_all()

    def submit(self, view: memoryview) -> int:
        ticket = self._submitted
        self._submitted += 1
        self._queue.put(view)
        return ticket

    def wait(self, ticket: int | None = None) -> None:
        """Until the view of ``ticket`` (default: every view submitted) is hashed."""
        last = self._submitted - 1 if ticket is None else ticket
        with self._cond:
            while self._done <= last:
                self._cond.wait()
        if self._error is not None:  # pragma: no cover
            raise self._error

    def restart(self) -> None:
        """Forget what was hashed (the transfer starts over)."""
        self.wait()
        self.digest = hashlib.md5(usedforsecurity=False)

    def hexdigest(self) -> str:
        self.wait()
        return self.digest.hexdigest()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()


def download_to(
    transport: SyncTransport,
    call: api.ApiCall,
    sink: IO[bytes],
    *,
    verify_checksum: bool = True,
    max_resumes: int = 5,
    chunk_size: int = CHUNK_SIZE,
    max_size: int | None = None,
    connections: int = DEFAULT_CONNECTIONS,
    part_size: int = PART_SIZE,
    parallel_threshold: int = PARALLEL_THRESHOLD,
    stats: DownloadStats | None = None,
    progress: TransferProgress | None = None,
) -> DownloadResult:
    """Stream the answer of ``call`` into ``sink`` and check it.

    :param connections: parallel connections when the server accepts ranges and the file has at
        least ``parallel_threshold`` bytes; 1 forces one stream.
    :param part_size: bytes per ranged request; memory stays below ``connections * part_size``.
    :param max_resumes: how many times one stream (or one part) is resumed after a cut.
    :param stats: filled with what the download did (mode, requests, resumes, buffer use).
    :param progress: logs bytes, percent, MB/s and time left as they are written to ``sink``.

    Raises ``DownloadError`` (or ``ChecksumMismatchError``) when the bytes cannot be delivered intact;
    the caller must then discard what ``sink`` holds.
    """
    if connections < 1:
        raise ValueError(f"connections must be at least 1, got {connections}")
    if part_size < 1 or chunk_size < 1:
        raise ValueError("part_size and chunk_size must be positive")
    stats = stats if stats is not None else DownloadStats()
    call = _identity(call)
    response = transport.request(call, stream=True)
    stats.requests += 1
    remote = RemoteFile.from_headers(response.url, response.headers)
    if max_size is not None and remote.size is not None and remote.size > max_size:
        response.close()
        raise DownloadError(f"{remote.url} is larger than the limit of {max_size} bytes ({remote.size} bytes)")
    if progress is not None:  # counted where the bytes are written, in order, whichever way they come
        progress.sized(remote.size)
        sink = counting(sink, progress)
    encoding = (response.headers.get("Content-Encoding") or "identity").strip().lower()
    if (
        connections > 1
        and response.status_code == 200
        and remote.accepts_ranges
        and remote.size is not None
        and remote.size >= max(parallel_threshold, 1)
        and remote.size > part_size
        and encoding == "identity"
    ):
        download = _ParallelDownload(
            transport,
            call,
            response,
            remote,
            connections=connections,
            part_size=part_size,
            max_resumes=max_resumes,
            chunk_size=chunk_size,
            stats=stats,
        )
        return download.run(sink, verify_checksum=verify_checksum)
    return _download_single(
        transport,
        call,
        response,
        remote,
        sink,
        verify_checksum=verify_checksum,
        max_resumes=max_resumes,
        chunk_size=chunk_size,
        max_size=max_size,
        stats=stats,
    )


def _download_single(
    transport: SyncTransport,
    call: api.ApiCall,
    response: requests.Response,
    remote: RemoteFile,
    sink: IO[bytes],
    *,
    verify_checksum: bool,
    max_resumes: int,
    chunk_size: int,
    max_size: int | None,
    stats: DownloadStats,
) -> DownloadResult:
    stats.mode = "single"
    stats.connections = 1
    stats.parts = 1
    stats.buffer_limit = _SINGLE_BUFFERS * chunk_size
    expected_size = remote.size
    hasher = _Hasher()
    # A few buffers in turn: the network fills one while the md5 thread still hashes the previous.
    buffer_size = min(chunk_size, max(expected_size or chunk_size, 1))
    free: list[bytearray] = []
    allocated = 0
    hashing: deque[tuple[int, bytearray]] = deque()
    received = 0
    attempts = 1
    resumed_bytes = 0
    try:
        while True:
            body = _Body(response, chunk_size)
            problem: str | None = None
            try:
                while True:
                    if not free and allocated < _SINGLE_BUFFERS:
                        free.append(bytearray(buffer_size))
                        allocated += 1
                    if not free:
                        ticket, buffer = hashing.popleft()
                        hasher.wait(ticket)
                        free.append(buffer)
                    buffer = free.pop()
                    try:
                        n = body.readinto(memoryview(buffer))
                    except _READ_ERRORS as exc:
                        problem = f"{type(exc).__name__} after {received} bytes"
                        free.append(buffer)
                        break
                    if not n:
                        free.append(buffer)
                        break
                    received += n
                    if expected_size is not None and received > expected_size:
                        raise DownloadError(
                            f"{remote.url} sent more than the {expected_size} bytes it announced: the file was not kept"
                        )
                    if max_size is not None and received > max_size:
                        raise DownloadError(f"{remote.url} is larger than the limit of {max_size} bytes")
                    chunk = memoryview(buffer)[:n]
                    hashing.append((hasher.submit(chunk), buffer))
                    _write_all(sink, chunk)
            finally:
                body.close()
            if problem is None:
                if expected_size is None or received == expected_size:
                    break
                problem = f"connection closed after {received} of {expected_size} bytes"
            if attempts > max_resumes:
                raise DownloadError(f"{remote.url}: {problem}; gave up after {attempts} attempts")
            attempts += 1
            stats.resumes += 1
            stats.requests += 1
            response, resumed = _reopen(transport, call, remote, received, sink)
            if resumed:
                log.info("Download of %s cut (%s); resuming from byte %d", remote.url, problem, received)
                resumed_bytes += received
            else:
                log.info("Download of %s cut (%s); the server does not resume, starting over", remote.url, problem)
                hasher.restart()
                received = 0
        actual = hasher.hexdigest()
    finally:
        hasher.close()
    stats.allocated_bytes = allocated * buffer_size
    return _result(remote, received, actual, verify_checksum, attempts, resumed_bytes)


def _result(
    remote: RemoteFile, size: int, actual: str, verify_checksum: bool, attempts: int, resumed_bytes: int
) -> DownloadResult:
    if verify_checksum and remote.md5 and actual != remote.md5:
        raise ChecksumMismatchError(remote.url, remote.md5, actual)
    return DownloadResult(
        url=remote.url,
        size=size,
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


# -- parallel ranged download ------------------------------------------------------------------------


class _ParallelDownload:
    """Parts fetched on ``connections`` threads, written in order by the calling thread.

    Invariant: a part is only started when its index is below ``next_write + window``; its buffer
    goes back to the free list once written. So at most ``window`` buffers of ``part_size`` bytes
    exist, and the part the writer waits for is always being fetched (no deadlock).
    """

    def __init__(
        self,
        transport: SyncTransport,
        call: api.ApiCall,
        first_response: requests.Response,
        remote: RemoteFile,
        *,
        connections: int,
        part_size: int,
        max_resumes: int,
        chunk_size: int,
        stats: DownloadStats,
    ) -> None:
        assert remote.size is not None
        self.transport = transport
        self.call = call
        self.remote = remote
        self.size = remote.size
        self.part_size = part_size
        self.parts = -(-self.size // part_size)
        self.connections = min(connections, self.parts)
        self.window = self.connections
        self.max_resumes = max_resumes
        self.chunk_size = chunk_size
        self.stats = stats
        stats.mode = "parallel"
        stats.connections = self.connections
        stats.part_size = part_size
        stats.parts = self.parts
        stats.buffer_limit = self.window * part_size
        self._cond = threading.Condition()
        self._first_response: requests.Response | None = first_response  # serves part 0
        self._next_part = 0  # next part to hand to a thread
        self._next_write = 0  # next part to write
        self._ready: dict[int, bytearray] = {}
        self._free: list[bytearray] = []
        self._error: BaseException | None = None
        self._stopping = False
        self._resumed_bytes = 0

    def _part(self, index: int) -> tuple[int, int]:
        start = index * self.part_size
        return start, min(self.size, start + self.part_size) - start

    # -- the calling thread: writes in order ---------------------------------------------------------

    def run(self, sink: IO[bytes], *, verify_checksum: bool) -> DownloadResult:
        log.info(
            "Downloading %s (%d bytes) on %d connections, %d parts of %d bytes",
            self.remote.url,
            self.size,
            self.connections,
            self.parts,
            self.part_size,
        )
        workers: list[SyncTransport] = []
        threads: list[threading.Thread] = []
        hasher = _Hasher()
        written = 0
        try:
            for number in range(self.connections):
                worker = self.transport.fork()
                workers.append(worker)
                thread = threading.Thread(
                    target=self._work, args=(worker,), name=f"oneatlas-download-{number}", daemon=True
                )
                threads.append(thread)
                thread.start()
            for index in range(self.parts):
                with self._cond:
                    while index not in self._ready and self._error is None:
                        self._cond.wait()
                    if self._error is not None:
                        raise self._error
                    buffer = self._ready.pop(index)
                _, length = self._part(index)
                view = memoryview(buffer)[:length]
                ticket = hasher.submit(view)  # hashed on the md5 thread while this one writes
                _write_all(sink, view)
                hasher.wait(ticket)
                del view
                written += length
                with self._cond:
                    self._next_write = index + 1
                    self._free.append(buffer)
                    self.stats.buffered_bytes -= self.part_size
                    self._cond.notify_all()
        finally:
            with self._cond:
                self._stopping = True
                self._cond.notify_all()
                first, self._first_response = self._first_response, None
            if first is not None:
                first.close()
            for thread in threads:
                thread.join(_JOIN_TIMEOUT)
            for worker in workers:
                self.transport.stats.update(worker.stats)
                if not any(thread.is_alive() for thread in threads):
                    worker.close()
            with self._cond:
                self._free.clear()
                self._ready.clear()
            actual = hasher.hexdigest()
            hasher.close()
        if written != self.size:  # pragma: no cover - every part is checked; kept as a last guard
            raise DownloadError(f"{self.remote.url}: wrote {written} of {self.size} bytes")
        return _result(self.remote, written, actual, verify_checksum, 1 + self.stats.resumes, self._resumed_bytes)

    # -- the download threads ------------------------------------------------------------------------

    def _work(self, transport: SyncTransport) -> None:
        try:
            while True:
                with self._cond:
                    waited = False
                    while (
                        not self._stopping
                        and self._next_part < self.parts
                        and self._next_part >= self._next_write + self.window
                    ):
                        if not waited:
                            self.stats.window_waits += 1
                            waited = True
                        self._cond.wait()
                    if self._stopping or self._next_part >= self.parts:
                        return
                    index = self._next_part
                    self._next_part += 1
                    if self._free:
                        buffer = self._free.pop()
                    else:
                        buffer = bytearray(self.part_size)
                        self.stats.allocated_bytes += self.part_size
                    self.stats.buffered_bytes += self.part_size
                    self.stats.peak_buffered_bytes = max(self.stats.peak_buffered_bytes, self.stats.buffered_bytes)
                if not self._fetch(transport, index, buffer):
                    return
                with self._cond:
                    self._ready[index] = buffer
                    self._cond.notify_all()
        except BaseException as exc:
            with self._cond:
                if self._error is None:
                    self._error = exc
                self._stopping = True
                self._cond.notify_all()

    def _fetch(self, transport: SyncTransport, index: int, buffer: bytearray) -> bool:
        """Fill ``buffer`` with part ``index``, resuming after cuts; False when the download stops."""
        start, length = self._part(index)
        view = memoryview(buffer)[:length]
        got = 0
        failures = 0
        while True:
            response: requests.Response | None = None
            if index == 0:
                with self._cond:
                    response, self._first_response = self._first_response, None
            if response is None:
                response = self._request_range(transport, start + got, start + length - 1)
            body = _Body(response, self.chunk_size)
            problem = ""
            try:
                while got < length:
                    if self._stopping:
                        return False
                    try:
                        n = body.readinto(view[got : got + min(self.chunk_size, length - got)])
                    except _READ_ERRORS as exc:
                        problem = f"{type(exc).__name__} after {got} bytes"
                        break
                    if not n:
                        problem = f"connection closed after {got} bytes"
                        break
                    got += n
            finally:
                body.close()
            if got == length:
                return True
            failures += 1
            if failures > self.max_resumes:
                raise DownloadError(
                    f"{self.remote.url}: part {index} (bytes {start}-{start + length - 1}): {problem}; "
                    f"gave up after {failures} attempts"
                )
            log.info(
                "Download of %s, part %d cut (%s); resuming from byte %d", self.remote.url, index, problem, start + got
            )
            with self._cond:
                self.stats.resumes += 1
                self._resumed_bytes += got

    def _request_range(self, transport: SyncTransport, first: int, last: int) -> requests.Response:
        headers = {"Range": f"bytes={first}-{last}"}
        etag = self.remote.etag
        if etag and not etag.startswith("W/"):
            headers["If-Range"] = etag  # a file replaced meanwhile answers 200, not a mix of two files
        try:
            response = transport.request(self.call, stream=True, headers=headers)
        except TransportError as exc:
            raise DownloadError(f"{self.remote.url}: could not fetch bytes {first}-{last}: {exc}") from None
        with self._cond:
            self.stats.requests += 1
        if response.status_code != 206:
            status = response.status_code
            response.close()
            raise DownloadError(
                f"{self.remote.url}: asked for bytes {first}-{last}, got HTTP {status} instead of 206: the file "
                "changed on the server or it stopped honouring ranges; download again"
            )
        match = _CONTENT_RANGE_RE.match(response.headers.get("Content-Range", ""))
        if not match or (int(match.group(1)), int(match.group(2)), match.group(3)) != (first, last, str(self.size)):
            response.close()
            raise DownloadError(
                f"{self.remote.url}: asked for bytes {first}-{last}/{self.size}, the server sent "
                f"{response.headers.get('Content-Range')!r}"
            )
        return response
