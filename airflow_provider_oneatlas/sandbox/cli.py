"""``oneatlas-sandbox``: run the OneAtlas sandbox from the command line.

    oneatlas-sandbox [--host 127.0.0.1] [--port 8765] [--port-file PATH] [--error-rate 0.1] ...

Every setting of :class:`~airflow_provider_oneatlas.sandbox.config.SandboxConfig` is a flag
(``--error-rate``) and an environment variable (``ONEATLAS_SANDBOX_ERROR_RATE``). The server listens on
loopback only unless ``--allow-remote`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from airflow_provider_oneatlas.sandbox.app import create_app
from airflow_provider_oneatlas.sandbox.config import ConfigError, SandboxConfig
from airflow_provider_oneatlas.sandbox.server import is_loopback
from airflow_provider_oneatlas.sandbox.state import SandboxState

DEFAULT_PORT = 8765


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oneatlas-sandbox",
        description="A local OneAtlas-compatible server for tests, demos and offline DAG development.",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on: a loopback address (127.0.0.1, ::1, localhost) unless --allow-remote "
        "(default: 127.0.0.1)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"TCP port to listen on; 0: any free port (default: {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--port-file", type=Path, help="a file to write the bound port to once listening (useful with --port 0)"
    )
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow a non-loopback --host (the sandbox has no real security)"
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=("critical", "error", "warning", "info", "debug", "trace"),
        help="how much the web server logs (default: warning)",
    )
    SandboxConfig.add_arguments(parser)
    return parser


def connection_env(base_url: str, api_key: str) -> str:
    """The environment variable that points Airflow's default OneAtlas connection at the sandbox."""
    conn = json.dumps({"conn_type": "oneatlas", "host": base_url, "password": api_key})
    return f"AIRFLOW_CONN_ONEATLAS_DEFAULT='{conn}'"


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _write_port_file(path: Path, port: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(f"{port}\n")
    os.replace(tmp, path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    host: str = "127.0.0.1" if args.host == "localhost" else args.host
    if not is_loopback(host) and not args.allow_remote:
        parser.error(f"--host {host} is not a loopback address; add --allow-remote to listen on it anyway")
    try:
        config = SandboxConfig.from_args(args)
    except ConfigError as exc:
        parser.error(str(exc))
    app = create_app(config)
    try:
        sock = _bind(host, args.port)
    except OSError as exc:
        print(f"oneatlas-sandbox: cannot listen on {host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    port = int(sock.getsockname()[1])
    shown_host = f"[{host}]" if ":" in host else host
    base_url = f"http://{shown_host}:{port}"
    api_key = config.api_keys[0]
    print(f"OneAtlas sandbox listening on {base_url} (API key: {api_key})", flush=True)
    print(f"Point Airflow at it: export {connection_env(base_url, api_key)}", flush=True)
    if not is_loopback(host):
        print("WARNING: listening on a non-loopback address; anyone who can reach it can use it.", flush=True)
    if args.port_file is not None:
        _write_port_file(args.port_file, port)
    uv_config = uvicorn.Config(
        app, log_level=args.log_level, access_log=False, lifespan="off", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(uv_config)
    state: SandboxState = app.state.sandbox
    previous = _exit_on_sigterm()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        # Removes the temporary download cache (oneatlas-sandbox-* in the temp folder).
        state.close()
        sock.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


def _raise_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def _exit_on_sigterm() -> signal.Handlers | Callable[[int, FrameType | None], Any] | int | None:
    """Make SIGTERM end ``main`` through its ``finally``; returns the handler it replaced.

    uvicorn shuts down gracefully on SIGTERM and then raises the signal again under the handler that was
    there before it started. Python's default handler would kill the process on the spot, skipping the
    cleanup; this one raises ``SystemExit`` instead. Signals can be handled in the main thread only.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_exit)
