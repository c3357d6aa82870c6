"""Streaming a download into S3 with its parts uploaded concurrently, completed only on success.

s3fs, behind ``ObjectStoragePath("s3://...")``, uploads the parts of one file one after the other;
boto3's ``upload_file`` sends ten at once. ``open_sink`` gives a download a file-like sink that cuts
the stream into parts and uploads up to ``connections`` of them at once from a thread pool, with the
boto3 client of the amazon provider's ``S3Hook`` for the path's connection (the hook the provider
builds the path's s3fs filesystem from: same credentials, endpoint and settings), and:

- completes the multipart upload only when the ``with`` block ends without an exception, that is
  after the download checked the size and the md5: nothing incomplete ever carries the final key;
- aborts it on any exception, ``KeyboardInterrupt`` and ``SystemExit`` included, after the parts
  in flight have ended, and checks with ListMultipartUploads that it is gone;
- first aborts the multipart uploads an earlier try left on the same key (a SIGKILLed worker runs
  no cleanup; such an upload is invisible but billed until aborted);
- holds at most ``connections`` part buffers at once (8 MiB each up to 16 GiB, then larger parts to
  stay under S3's 10,000 parts): memory does not follow the file's size.

A file smaller than one part is sent with one PutObject, which is atomic as well.

Every request declares a CRC32 checksum, as boto3's transfer manager (``upload_file``) does by
default: S3 checks each part on arrival and keeps a checksum of the object, and the servers that
speak S3 (moto measured here) do markedly less work per part when the upload declared its algorithm
up front (``benchmarks/bench_s3.py``: the endpoint's CPU per GB fell to ``upload_file``'s). As in
the transfer manager, only while the client's ``request_checksum_calculation`` is
``when_supported`` (botocore's default): a connection set to ``when_required`` for a store that
rejects checksums gets none.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any, cast

log = logging.getLogger(__name__)

PART_SIZE = 8 * 1024 * 1024  # boto3's multipart_chunksize; S3 wants 5 MiB at least (but the last)
DEFAULT_CONNECTIONS = 8
#: The default of boto3's transfer manager (``upload_file``), and what S3 and botocore use by default.
CHECKSUM_ALGORITHM = "CRC32"
#: Parts before the part size doubles (S3 allows 10,000 parts): 8 MiB parts up to 16 GiB.
PARTS_PER_SIZE = 2000


def is_s3(path: Any) -> bool:
    """Whether ``path`` (an ``ObjectStoragePath``) is written through s3fs."""
    if getattr(path, "protocol", None) not in ("s3", "s3a"):
        return False
    try:
        from s3fs import S3FileSystem
    except ImportError:  # pragma: no cover - the amazon provider brings s3fs
        return False
    return isinstance(path.fs, S3FileSystem)


def open_sink(
    final: Any, *, connections: int = DEFAULT_CONNECTIONS, part_size: int = PART_SIZE
) -> contextlib.AbstractContextManager[IO[bytes]] | None:
    """A context manager yielding a sink that stores ``final`` when the block succeeds, for S3 paths.

    ``None`` for any other scheme: the caller keeps its generic sink, e.g.
    ``with open_sink(final) or staged(final) as sink: ...``.
    """
    if not is_s3(final):
        return None
    bucket, key, _ = final.fs.split_path(final.path)
    return _upload(final, bucket, key, connections=connections, part_size=part_size)


_CLIENTS: dict[tuple[Any, ...], Any] = {}
_CLIENTS_LOCK = threading.Lock()


def s3_client(final: Any, connections: int) -> Any:
    """The boto3 S3 client of the path's Airflow connection, with a connection per part in flight.

    boto3 rather than s3fs's aiobotocore client: s3fs runs every request on its one event-loop
    thread and copies each part's body, which held the parts back to about half of boto3's pace and
    doubled the memory of the parts in flight (measured). Clients are kept per connection settings
    for the process: building one (session, service model) costs more CPU than a 100 MB upload's
    own work on a busy machine, and a task may store several items.
    """
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    from botocore.config import Config

    # Airflow 3.3's ObjectStoragePath keeps the connection id apart; older ones in storage_options.
    conn_id = getattr(final, "conn_id", None) or final.storage_options.get("conn_id")
    hook = S3Hook(aws_conn_id=conn_id)
    wrapper = hook.conn_config
    # Without an endpoint in the connection, botocore takes the one of the environment, if any.
    endpoint = wrapper.get_service_endpoint_url(service_name="s3") or (
        os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    )
    key = (hook.aws_conn_id, endpoint, hook.region_name, wrapper.aws_access_key_id, wrapper.role_arn, connections)
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            pool = Config(max_pool_connections=max(10, connections + 2))
            client = hook.get_client_type(region_name=hook.region_name, config=hook.config.merge(pool))
            _CLIENTS[key] = client
        return client


class _Calls:
    """``call_s3(method, **kwargs)`` on a boto3 client (the shape of s3fs's, which tests may use)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def call_s3(self, method: str, **kwargs: Any) -> Any:
        return getattr(self.client, method)(**kwargs)


@contextlib.contextmanager
def _upload(final: Any, bucket: str, key: str, *, connections: int, part_size: int) -> Iterator[IO[bytes]]:
    fs = _Calls(s3_client(final, connections))
    abort_orphans(fs, bucket, key)
    sink = S3PartSink(
        fs, bucket, key, connections=connections, part_size=part_size, checksum=declared_checksum(fs.client)
    )
    try:
        yield cast(IO[bytes], sink)
    except BaseException:
        sink.abort()
        raise
    try:
        sink.commit()
    except BaseException:
        sink.abort()
        raise


def declared_checksum(client: Any) -> str | None:
    """The checksum algorithm to declare, as boto3's transfer manager decides it for ``upload_file``."""
    config = getattr(getattr(client, "meta", None), "config", None)
    if getattr(config, "request_checksum_calculation", "when_supported") == "when_supported":
        return CHECKSUM_ALGORITHM
    return None


def pending_uploads(fs: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    """The multipart uploads in progress on exactly ``key`` (ListMultipartUploads under its prefix)."""
    uploads: list[dict[str, Any]] = []
    marker: dict[str, str] = {}
    while True:
        answer = fs.call_s3("list_multipart_uploads", Bucket=bucket, Prefix=key, **marker)
        uploads += [u for u in answer.get("Uploads", []) if u.get("Key") == key]
        if not answer.get("IsTruncated"):
            return uploads
        marker = {"KeyMarker": answer["NextKeyMarker"], "UploadIdMarker": answer["NextUploadIdMarker"]}


def abort_orphans(fs: Any, bucket: str, key: str) -> int:
    """Abort the multipart uploads left on ``key`` by earlier tries; how many there were.

    Only uploads on exactly our final key count as ours: the key names one item in the task's
    destination, which only this task writes.
    """
    orphans = pending_uploads(fs, bucket, key)
    for upload in orphans:
        log.warning(
            "Aborting the unfinished upload %s of s3://%s/%s left by an earlier try", upload["UploadId"], bucket, key
        )
        fs.call_s3("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload["UploadId"])
    return len(orphans)


class S3PartSink(io.RawIOBase):
    """Write-only, not seekable: bytes go into part buffers, full parts upload on a thread pool.

    A buffer is taken from a pool of at most ``connections`` buffers before being filled and comes
    back when its part is uploaded, so the pool bounds both the parts in flight and the memory.
    """

    def __init__(
        self,
        fs: Any,
        bucket: str,
        key: str,
        *,
        connections: int,
        part_size: int,
        checksum: str | None = CHECKSUM_ALGORITHM,
    ) -> None:
        super().__init__()
        if connections < 1:
            raise ValueError(f"connections must be at least 1, got {connections}")
        if part_size < 5 * 1024 * 1024:
            raise ValueError(f"part_size must be at least 5 MiB (S3's minimum), got {part_size}")
        self.fs, self.bucket, self.key = fs, bucket, key
        self.connections = connections
        self.part_size = part_size
        # ChecksumAlgorithm for every request, None for none (see the module's docstring).
        self._checksum_args = {"ChecksumAlgorithm": checksum} if checksum else {}
        self._checksum_key = f"Checksum{checksum}" if checksum else None
        self.upload_id: str | None = None
        self.size = 0
        self._free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        self._buffers = 0
        self._buffer: bytearray | None = None
        self._filled = 0
        self._parts: dict[int, Future[dict[str, Any]]] = {}
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._finished = False

    # -- io.RawIOBase ------------------------------------------------------------------------------

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False  # a download that cannot resume fails rather than restarting this sink

    def write(self, data: Any) -> int:
        if self._finished:
            raise ValueError("write to a finished S3 upload")
        self._raise_failure()
        view = memoryview(data).cast("B")
        taken = 0
        while taken < len(view):
            if self._buffer is None:
                self._buffer = self._take_buffer()
                self._filled = 0
            size = len(self._buffer)
            n = min(size - self._filled, len(view) - taken)
            self._buffer[self._filled : self._filled + n] = view[taken : taken + n]
            self._filled += n
            taken += n
            if self._filled == size:
                self._send(self._buffer, size)
                self._buffer = None
        self.size += taken
        return taken

    # -- parts -------------------------------------------------------------------------------------

    def _current_part_size(self) -> int:
        return self.part_size << (len(self._parts) // PARTS_PER_SIZE)

    def _take_buffer(self) -> bytearray:
        size = self._current_part_size()
        while True:
            try:
                buffer = self._free.get_nowait()
            except queue.Empty:
                if self._buffers < self.connections:
                    self._buffers += 1
                    return bytearray(size)
                buffer = self._free.get()  # every buffer is uploading: wait for one to come back
            self._raise_failure()
            if len(buffer) == size:
                return buffer
            self._buffers -= 1  # the part size grew: let the old buffer go

    def _send(self, buffer: bytearray, length: int) -> None:
        if self.upload_id is None:
            answer = self.fs.call_s3("create_multipart_upload", Bucket=self.bucket, Key=self.key, **self._checksum_args)
            self.upload_id = answer["UploadId"]
            self._pool = ThreadPoolExecutor(self.connections, thread_name_prefix="oneatlas-s3-part")
        assert self._pool is not None
        number = len(self._parts) + 1
        body = buffer if length == len(buffer) else bytes(memoryview(buffer)[:length])
        future = self._pool.submit(self._upload_part, number, body)
        self._parts[number] = future
        future.add_done_callback(lambda done: self._part_done(done, buffer))

    def _upload_part(self, number: int, body: bytes | bytearray) -> dict[str, Any]:
        if self._error is not None:  # failing already: do not send more
            raise RuntimeError("upload aborted")
        answer = self.fs.call_s3(
            "upload_part",
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=body,
            **self._checksum_args,
        )
        part = {"PartNumber": number, "ETag": answer["ETag"]}
        key = self._checksum_key
        if key and answer.get(key):  # S3 wants each part's checksum again on completion when declared
            part[key] = answer[key]
        return part

    def _part_done(self, future: Future[dict[str, Any]], buffer: bytearray) -> None:
        exc = future.exception() if not future.cancelled() else None
        if exc is not None:
            with self._lock:
                if self._error is None:
                    self._error = exc
        self._free.put(buffer)

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise OSError(f"upload of a part of s3://{self.bucket}/{self.key} failed: {self._error}") from self._error

    # -- the end -----------------------------------------------------------------------------------

    def commit(self) -> None:
        """Send what is left and complete the upload (or PutObject a file smaller than a part)."""
        if self._finished:
            return
        self._raise_failure()
        if self.upload_id is None:
            # Smaller than one part: one PutObject, atomic like a completed multipart upload.
            body = bytes(memoryview(self._buffer)[: self._filled]) if self._buffer is not None else b""
            self.fs.call_s3("put_object", Bucket=self.bucket, Key=self.key, Body=body, **self._checksum_args)
        else:
            if self._buffer is not None and self._filled:
                self._send(self._buffer, self._filled)
                self._buffer = None
            parts = [self._parts[number].result() for number in sorted(self._parts)]
            self.fs.call_s3(
                "complete_multipart_upload",
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self.upload_id,
                MultipartUpload={"Parts": parts},
            )
        self._finish()

    def abort(self) -> None:
        """Stop: no more parts, wait for those in flight, abort the upload; never raises."""
        if self._finished:
            return
        with self._lock:
            if self._error is None:
                self._error = RuntimeError("aborted")
        self._finish()
        if self.upload_id is None:
            return
        try:
            self.fs.call_s3("abort_multipart_upload", Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
            # S3 may keep a part that was still arriving: abort until the upload is really gone.
            for _ in range(3):
                if not any(u["UploadId"] == self.upload_id for u in pending_uploads(self.fs, self.bucket, self.key)):
                    break
                self.fs.call_s3("abort_multipart_upload", Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
        except Exception:
            # The next try sweeps it (abort_orphans); the original error matters more than this one.
            log.exception("could not abort the upload %s of s3://%s/%s", self.upload_id, self.bucket, self.key)

    def _finish(self) -> None:
        self._finished = True
        self._buffer = None
        if self._pool is not None:
            # Parts not started are cancelled; those on the wire end before the upload is aborted.
            self._pool.shutdown(wait=True, cancel_futures=True)
        super().close()

    def close(self) -> None:
        # Closing by hand is not a commit: only the context manager of ``open_sink`` completes.
        if not self._finished:
            self.abort()
