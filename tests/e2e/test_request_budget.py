"""One acquisition run for one image stays within 9 API requests, besides the status polls and the
download itself, counted from the sandbox's request log (issue: "one token, not one per call"); the
ninth is the lookup of earlier orders under the field's acquisition tag (nothing bought twice)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.e2e.conftest import FOUND_RANGE, sandbox_get

ORDER_READ = re.compile(r"^/api/v1/orders/[^/]+$")


def test_one_image_costs_at_most_9_requests(run_dag: Any, e2e_sandbox: Any, sandbox_conn: str, tmp_path: Path) -> None:
    start = sandbox_get(e2e_sandbox.base_url, "/_sandbox/requests?since=1000000000")["next"]
    run = run_dag(
        "oneatlas_acquisition",
        {"destination": f"file://{tmp_path}/", "max_images": 1, **FOUND_RANGE},
    )
    assert run.state == "success", run.task_states()
    log = [
        r
        for r in sandbox_get(e2e_sandbox.base_url, f"/_sandbox/requests?since={start}")["requests"]
        if not r["path"].startswith("/_sandbox")
    ]

    def is_status_poll(r: dict[str, Any]) -> bool:
        query = r.get("query") or ""
        listing = r["path"] == "/api/v1/orders" and "customerRef" not in query and "tags" not in query
        return r["method"] == "GET" and (listing or bool(ORDER_READ.match(r["path"])))

    def is_download(r: dict[str, Any]) -> bool:
        return r["path"].endswith("/download")

    counted = [f"{r['method']} {r['path']}" for r in log if not is_status_poll(r) and not is_download(r)]
    print(f"requests besides status polls and download: {len(counted)}: {counted}")
    assert counted.count("POST /auth/realms/IDP/protocol/openid-connect/token") == 1  # one token
    assert sum(1 for r in log if r["path"] == "/api/v1/orders" and "tags=" in (r.get("query") or "")) == 1
    assert len(counted) <= 9, counted
