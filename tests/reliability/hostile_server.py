"""A small hostile OneAtlas look-alike for the reliability tests.

:class:`HostileServer` is an ``http.server`` on a background thread, bound to 127.0.0.1 on a free
port, optionally behind TLS. Its token endpoint answers with a valid token (so the provider gets as
far as the call under test); every other path answers what a test routes there: malformed JSON,
documents missing required fields, redirects, and downloads that lie about their size, their md5 or
what their zip holds. Responses are written as raw bytes on the socket, so a body can run past its
``Content-Length`` or be cut short. Every request is recorded with its headers, so a test can tell
what reached the server and with which ``Authorization``.

It also builds the hostile payloads (zips with path escapes, a streamed zip bomb, a zip whose
headers lie about a member's size) and a throwaway CA with a server certificate for TLS tests.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import ipaddress
import json
import secrets
import ssl
import stat
import struct
import threading
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_oneatlas.client.api import TOKEN_PATH

CHUNK = 64 * 1024
MIB = 1024 * 1024
_LOOPBACK = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class RecordedRequest:
    """What reached the server. Header names are lower-cased."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


class Exchange:
    """One request and the raw means to answer it."""

    def __init__(self, handler: _Handler, request: RecordedRequest, server: HostileServer) -> None:
        self.handler = handler
        self.request = request
        self.server = server

    def write(self, data: bytes) -> None:
        self.handler.wfile.write(data)

    def start(self, status: int, headers: Iterable[tuple[str, str]]) -> None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Whatever"
        lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers), "Connection: close", "", ""]
        self.write("\r\n".join(lines).encode("latin-1"))

    def send(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str = "application/json",
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.start(status, [("Content-Type", content_type), ("Content-Length", str(len(body))), *headers])
        if self.request.method != "HEAD":
            self.write(body)


Responder = Callable[[Exchange], None]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read ``HostileServer.requests`` instead."""

    def _handle(self) -> None:
        self.close_connection = True
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        record = RecordedRequest(
            method=self.command,
            path=parts.path,
            query=parts.query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        owner = self.server.owner
        owner.record(record)
        responder = owner.responder_for(record.method, record.path)
        # The client hanging up mid-answer is what a hostile server is for.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, ssl.SSLError, TimeoutError):
            responder(Exchange(self, record, owner))
            self.wfile.flush()

    do_GET = do_POST = do_HEAD = do_PUT = do_PATCH = do_DELETE = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: HostileServer

    def finish_request(self, request: Any, client_address: Any) -> None:
        context = self.owner.ssl_context
        if context is None:
            super().finish_request(request, client_address)
            return
        # TLS per connection, in the worker thread: a client refusing the certificate only ends
        # its own connection.
        request.settimeout(10)
        try:
            wrapped = context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            self.owner.tls_failures += 1
            return
        try:
            super().finish_request(wrapped, client_address)
        finally:
            with contextlib.suppress(OSError):
                wrapped.close()


class HostileServer:
    """The hostile server. Use as a context manager; ``base_url`` is ``http(s)://127.0.0.1:PORT``."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> None:
        if host not in _LOOPBACK:
            raise ValueError(f"HostileServer binds loopback addresses only, not {host!r}")
        self.host = host
        self.ssl_context = ssl_context
        self.requests: list[RecordedRequest] = []
        self.tokens: list[str] = []
        self.bytes_sent: dict[str, int] = {}
        self.tls_failures = 0
        self._routes: list[tuple[str, str, Responder]] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.route("POST", TOKEN_PATH, issue_token)

    # -- routes -----------------------------------------------------------------------------------

    def route(self, method: str, path: str, responder: Responder) -> HostileServer:
        """Answer ``method path`` with ``responder``. Later routes win; a path ending in ``*`` is a prefix."""
        with self._lock:
            self._routes.insert(0, (method.upper(), path, responder))
        return self

    def responder_for(self, method: str, path: str) -> Responder:
        with self._lock:
            routes = list(self._routes)
        for route_method, route_path, responder in routes:
            if route_method not in (method, "*"):
                continue
            if route_path == path or (route_path.endswith("*") and path.startswith(route_path[:-1])):
                return responder
        return json_answer({"message": f"No route for {method} {path}", "internalCode": "NOT_FOUND"}, status=404)

    # -- records ----------------------------------------------------------------------------------

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def api_requests(self) -> list[RecordedRequest]:
        """Everything but the token exchange."""
        with self._lock:
            return [r for r in self.requests if r.path != TOKEN_PATH]

    # -- life cycle -------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the hostile server is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def start(self) -> HostileServer:
        if self._server is not None:
            return self
        server = _Server((self.host, 0), _Handler)
        server.owner = self
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="hostile-server", daemon=True
        )
        thread.start()
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------------
# Responders
# --------------------------------------------------------------------------------------------------


