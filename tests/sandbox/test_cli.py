"""The ``oneatlas-sandbox`` command (``airflow_provider_oneatlas.sandbox.cli``)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airflow_provider_oneatlas.sandbox import cli
from airflow_provider_oneatlas.sandbox.config import SETTING_HELP, SandboxConfig
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


def sandbox_command() -> str:
    """The installed ``oneatlas-sandbox`` console script of this interpreter's environment."""
    command = shutil.which("oneatlas-sandbox", path=str(Path(sys.executable).parent))
    assert command is not None, "oneatlas-sandbox is not installed next to this interpreter"
    return command


def test_help_says_what_each_setting_means_and_accepts() -> None:
    shown = subprocess.run([sandbox_command(), "--help"], capture_output=True, text=True, timeout=60, check=True).stdout
    flat = " ".join(shown.split())
    for name in SandboxConfig.field_names():
        meaning = " ".join(SETTING_HELP[name].replace("%%", "%").split())
        assert meaning in flat, f"--{name.replace('_', '-')}: {meaning!r} not in the help"
        assert ("(" in meaning and ")" in meaning) or name == "ranges", f"{name}: say what it accepts"
    assert "--clock-start CLOCK_START" in shown and "default: none" in flat
    assert "--log-level {critical,error,warning,info,debug,trace}" in shown
    # python -m runs the same command (``__main__``).
    module_help = subprocess.run(
        [sys.executable, "-m", "airflow_provider_oneatlas.sandbox", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert module_help == shown


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stopping_the_cli_removes_its_cache_directory(tmp_path: Path, stop: signal.Signals) -> None:
    """Stopped as servers are stopped, the sandbox leaves no oneatlas-sandbox-* folder behind."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    port_file = tmp_path / "port"
    env = {**os.environ, "TMPDIR": str(temp), "PYTHONUNBUFFERED": "1"}
    command = [
        sandbox_command(),
        "--port",
        "0",
        "--port-file",
        str(port_file),
        "--processing-after",
        "0",
        "--delivered-after",
        "0",
        "--download-size",
        "65536",
        "--catalog-size",
        "10",
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip().isdigit()):
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "the sandbox did not start"
            time.sleep(0.05)
        api = Api(f"http://127.0.0.1:{port_file.read_text().strip()}")
        try:
            order = api.order()
            delivered = api.wait_status(order["id"], {"delivered"})
            download = api.get(delivered["deliveries"][0]["_links"]["download"]["href"])
            assert download.status_code == 200 and len(download.content) == 65536
        finally:
            api.close()
        caches = list(temp.glob("oneatlas-sandbox-*"))
        assert len(caches) == 1 and any(caches[0].iterdir()), "the download was cached in the temp folder"
        process.send_signal(stop)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()
    assert list(temp.glob("oneatlas-sandbox-*")) == []
