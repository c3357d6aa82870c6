"""The provider as Airflow sees it: provider info against Airflow's schema, every listed module and
class real, and the installed package listed by the ``airflow providers`` commands."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import airflow
import jsonschema

from airflow_provider_oneatlas.get_provider_info import get_provider_info


def test_provider_info_matches_airflows_schema() -> None:
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_every_listed_module_and_class_exists() -> None:
    info = get_provider_info()
    for kind in ("hooks", "operators", "sensors", "triggers"):
        for entry in info.get(kind, []):
            for module in entry["python-modules"]:
                importlib.import_module(module)
    for conn in info["connection-types"]:
        module, name = conn["hook-class-name"].rsplit(".", 1)
        hook = getattr(importlib.import_module(module), name)
        assert hook.conn_type == conn["connection-type"] == "oneatlas"
    for link in info.get("extra-links", []):
        module, name = link.rsplit(".", 1)
        getattr(importlib.import_module(module), name)
    listed = {
        m for kind in ("operators", "sensors", "triggers") for e in info.get(kind, []) for m in e["python-modules"]
    }
    assert {
        "airflow_provider_oneatlas.operators.search",
        "airflow_provider_oneatlas.operators.order",
        "airflow_provider_oneatlas.operators.download",
        "airflow_provider_oneatlas.sensors.oneatlas",
        "airflow_provider_oneatlas.triggers.oneatlas",
    } <= listed


def _airflow(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "airflow", *args], capture_output=True, text=True, env=dict(os.environ), timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    # Airflow 3.0 logs to stdout before the JSON ("[2026-...] {plugins.py...}"): keep from where it parses.
    lines = result.stdout.splitlines()
    for start in range(len(lines)):
        text = "\n".join(lines[start:])
        if text.lstrip().startswith(("[", "{")):
            try:
                json.loads(text)
            except ValueError:
                continue
            return text
    return result.stdout


def test_airflow_lists_the_provider_and_its_connection_type() -> None:
    providers = json.loads(_airflow("providers", "list", "-o", "json"))
    assert any(p["package_name"] == "airflow-provider-oneatlas" for p in providers), providers
    hooks = json.loads(_airflow("providers", "hooks", "-o", "json"))
    assert any(h.get("connection_type") == "oneatlas" and h["class"].endswith("OneAtlasHook") for h in hooks), hooks
