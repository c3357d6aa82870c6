"""The package as users get it: ``python -m build`` makes an sdist and a wheel that ``twine check``
accepts; the wheel installs in a fresh virtual environment (with the lock file's pins), and there
runs the sandbox and the example acquisition DAG end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import requests

from tests.conftest import SANDBOX_KEY

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str | Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)
    assert result.returncode == 0, (
        f"{args} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result.stdout


@pytest.mark.slow
def test_build_check_install_and_run_in_a_fresh_venv(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "build", "--outdir", dist, ROOT)
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1
    run(sys.executable, "-m", "twine", "check", "--strict", *wheels, *sdists)
    names = zipfile.ZipFile(wheels[0]).namelist()
    assert "airflow_provider_oneatlas/py.typed" in names
    assert any(n.endswith("entry_points.txt") for n in names)
    assert not any(n.startswith(("tests/", "example_dags/")) for n in names)

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    uv = Path(sys.executable).parent / "uv"
    run(uv, "pip", "install", "-q", "-p", python, "-c", ROOT / "requirements" / "lock.txt", wheels[0], timeout=900)

    home = tmp_path / "airflow-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHONPATH"))}
    env |= {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
    }
    listed = json.loads(run(venv / "bin" / "airflow", "providers", "list", "-o", "json", env=env))
    assert any(p["package_name"] == "airflow-provider-oneatlas" for p in listed)

    port_file = tmp_path / "port"
    sandbox = subprocess.Popen(
        [
            venv / "bin" / "oneatlas-sandbox",
            "--port",
            "0",
            "--port-file",
            port_file,
            "--processing-after",
            "1",
            "--delivered-after",
            "2",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            assert sandbox.poll() is None and time.monotonic() < deadline, "the installed sandbox did not start"
            time.sleep(0.2)
        base = f"http://127.0.0.1:{port_file.read_text().strip()}"
        env["AIRFLOW_CONN_ONEATLAS_DEFAULT"] = json.dumps(
            {"conn_type": "oneatlas", "host": base, "password": SANDBOX_KEY}
        )
        run(venv / "bin" / "airflow", "db", "migrate", env=env)
        destination = tmp_path / "imagery"
        conf = {"start": "2024-01-01", "end": "2024-12-31", "destination": f"file://{destination}/"}
        run(venv / "bin" / "airflow", "dags", "test", "oneatlas_acquisition", "-c", json.dumps(conf), env=env)
        zips = list(destination.rglob("*.zip"))
        assert len(zips) == 1
        item = zips[0].stem
        truth = requests.get(f"{base}/_sandbox/items/{item}/file", timeout=10).json()
        assert zips[0].stat().st_size == truth["size"]
        # pystac came with the wheel's own dependencies: the STAC Item is beside the zip.
        item_doc = json.loads((zips[0].parent / f"{item}.json").read_text())
        assert item_doc["id"] == item and item_doc["assets"]["archive"]["file:size"] == truth["size"]
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)