def issue_token(exchange: Exchange) -> None:
    """A valid Keycloak token answer, whatever the key (the server is hostile, not strict)."""
    token = "hostile-" + secrets.token_urlsafe(24)
    with exchange.server._lock:
        exchange.server.tokens.append(token)
    body = {"access_token": token, "expires_in": 3600, "refresh_expires_in": 0, "token_type": "bearer"}
    exchange.send(200, json.dumps(body).encode())


def json_answer(doc: Any, *, status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> Responder:
    body = json.dumps(doc).encode()
    extra = tuple(headers)

    def respond(exchange: Exchange) -> None:
        exchange.send(status, body, headers=extra)

    return respond


def raw_answer(
    body: bytes,
    *,
    status: int = 200,
    content_type: str = "application/json",
    headers: Iterable[tuple[str, str]] = (),
) -> Responder:
    extra = tuple(headers)

    def respond(exchange: Exchange) -> None:
        exchange.send(status, body, content_type=content_type, headers=extra)

    return respond


def redirect(location: str, *, status: int = 302) -> Responder:
    def respond(exchange: Exchange) -> None:
        exchange.send(status, b"", content_type="text/plain", headers=[("Location", location)])

    return respond


def md5_of(source: Path | bytes) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    if isinstance(source, bytes):
        digest.update(source)
    else:
        with source.open("rb") as handle:
            while block := handle.read(MIB):
                digest.update(block)
    return digest.hexdigest()


def _chunks(source: Path | bytes) -> Iterable[bytes]:
    if isinstance(source, bytes):
        for start in range(0, len(source), CHUNK):
            yield source[start : start + CHUNK]
        return
    with source.open("rb") as handle:
        while block := handle.read(CHUNK):
            yield block


_ACTUAL = object()


def file_answer(
    source: Path | bytes,
    *,
    md5: str | bool = True,
    content_length: int | object | None = _ACTUAL,
    extra_bytes: bytes = b"",
    chunked: bool = False,
    cut_after: int | None = None,
    content_type: str = "application/zip",
    filename: str | None = None,
    key: str = "download",
) -> Responder:
    """A download answer that may lie.

    ``md5``: True announces the real md5, a string announces that value, False announces none.
    ``content_length``: the real size by default, an int to announce another, None for no header.
    ``extra_bytes`` are written after the body (past ``Content-Length``); ``chunked`` sends the body
    with chunked transfer encoding (a ``Content-Length`` may still be announced beside it);
    ``cut_after`` closes the connection after that many body bytes. Bytes written are counted in
    ``server.bytes_sent[key]``.
    """

    def respond(exchange: Exchange) -> None:
        size = len(source) if isinstance(source, bytes) else source.stat().st_size
        headers: list[tuple[str, str]] = [("Content-Type", content_type)]
        if content_length is _ACTUAL:
            headers.append(("Content-Length", str(size)))
        elif isinstance(content_length, int):
            headers.append(("Content-Length", str(content_length)))
        if md5 is True:
            headers += [("X-Ads-Checksum-Method", "md5"), ("X-Ads-Checksum-Value", md5_of(source))]
        elif isinstance(md5, str):
            headers += [("X-Ads-Checksum-Method", "md5"), ("X-Ads-Checksum-Value", md5)]
        if filename is not None:
            headers.append(("Content-Disposition", f'attachment; filename="{filename}"'))
        if chunked:
            headers.append(("Transfer-Encoding", "chunked"))
        exchange.start(200, headers)
        if exchange.request.method == "HEAD":
            return
        sent = 0
        try:
            for block in _chunks(source):
                if cut_after is not None and sent + len(block) >= cut_after:
                    block = block[: cut_after - sent]
                    _write_block(exchange, block, chunked)
                    sent += len(block)
                    return
                _write_block(exchange, block, chunked)
                sent += len(block)
            if extra_bytes:
                _write_block(exchange, extra_bytes, chunked)
                sent += len(extra_bytes)
            if chunked:
                exchange.write(b"0\r\n\r\n")
        finally:
            _count(exchange, key, sent)

    return respond


def endless_answer(*, announced: int, limit: int = 64 * MIB, key: str = "endless") -> Responder:
    """Announces ``Content-Length: announced`` but streams zeros (chunked) until the client hangs up
    or ``limit`` bytes are out."""

    def respond(exchange: Exchange) -> None:
        exchange.start(
            200,
            [
                ("Content-Type", "application/zip"),
                ("Content-Length", str(announced)),
                ("Transfer-Encoding", "chunked"),
            ],
        )
        sent = 0
        block = bytes(CHUNK)
        try:
            while sent < limit:
                _write_block(exchange, block, True)
                sent += len(block)
            exchange.write(b"0\r\n\r\n")
        finally:
            _count(exchange, key, sent)

    return respond


def _write_block(exchange: Exchange, block: bytes, chunked: bool) -> None:
    if not block:
        return
    if chunked:
        exchange.write(f"{len(block):x}\r\n".encode() + block + b"\r\n")
    else:
        exchange.write(block)


def _count(exchange: Exchange, key: str, sent: int) -> None:
    with exchange.server._lock:
        exchange.server.bytes_sent[key] = exchange.server.bytes_sent.get(key, 0) + sent


# --------------------------------------------------------------------------------------------------
# Hostile zips
# --------------------------------------------------------------------------------------------------

_DATE = (2024, 5, 1, 12, 0, 0)


def write_zip(path: Path, members: Sequence[tuple[str, bytes]], *, symlinks: Sequence[tuple[str, str]] = ()) -> Path:
    """A zip whose entry names are kept exactly as given (``../x``, ``/abs``, ``C:\\x`` included)."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            archive.writestr(info, data)
        for name, target in symlinks:
            info = zipfile.ZipInfo(name, date_time=_DATE)
            info.create_system = 3  # unix, so the mode bits count
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return path


def write_zip_bomb(path: Path, *, size: int = 200 * MIB, name: str = "IMG_PHR1A_P_001/bomb.JP2") -> Path:
    """One member of ``size`` zero bytes, deflated (about 1000x), written streaming: the expanded
    data is never held in memory."""
    info = zipfile.ZipInfo(name, date_time=_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    block = bytes(MIB)
    with zipfile.ZipFile(path, "w") as archive, archive.open(info, "w") as member:
        remaining = size
        while remaining > 0:
            step = min(remaining, MIB)
            member.write(block[:step])
            remaining -= step
    return path


def write_lying_zip(
    path: Path,
    *,
    name: str = "IMG_PHR1A_P_001/lying.JP2",
    real_size: int = 8 * MIB,
    declared_ratio: float = 10.0,
    before: Sequence[tuple[str, bytes]] = (),
) -> tuple[Path, int]:
    """A zip whose member ``name`` holds ``real_size`` bytes while its local and central headers
    declare only ``declared_ratio`` times its compressed size (so the declared ratio looks like
    imagery, not a bomb). ``before`` are honest members stored ahead of it. Returns the path and the
    declared size."""
    write_zip(path, [*before, (name, bytes(real_size))])
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(name)
    declared = int(info.compress_size * declared_ratio)
    # Local file header: signature, then uncompressed size at offset 22.
    local = info.header_offset
    if data[local : local + 4] != b"PK\x03\x04":
        raise RuntimeError("unexpected zip layout")
    struct.pack_into("<I", data, local + 22, declared)
    # Central directory entry of ``name``: uncompressed size at offset 24, name length at 28.
    encoded = name.encode()
    position = data.find(b"PK\x01\x02")
    while position != -1:
        name_length = struct.unpack_from("<H", data, position + 28)[0]
        if bytes(data[position + 46 : position + 46 + name_length]) == encoded:
            struct.pack_into("<I", data, position + 24, declared)
            break
        position = data.find(b"PK\x01\x02", position + 4)
    else:
        raise RuntimeError("central directory entry not found")
    path.write_bytes(bytes(data))
    return path, declared


# --------------------------------------------------------------------------------------------------
# TLS
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    server_cert: Path
    server_key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.server_cert, self.server_key)
        return context


def make_tls_files(
    directory: Path, *, ip_names: Sequence[str] = ("127.0.0.1",), dns_names: Sequence[str] = ("localhost",)
) -> TlsFiles:
    """A throwaway CA and a server certificate signed by it, for the given IP and DNS names."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "OneAtlas provider test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_names]
    names += [x509.DNSName(name) for name in dns_names]
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, (list(dns_names) or ["server"])[0])]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.server_cert.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    files.server_key.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return files
