"""``oneatlas_multi_aoi``: the acquisition pipeline over several areas of interest, with dynamic task mapping.

plan_searches -> search[aoi] -> plan_orders -> order[aoi with images] -> wait[...] -> download[...] -> summary

* ``search`` is mapped over the ``areas`` Param (one task instance per area, named after it);
* ``plan_orders`` keeps the areas whose search found something and turns them into the keyword
  arguments of ``order`` (``expand_kwargs``); areas with nothing are left out, and when no area has
  anything the rest of the run is skipped (nothing is ordered);
* ``wait`` (deferrable) and ``download`` are mapped over the orders actually placed; each download
  records an event on the ``oneatlas://imagery/multi-aoi`` asset.

Each area's search finds the images *published since the previous successful run* (acquired
within ``max_image_age_days``), as in ``oneatlas_acquisition``; ``start``/``end`` search a fixed
acquisition period instead. An image already bought for an area (by an earlier run or another DAG)
is not bought again: that area's order is skipped, the others go on. Every order is priced against
the same per-order budget ``max_credits``.
"""

# At parse time XComArgs and templates stand in for the values tasks receive at run time.
# mypy: disable-error-code="arg-type, index"
from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task
from oneatlas_assets import MULTI_AOI_IMAGERY
from oneatlas_params import delivery_params, search_params

from airflow_provider_oneatlas.operators.download import OneAtlasDownloadOperator
from airflow_provider_oneatlas.operators.order import OneAtlasOrderOperator
from airflow_provider_oneatlas.operators.search import OneAtlasSearchOperator
from airflow_provider_oneatlas.sensors.oneatlas import OneAtlasOrderSensor

try:  # Airflow 3.2+: the task SDK's exceptions (airflow.exceptions warns there)
    from airflow.sdk.exceptions import AirflowSkipException
except ImportError:  # Airflow 3.0, 3.1
    from airflow.exceptions import AirflowSkipException  # type: ignore[no-redef]

DEFAULT_DESTINATION = os.environ.get("ONEATLAS_DESTINATION") or "file:///tmp/oneatlas/imagery/"

#: Two fields of about 8 x 7 km: one near Toulouse, one near Cavtat (Croatia).
AREAS: list[dict[str, Any]] = [
    {
        "name": "toulouse",
        "aoi": {
            "type": "Polygon",
            "coordinates": [[[1.30, 43.55], [1.40, 43.55], [1.40, 43.62], [1.30, 43.62], [1.30, 43.55]]],
        },
    },
    {
        "name": "cavtat",
        "aoi": {
            "type": "Polygon",
            "coordinates": [[[18.25, 42.50], [18.33, 42.50], [18.33, 42.56], [18.25, 42.56], [18.25, 42.50]]],
        },
    },
]

# Templated connection id (and poll interval), so the Params reach every task: see oneatlas_acquisition.


CONN_ID = "{{ params.conn_id }}"
#: ``<destination>/<YYYY-MM-DD>/``: the logical date's day, else the day the run was triggered.
DESTINATION = "{{ params.destination.rstrip('/') }}/{{ (dag_run.logical_date or dag_run.run_after) | ds }}/"

with DAG(
    dag_id="oneatlas_multi_aoi",
    description="New cloud-free OneAtlas imagery of several fields, one mapped task per field",
    schedule="@daily",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    tags=["oneatlas", "imagery", "example"],
    doc_md=__doc__,
    params={
        "areas": Param(
            AREAS,
            type="array",
            minItems=1,
            items={
                "type": "object",
                "properties": {"name": {"type": "string"}, "aoi": {"type": "object"}},
                "required": ["name", "aoi"],
            },
            title="Fields",
            description="Fields to image: a list of {name, aoi (GeoJSON geometry)}.",
        ),
        **search_params(field="a field"),
        "max_images": Param(
            1, type="integer", minimum=1, maximum=50, title="Images per field", description="Newest first."
        ),
        "max_credits": Param(
            5000, type="number", minimum=0, title="Budget per order (credits)", description="Each field's order."
        ),
        **delivery_params(DEFAULT_DESTINATION),
    },
) as dag:

    @task
    def plan_searches(params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """One ``search`` per area: its keyword arguments."""
        return [{"aoi": area["aoi"]} for area in (params or {})["areas"]]

    search = OneAtlasSearchOperator.partial(
        task_id="search",
        oneatlas_conn_id=CONN_ID,
        published_since_previous_run=True,
        first_run_lookback="{{ params.first_run_lookback_days }}",
        max_image_age="{{ params.max_image_age_days }}",
        acquisition_date=("{{ params.start }}", "{{ params.end }}"),
        processing_level="SENSOR",
        max_cloud_cover="{{ params.max_cloud_cover }}",
        min_coverage="{{ params.min_coverage }}",
        limit="{{ params.max_images }}",
        include_footprint=False,
        map_index_template="{{ params.areas[ti.map_index]['name'] }}",
    ).expand_kwargs(plan_searches())

    @task
    def plan_orders(
        found: Sequence[list[dict[str, Any]]], params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """The ``order`` keyword arguments of the areas where the search found images."""
        plans = []
        for area, images in zip((params or {})["areas"], list(found), strict=True):
            ids = [image["id"] for image in images]
            print(f"{area['name']}: {len(ids)} image(s) {ids}")
            if ids:
                plans.append({"image_ids": ids, "aoi": area["aoi"]})
        if not plans:
            raise AirflowSkipException("No new image over any area: nothing to order")
        return plans

    order = OneAtlasOrderOperator.partial(
        task_id="order",
        oneatlas_conn_id=CONN_ID,
        max_credits="{{ params.max_credits }}",
        wait_for_completion=False,
    ).expand_kwargs(plan_orders(found=search.output))

    wait = OneAtlasOrderSensor.partial(
        task_id="wait",
        oneatlas_conn_id=CONN_ID,
        deferrable=True,
        poll_interval="{{ params.poll_interval }}",
        poke_interval=60,
        timeout=timedelta(days=2).total_seconds(),
        # An area whose images were all bought already skips its order; the other areas go on.
        trigger_rule="none_failed",
    ).expand(order_id=order.output.map(lambda placed: placed["order_id"]))

    download = OneAtlasDownloadOperator.partial(
        task_id="download",
        oneatlas_conn_id=CONN_ID,
        destination=DESTINATION,
        outlets=[MULTI_AOI_IMAGERY],
    ).expand(order_id=wait.output.map(lambda delivered: delivered["id"]))

    @task
    def summary(stored: Sequence[list[dict[str, Any]]]) -> list[dict[str, Any]]:
        objects = [obj for per_order in stored for obj in per_order]
        for obj in objects:
            print(f"{obj['item_id']}: {obj['path']} ({obj['size']} bytes, md5 {obj['md5']})")
        return objects

    summary(download.output)
