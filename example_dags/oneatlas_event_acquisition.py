"""``oneatlas_event_acquisition``: buy each new cloud-free image of a field as soon as it is published.

The event-driven way to run acquisition (``oneatlas_acquisition`` is the scheduled one). No schedule:
the DAG runs on the ``oneatlas://catalogue/new-images/toulouse-field`` asset, whose ``AssetWatcher``
runs ``OneAtlasNewImageTrigger`` in the triggerer. The trigger searches the catalogue every
``poll_interval`` seconds for SENSOR images newly *published* over the field (at most
``MAX_CLOUD_COVER`` percent of clouds, covering at least ``MIN_COVERAGE`` of the field) and records an
asset event naming the new images of that search in the event's ``extra["payload"]["images"]``. It keeps its
watermark in an Airflow Variable (``oneatlas_new_images.<hash>``): a triggerer restart emits no image
twice, and a catalogue that did not change emits nothing.

images -> order -> wait -> download -> summary

1. **images** reads the images the triggering asset events name (several events may fold into one
   run; each image once). A manual run orders the ``image_ids`` Param instead; none: skipped.
2. **order** them, cut to the field, within the ``max_credits`` budget (priced first).
3. **wait** for the delivery in the triggerer (deferrable sensor).
4. **download** the zips into ``<destination>/<run date>/`` and record an event on
   ``oneatlas://imagery/event-acquisition``.
5. **summary**: what was bought and where it landed.

The watcher's settings are fixed when the DAG is parsed (trigger arguments are): the field, the
thresholds and the poll interval are module constants here, read from the environment where the
deployment should choose (``ONEATLAS_EVENT_POLL_INTERVAL``, ``ONEATLAS_EVENT_MAX_CLOUD_COVER``,
``ONEATLAS_EVENT_MIN_COVERAGE``, ``ONEATLAS_EVENT_PUBLISHED_SINCE``). Unpause the DAG to start the
watcher: with a sandbox running, ``curl -X POST .../_sandbox/clock -d '{"advance": 86400}'`` publishes a
simulated day of images.
"""

# At parse time XComArgs and templates stand in for the values tasks receive at run time.
# mypy: disable-error-code="arg-type, index"
from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, AssetWatcher, Param, task
from oneatlas_assets import EVENT_IMAGERY
from oneatlas_params import delivery_params, product_params

from airflow_provider_oneatlas.operators.download import OneAtlasDownloadOperator
from airflow_provider_oneatlas.operators.order import OneAtlasOrderOperator
from airflow_provider_oneatlas.sensors.oneatlas import OneAtlasOrderSensor
from airflow_provider_oneatlas.triggers.catalogue import OneAtlasNewImageTrigger, images_from_events

try:  # Airflow 3.2+: the task SDK's exceptions (airflow.exceptions warns there)
    from airflow.sdk.exceptions import AirflowSkipException
except ImportError:  # Airflow 3.0, 3.1
    from airflow.exceptions import AirflowSkipException  # type: ignore[no-redef]

DEFAULT_DESTINATION = os.environ.get("ONEATLAS_DESTINATION") or "file:///tmp/oneatlas/imagery/"

#: A field south-west of Toulouse (about 8 x 8 km), the same as ``oneatlas_acquisition``'s.
TOULOUSE_FIELD: dict[str, Any] = {
    "type": "Polygon",
    "coordinates": [[[1.30, 43.55], [1.40, 43.55], [1.40, 43.62], [1.30, 43.62], [1.30, 43.55]]],
}
#: The watcher's thresholds and pace (fixed at parse time; the environment may set them).
MAX_CLOUD_COVER = float(os.environ.get("ONEATLAS_EVENT_MAX_CLOUD_COVER") or 20)
MIN_COVERAGE = float(os.environ.get("ONEATLAS_EVENT_MIN_COVERAGE") or 0.5)
POLL_INTERVAL = float(os.environ.get("ONEATLAS_EVENT_POLL_INTERVAL") or 300)
#: None: what the catalogue holds when the watcher first starts is the baseline, not new.
PUBLISHED_SINCE = os.environ.get("ONEATLAS_EVENT_PUBLISHED_SINCE") or None

