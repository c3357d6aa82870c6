"""Running the sandbox from Python (``airflow_provider_oneatlas.sandbox.server``): in-process and child-process."""

from __future__ import annotations

import socket

import httpx
import pytest

from airflow_provider_oneatlas.sandbox.config import SandboxConfig
from airflow_provider_oneatlas.sandbox.server import SandboxProcess, SandboxServer, is_loopback


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.5.5.5", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("10.0.0.1", False),
        ("example.org", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_in_process_server_starts_on_a_free_port_and_stops() -> None:
    with SandboxServer(SandboxConfig(catalog_size=5, balance=7)) as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        assert httpx.get(server.base_url + "/_sandbox/health", trust_env=False).json() == {"status": "ok"}
        assert server.state.balance == 7
        port = int(server.base_url.rsplit(":", 1)[1])
    assert port_is_free(port)


def test_child_process_server_refuses_remote_hosts_and_reports_a_failed_start() -> None:
    with pytest.raises(ValueError, match="loopback"):
        SandboxProcess(host="0.0.0.0")
    broken = SandboxProcess(extra_args=["--error-rate", "2"], startup_timeout=30)
    with pytest.raises(RuntimeError, match="error_rate must be between 0 and 1"):
        broken.start()
    assert broken.process is None
