"""OpenLineage: the download operator reports the OneAtlas item as input and the stored object as
output, read through the OpenLineage provider's own extractor manager."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from airflow.providers.openlineage.extractors.manager import ExtractorManager
from airflow.utils.state import TaskInstanceState

from airflow_provider_oneatlas.operators.download import OneAtlasDownloadOperator
from tests.helpers import delivered_order


def test_download_reports_item_in_and_object_out(
    oneatlas_conn: str, context: dict[str, Any], sandbox: Any, tmp_path: Path
) -> None:
    order = delivered_order(context, sandbox)
    op = OneAtlasDownloadOperator(task_id="download", order_id=order["order_id"], destination=f"file://{tmp_path}/")
    stored = op.execute(context)

    ti = context["ti"]
    lineage = ExtractorManager().extract_metadata(
        dagrun=SimpleNamespace(run_id=ti.run_id, dag_id=ti.dag_id),
        task=op,
        task_instance_state=TaskInstanceState.SUCCESS,
        task_instance=ti,
    )
    host = sandbox.base_url.split("://", 1)[1]
    assert [(d.namespace, d.name) for d in lineage.inputs] == [(f"oneatlas://{host}", f"items/{stored[0]['item_id']}")]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [("file", str(tmp_path / f"{stored[0]['item_id']}.zip"))]


def test_s3_destinations_name_the_bucket() -> None:
    op = OneAtlasDownloadOperator(task_id="d", item_ids=["abc-123"], destination="s3://aws_default@bucket/imagery/")
    op._stored = [{"item_id": "abc-123", "path": "s3://aws_default@bucket/imagery/abc-123.zip"}]
    op.__dict__["hook"] = type(
        "H", (), {"config": type("C", (), {"service_urls": {"download": "https://data.api.oneatlas.airbus.com"}})()}
    )()
    lineage = op.get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in lineage.inputs] == [
        ("oneatlas://data.api.oneatlas.airbus.com", "items/abc-123")
    ]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [("s3://bucket", "imagery/abc-123.zip")]
