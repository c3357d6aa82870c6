"""Run the sandbox from Python: in this process (:class:`SandboxServer`) or in a child process
(:class:`SandboxProcess`). Both bind a free port on 127.0.0.1 and expose ``base_url``::

    with SandboxServer(SandboxConfig(delivered_after=0.5)) as sandbox:
        requests.get(sandbox.base_url + "/_sandbox/health")
        sandbox.state.balance          # the live SandboxState (in-process only)

    with SandboxProcess(SandboxConfig(error_rate=0.1)) as sandbox:
        ...                            # the server survives whatever the test process does
        sandbox.state                  # GET /_sandbox/state, as a dict
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from airflow_provider_oneatlas.sandbox.app import create_app
from airflow_provider_oneatlas.sandbox.config import SandboxConfig
from airflow_provider_oneatlas.sandbox.state import SandboxState

DEFAULT_HOST = "127.0.0.1"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _get_json(host: str, port: int, path: str, timeout: float = 5.0) -> Any:
    """GET a JSON document from the sandbox, bypassing any proxy settings of the environment."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}: {body[:200]!r}")
        return json.loads(body)
    finally:
        connection.close()


class SandboxServer:
    """The sandbox on a background thread of this process (uvicorn), for tests."""

    def __init__(
        self,
        config: SandboxConfig | None = None,
        host: str = DEFAULT_HOST,
        port: int = 0,
        *,
        log_level: str = "warning",
        startup_timeout: float = 30.0,
    ) -> None:
        if not is_loopback(host):
            raise ValueError(f"SandboxServer binds loopback addresses only, not {host!r}")
        self.config = config or SandboxConfig()
        self.host = host
        self.port = port
        self.log_level = log_level
        self.startup_timeout = startup_timeout
        self.app = create_app(self.config)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def state(self) -> SandboxState:
        state: SandboxState = self.app.state.sandbox
        return state

    def start(self) -> SandboxServer:
        if self._server is not None:
            return self
        uv_config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.port,
            log_level=self.log_level,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(uv_config)
        thread = threading.Thread(target=server.run, name="oneatlas-sandbox", daemon=True)
        thread.start()
        deadline = time.monotonic() + self.startup_timeout
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"the sandbox failed to start on {self.host}:{self.port}")
            if time.monotonic() > deadline:
                server.should_exit = True
                raise RuntimeError("the sandbox did not start in time")
            time.sleep(0.01)
        self.port = int(server.servers[0].sockets[0].getsockname()[1])
        self._server = server
        self._thread = thread
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(timeout=15)
        self._server = None
        self._thread = None
        self.state.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class SandboxProcess:
    """The sandbox as ``python -m airflow_provider_oneatlas.sandbox`` in a child process.

    For end-to-end tests and benchmarks where the server must live outside the test process. Starts
    on a free port, waits until ``/_sandbox/health`` answers, and terminates the child on exit.
    ``output`` holds what the child printed (the banner first).
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        host: str = DEFAULT_HOST,
        port: int = 0,
        *,
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        if not is_loopback(host):
            raise ValueError(f"SandboxProcess binds loopback addresses only, not {host!r}")
        self.config = config or SandboxConfig()
        self.host = host
        self.port = port
        self.extra_args = list(extra_args or [])
        self.env = env
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        self._output_path: Path | None = None
        self._output_text = ""

    @property
    def base_url(self) -> str:
        if self.process is None:
            raise RuntimeError("the sandbox is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    @property
    def output(self) -> str:
        """Everything the child printed so far (stdout and stderr)."""
        if self._output_path is not None and self._output_path.exists():
            return self._output_path.read_text(errors="replace")
        return self._output_text

    @property
    def state(self) -> dict[str, Any]:
        """The child's ``GET /_sandbox/state`` document."""
        state: dict[str, Any] = _get_json(self.host, self.port, "/_sandbox/state")
        return state

    def command(self, port_file: Path) -> list[str]:
        return [
            sys.executable,
            "-m",
            "airflow_provider_oneatlas.sandbox",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--port-file",
            str(port_file),
            *self.config.to_cli_args(),
            *self.extra_args,
        ]

    def start(self) -> SandboxProcess:
        if self.process is not None:
            return self
        self._workdir = Path(tempfile.mkdtemp(prefix="oneatlas-sandbox-process-"))
        port_file = self._workdir / "port"
        self._output_path = self._workdir / "output.log"
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        with self._output_path.open("wb") as output:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                self.command(port_file), stdout=output, stderr=subprocess.STDOUT, env=env
            )
        try:
            self._wait_ready(port_file)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, port_file: Path) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the sandbox process exited with {self.process.returncode}:\n{self.output[-4000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the sandbox process did not become ready:\n{self.output[-4000:]}")
            text = port_file.read_text().strip() if port_file.exists() else ""
            if text.isdigit():
                self.port = int(text)
                try:
                    if _get_json(self.host, self.port, "/_sandbox/health", timeout=2).get("status") == "ok":
                        return
                except (OSError, RuntimeError, ValueError):
                    pass
            time.sleep(0.05)

    def stop(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
        if self._workdir is not None:
            self._output_text = self.output
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
            self._output_path = None
        self.process = None

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
