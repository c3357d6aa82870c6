"""The ``oneatlas-sandbox`` command (``airflow_provider_oneatlas.sandbox.cli``)."""

from __future__ import annotations

import json

import pytest

from airflow_provider_oneatlas.sandbox import cli
from airflow_provider_oneatlas.sandbox.config import SandboxConfig
from airflow_provider_oneatlas.sandbox.server import SandboxProcess, SandboxServer
from tests.conftest import SANDBOX_KEY
from tests.sandbox.conftest import Api


def test_cli_refuses_remote_hosts(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--host", "0.0.0.0", "--port", "0"])  # refused before binding
    assert exit_info.value.code == 2
    assert "--allow-remote" in capsys.readouterr().err
    with pytest.raises(ValueError, match="loopback"):
        SandboxServer(host="0.0.0.0")


def test_cli_in_a_process_prints_the_banner_and_serves() -> None:
    config = SandboxConfig(processing_after=0.0, delivered_after=0.0, download_size=100_000, catalog_size=100)
    with SandboxProcess(config) as process:
        base = process.base_url
        assert base.startswith("http://127.0.0.1:") and process.port > 0
        lines = process.output.splitlines()
        assert lines[0] == f"OneAtlas sandbox listening on {base} (API key: {SANDBOX_KEY})"
        expected_conn = json.dumps({"conn_type": "oneatlas", "host": base, "password": SANDBOX_KEY})
        assert f"AIRFLOW_CONN_ONEATLAS_DEFAULT='{expected_conn}'" in lines[1]
        api = Api(base)
        try:
            order = api.order()
            delivered = api.wait_status(order["id"], {"delivered"})
            url = delivered["deliveries"][0]["_links"]["download"]["href"]
            body = api.get(url).content
            assert len(body) == 100_000
            assert process.state["balance"] == 100000 - order["price"]
            assert process.state["delivered_items"] == [url.rsplit("/", 2)[-2]]
        finally:
            api.close()
        pid = process.pid
    assert process.process is None and pid is not None
