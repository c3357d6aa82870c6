"""What the spend tests share: a client on the sandbox, its clock, and SENSOR images over a field."""

from __future__ import annotations

import json
import urllib.request
from datetime import datetime
from typing import Any

from airflow_provider_oneatlas.client.client import OneAtlasClient
from airflow_provider_oneatlas.client.config import ClientConfig, RetryPolicy
from airflow_provider_oneatlas.client.query import ProductSpec, SearchQuery
from tests.conftest import SANDBOX_KEY, TOULOUSE_FIELD
from tests.e2e.conftest import sandbox_get


def client_for(sandbox: Any) -> OneAtlasClient:
    retry = RetryPolicy(backoff_initial=0.01, backoff_max=0.1)
    return OneAtlasClient(ClientConfig.for_base_url(SANDBOX_KEY, sandbox.base_url, retry=retry))


def clock(sandbox: Any, **body: Any) -> datetime:
    """Read (no body) or move the sandbox clock; the clock's now, as an aware datetime."""
    if body:
        request = urllib.request.Request(
            sandbox.base_url + "/_sandbox/clock",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            now = json.load(answer)["now"]
    else:
        now = sandbox_get(sandbox.base_url, "/_sandbox/clock")["now"]
    return datetime.fromisoformat(now.replace("Z", "+00:00"))


def products(client: OneAtlasClient, count: int, aoi: Any = TOULOUSE_FIELD) -> list[ProductSpec]:
    found = client.search(SearchQuery(aoi=aoi, processing_level="SENSOR", items_per_page=50)).features
    ids = [f.id for f in found if f.constellation != "PNEO"][:count]
    assert len(ids) == count, f"the sandbox has {len(ids)} SENSOR images over the field, {count} needed"
    return [ProductSpec(item_id=i, aoi=aoi) for i in ids]


def ledger(sandbox: Any) -> dict[str, Any]:
    state: dict[str, Any] = sandbox_get(sandbox.base_url, "/_sandbox/state")
    return state


def order_posts(sandbox: Any) -> list[dict[str, Any]]:
    log = sandbox_get(sandbox.base_url, "/_sandbox/requests")
    items = log["requests"] if isinstance(log, dict) else log
    return [r for r in items if r.get("method") == "POST" and r.get("path", "").rstrip("/").endswith("/orders")]