NEW_FIELD_IMAGES = Asset(
    name="oneatlas_new_images_toulouse_field",
    uri="oneatlas://catalogue/new-images/toulouse-field",
    group="imagery",
    watchers=[
        AssetWatcher(
            name="oneatlas_new_images_toulouse_field",
            trigger=OneAtlasNewImageTrigger(
                aoi=TOULOUSE_FIELD,
                oneatlas_conn_id="oneatlas_default",
                processing_level="SENSOR",
                max_cloud_cover=MAX_CLOUD_COVER,
                min_coverage=MIN_COVERAGE,
                published_since=PUBLISHED_SINCE,
                poll_interval=POLL_INTERVAL,
            ),
        )
    ],
)

CONN_ID = "{{ params.conn_id }}"
#: ``<destination>/<YYYY-MM-DD>/``: the day the run was triggered.
DESTINATION = "{{ params.destination.rstrip('/') }}/{{ dag_run.run_after | ds }}/"

with DAG(
    dag_id="oneatlas_event_acquisition",
    description="Order each new cloud-free OneAtlas image of a field as soon as it is published",
    schedule=[NEW_FIELD_IMAGES],
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,  # Params reach the operators as lists, dicts and numbers
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    tags=["oneatlas", "imagery", "example", "event-driven"],
    doc_md=__doc__,
    params={
        "image_ids": Param(
            [],
            type="array",
            items={"type": "string"},
            title="Images (manual runs)",
            description="Image ids to order in a manual run; runs started by the watcher order what its events name.",
        ),
        "max_credits": Param(
            5000,
            type="number",
            minimum=0,
            title="Budget",
            description="The most one run may spend, in credits (priced before ordering).",
        ),
        **product_params(),
        **delivery_params(DEFAULT_DESTINATION, appended="<date>/ is appended"),
        "conn_id": Param(
            "oneatlas_default",
            type="string",
            title="OneAtlas connection",
            description="The connection the tasks order and download with (the watcher uses oneatlas_default).",
        ),
    },
) as dag:

    @task
    def images(params: dict[str, Any] | None = None, triggering_asset_events: Any = None) -> list[str]:
        """The new images the watcher's events name (or, in a manual run, the ``image_ids`` Param)."""
        events = triggering_asset_events[NEW_FIELD_IMAGES] if triggering_asset_events else []
        found = images_from_events(events)
        for image in found:
            print(
                f"New image {image['id']}: published {image.get('publication_date')}, acquired "
                f"{image.get('acquisition_date')}, {image.get('cloud_cover')}% clouds, "
                f"covers {image.get('coverage')} of the field"
            )
        ids = [image["id"] for image in found] or list((params or {}).get("image_ids") or [])
        if not ids:
            raise AirflowSkipException("no image named by the triggering events, and no image_ids given")
        return ids

    new_images = images()

    order = OneAtlasOrderOperator(
        task_id="order",
        oneatlas_conn_id=CONN_ID,
        image_ids=new_images,
        aoi=TOULOUSE_FIELD,
        product_type="{{ params.product_type }}",
        radiometric_processing="{{ params.radiometric_processing }}",
        max_credits="{{ params.max_credits }}",
        wait_for_completion=False,  # the sensor waits, in the triggerer
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
        outlets=[EVENT_IMAGERY],
    )

    @task
    def summary(stored: list[dict[str, Any]], delivered: dict[str, Any]) -> dict[str, Any]:
        """What was bought and where it landed: printed to the task log and returned as XCom."""
        print(f"OneAtlas order {delivered.get('id')} is {delivered.get('status')} ({delivered.get('price')} credits)")
        for obj in stored:
            print(f"  {obj['item_id']}: {obj['path']} ({obj['size']} bytes, md5 {obj['md5']})")
        return {"order_id": delivered.get("id"), "price": delivered.get("price"), "objects": stored}

    wait >> download
    summary(download.output, wait.output)
