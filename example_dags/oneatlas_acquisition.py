"""``oneatlas_acquisition``: every day, buy the new cloud-free image of a field and land it in storage.

search -> order -> wait -> download -> summary

1. **search** the Living Library for SENSOR images over the ``aoi`` *published since the previous
   successful run* (an image becomes searchable hours to days after it is acquired, so the window is
   on publication, not acquisition), acquired within ``max_image_age_days``; keep the ones with at
   most ``max_cloud_cover`` percent of clouds that cover at least ``min_coverage`` of the field,
   newest first, at most ``max_images``. Consecutive runs search contiguous windows; a run after a
   pause covers the whole pause. ``start``/``end`` (a manual run over a fixed period) search by
   acquisition date instead. Nothing new: the search is *skipped*, and so is everything after it.
2. **order** them, cut to the field, within the ``max_credits`` budget (priced first; over budget
   fails without retrying). A retried task never orders twice (``customerRef`` per task instance),
   and an image an earlier run (or another DAG) bought for this field with these options is never
   bought again: a cleared and re-run day orders nothing new.
3. **wait** for the delivery in the triggerer (deferrable sensor): no worker slot is held.
4. **download** the zips into ``<destination>/<ds>/`` (any ``ObjectStoragePath`` URL: ``file://``,
   ``s3://conn_id@bucket/prefix/``, ...), md5-checked, and record an event on the
   ``oneatlas://imagery/acquisition`` asset: ``oneatlas_downstream_etl`` runs on it.
5. **summary**: where the imagery landed.

Try it offline against the sandbox: ``bash scripts/dev.sh demo``. Or, with a sandbox running::

    export AIRFLOW_CONN_ONEATLAS_DEFAULT='{"conn_type": "oneatlas", "host": "http://127.0.0.1:8765",
                                          "password": "oneatlas-sandbox-key"}'
    airflow dags test oneatlas_acquisition                   # published since the previous run
    airflow dags test oneatlas_acquisition -c '{"start": "2024-01-01", "end": "2024-12-31"}'

The default destination is ``$ONEATLAS_DESTINATION`` (read when the DAG is parsed), else
``file:///tmp/oneatlas/imagery/``.
"""

# At parse time XComArgs and templates stand in for the values tasks receive at run time.
# mypy: disable-error-code="arg-type, index"
from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task
from oneatlas_assets import ACQUISITION_IMAGERY
from oneatlas_params import delivery_params, product_params, search_params

from airflow_provider_oneatlas.operators.download import OneAtlasDownloadOperator
from airflow_provider_oneatlas.operators.order import OneAtlasOrderOperator
from airflow_provider_oneatlas.operators.search import OneAtlasSearchOperator
from airflow_provider_oneatlas.sensors.oneatlas import OneAtlasOrderSensor

DEFAULT_DESTINATION = os.environ.get("ONEATLAS_DESTINATION") or "file:///tmp/oneatlas/imagery/"

#: A field south-west of Toulouse (about 8 x 8 km): inside the tutorial's Toulouse AOI, cheap to order.
TOULOUSE_FIELD: dict[str, Any] = {
    "type": "Polygon",
    "coordinates": [[[1.30, 43.55], [1.40, 43.55], [1.40, 43.62], [1.30, 43.62], [1.30, 43.55]]],
}

CONN_ID = "{{ params.conn_id }}"
#: ``<destination>/<YYYY-MM-DD>/``: the logical date's day, else the day the run was triggered.
DESTINATION = "{{ params.destination.rstrip('/') }}/{{ (dag_run.logical_date or dag_run.run_after) | ds }}/"

with DAG(
    dag_id="oneatlas_acquisition",
    description="Search, order, wait for and download new cloud-free OneAtlas imagery of a field",
    schedule="@daily",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,  # Params reach the operators as lists, dicts and numbers
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    tags=["oneatlas", "imagery", "example"],
    doc_md=__doc__,
    params={
        "aoi": Param(
            TOULOUSE_FIELD,
            type="object",
            title="Area of interest",
            description="GeoJSON geometry (Polygon or MultiPolygon, lon/lat) of the field to image.",
        ),
        **search_params(),
        "max_images": Param(
            1,
            type="integer",
            minimum=1,
            maximum=50,
            title="Images per run",
            description="Images to order in one run, newest first.",
        ),
        "max_credits": Param(
            5000, type="number", minimum=0, title="Budget (credits)", description="The most one run may spend."
        ),
        **product_params(),
        **delivery_params(DEFAULT_DESTINATION),
    },
) as dag:
    search = OneAtlasSearchOperator(
        task_id="search",
        oneatlas_conn_id=CONN_ID,
        aoi="{{ params.aoi }}",
        # The schedule: published since the previous successful run, acquired within the max age.
        published_since_previous_run=True,
        first_run_lookback="{{ params.first_run_lookback_days }}",
        max_image_age="{{ params.max_image_age_days }}",
        # A manual run over a fixed period: acquired between start and end (wins when set).
        acquisition_date=("{{ params.start }}", "{{ params.end }}"),
        processing_level="SENSOR",
        max_cloud_cover="{{ params.max_cloud_cover }}",
        min_coverage="{{ params.min_coverage }}",
        limit="{{ params.max_images }}",
        include_footprint=False,  # keeps the XCom small
        skip_if_empty=True,  # nothing new: skip the rest of the run, order nothing
    )

    order = OneAtlasOrderOperator(
        task_id="order",
        oneatlas_conn_id=CONN_ID,
        image_ids=search.output,
        aoi="{{ params.aoi }}",
        product_type="{{ params.product_type }}",
        radiometric_processing="{{ params.radiometric_processing }}",
        max_credits="{{ params.max_credits }}",
        wait_for_completion=False,  # the sensor waits, in the triggerer
        # Retries are safe: a retried try takes up the order an earlier try placed (customerRef), and
        # a refusal over budget or balance fails at once, without retrying.
    )

    wait = OneAtlasOrderSensor(
        task_id="wait",
        oneatlas_conn_id=CONN_ID,
        order_id=order.output["order_id"],
        deferrable=True,
        poll_interval="{{ params.poll_interval }}",
        poke_interval=60,
        timeout=timedelta(days=2).total_seconds(),
    )

    download = OneAtlasDownloadOperator(
        task_id="download",
        oneatlas_conn_id=CONN_ID,
        order_id=order.output["order_id"],
        destination=DESTINATION,
        outlets=[ACQUISITION_IMAGERY],
    )

    @task
    def summary(stored: list[dict[str, Any]], delivered: dict[str, Any]) -> dict[str, Any]:
        """Where the imagery landed: printed to the task log and returned as XCom."""
        print(f"OneAtlas order {delivered.get('id')} is {delivered.get('status')} ({delivered.get('price')} credits)")
        for obj in stored:
            print(f"  {obj['item_id']}: {obj['path']} ({obj['size']} bytes, md5 {obj['md5']})")
        return {
            "order_id": delivered.get("id"),
            "status": delivered.get("status"),
            "price": delivered.get("price"),
            "objects": stored,
        }

    wait >> download
    summary(download.output, wait.output)
