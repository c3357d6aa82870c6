"""Test-wide settings: a private AIRFLOW_HOME, and a fresh token cache for every test."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

# Before anything imports Airflow: a throwaway home, no example DAGs.
if "AIRFLOW_HOME" not in os.environ:
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="oneatlas-airflow-home-")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

FIXTURES = Path(__file__).parent / "fixtures"
SANDBOX_KEY = "oneatlas-sandbox-key"


def tutorial(name: str) -> Any:
    path = FIXTURES / "tutorial" / name
    return path.read_text() if path.suffix == ".xml" else json.loads(path.read_text())


@pytest.fixture(autouse=True)
def _fresh_token_cache() -> None:
    from airflow_provider_oneatlas.client.transport import TOKEN_CACHE

    TOKEN_CACHE.clear()
