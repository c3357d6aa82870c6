"""OneAtlasQuicklookOperator against the sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow_provider_oneatlas.operators.quicklook import OneAtlasQuicklookOperator
from tests.helpers import search


def test_quicklooks(oneatlas_conn: str, context: dict[str, Any], tmp_path: Path) -> None:
    images = search(context, limit=3)
    stored = OneAtlasQuicklookOperator(task_id="q", image_ids=images, destination=str(tmp_path), width=64).execute(
        context
    )
    assert len(stored) == 3
    for item in stored:
        data = Path(item["path"].removeprefix("file://")).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(data[16:20], "big") == 64
