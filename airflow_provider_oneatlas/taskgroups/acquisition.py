"""``oneatlas_acquisition_group``: search, price, (approve), order, wait and download for one field,
in one call, with the defaults an unattended acquisition wants.

    with DAG(...):
        for name, aoi in FIELDS.items():
            oneatlas_acquisition_group(name, aoi, "s3://aws_default@bucket/imagery/", run_budget=20000)

What the group does, and why these defaults:

- ``search``: SENSOR images (the only orderable ones) *published since the previous successful run*
  and acquired within ``max_image_age`` days, at most ``max_cloud_cover`` % cloudy, covering at least
  ``min_coverage`` of the field, newest first, ``limit`` of them; nothing new skips the rest (no order).
- ``quote`` and ``approve`` (only with ``approval_above``): price the images, store their quicklooks
  under ``<destination>/quicklooks/``, show price, balance and budgets; above the threshold a person
  approves (a timeout rejects); the order then buys exactly what was approved, at that price or less.
- ``order``: the destination proven writable, the kind and options checked, then priced against
  ``max_credits``, ``period_budget``, ``run_budget`` and the balance, and placed once. With a
  ``run_budget`` the order tasks of every group must be serialised: ``order_pool`` (a pool of one
  slot; see ``docs/spend.md`` for why).
- ``wait``: deferrable (no worker slot while OneAtlas processes the order).
- ``download``: streamed, md5-checked, under ``<destination>/<YYYY-MM-DD>/``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import TaskGroup

from airflow_provider_oneatlas.client.errors import ValidationError

#: ``<destination>/<YYYY-MM-DD>/``: the logical date's day, else the day the run was triggered.
DAY_FOLDER = "{{ (dag_run.logical_date or dag_run.run_after) | ds }}/"


def _under(destination: str, folder: str) -> str:
    if not isinstance(destination, str):
        raise ValidationError("destination", f"{destination!r} is not a URL", "a folder URL, e.g. s3://conn@bucket/x/")
    return destination.rstrip("/") + "/" + folder


def oneatlas_acquisition_group(
    field_name: str,
    aoi: Any,
    destination: str,
    *,
    max_image_age: Any = 7,
    first_run_lookback: Any = 3,
    acquisition_date: Any = None,
    max_cloud_cover: Any = 20,
    min_coverage: Any = 0.5,
    limit: Any = 1,
    max_credits: Any = None,
    period_budget: Any = None,
    run_budget: Any = None,
    order_pool: str | None = None,
    approval_above: Any = None,
    approval_timeout: timedelta = timedelta(hours=24),
    product_type: str = "bundle",
    radiometric_processing: str = "REFLECTANCE",
    image_format: str = "image/jp2",
    oneatlas_conn_id: str = "oneatlas_default",
    poll_interval: Any = 60,
    wait_timeout: timedelta = timedelta(days=2),
    outlets: Any = None,
    tooltip: str | None = None,
) -> TaskGroup:
    """One field's acquisition as a task group named ``field_name`` (see the module's docstring).

    :param field_name: the group id (letters, digits, ``_``): one per field.
    :param aoi: the field (GeoJSON geometry or any AOI form; templated).
    :param destination: folder URL for the imagery (templated); checked writable before ordering.
    :param approval_above: ask a person above this many credits (0: always); None: no approval step.
        Needs Airflow 3.1+ (checked here, when the DAG is parsed).
    :param order_pool: the pool serialising the order tasks that share a ``run_budget``.
    Other parameters are those of the search, order, sensor and download operators.
    """
    from airflow_provider_oneatlas.operators.download import OneAtlasDownloadOperator
    from airflow_provider_oneatlas.operators.order import OneAtlasOrderOperator
    from airflow_provider_oneatlas.operators.search import OneAtlasSearchOperator
    from airflow_provider_oneatlas.sensors.oneatlas import OneAtlasOrderSensor

    product: dict[str, Any] = {
        "product_type": product_type,
        "radiometric_processing": radiometric_processing,
        "image_format": image_format,
    }
    with TaskGroup(group_id=field_name, tooltip=tooltip or f"OneAtlas acquisition of {field_name}") as group:
        search = OneAtlasSearchOperator(
            task_id="search",
            oneatlas_conn_id=oneatlas_conn_id,
            aoi=aoi,
            published_since_previous_run=True,
            first_run_lookback=first_run_lookback,
            max_image_age=max_image_age,
            acquisition_date=acquisition_date,
            processing_level="SENSOR",
            max_cloud_cover=max_cloud_cover,
            min_coverage=min_coverage,
            limit=limit,
            include_footprint=False,
            skip_if_empty=True,
        )
        # What the quote shows and the order buys: the same images, product and budgets.
        priced: dict[str, Any] = {
            "oneatlas_conn_id": oneatlas_conn_id,
            "image_ids": search.output,
            "aoi": aoi,
            "destination": destination,
            "period_budget": period_budget,
            "run_budget": run_budget,
            **product,
        }
        approved: Any = None
        upstream: Any = search
        if approval_above is not None:
            from airflow_provider_oneatlas.operators.approval import OneAtlasApprovalOperator, OneAtlasQuoteOperator

            quote = OneAtlasQuoteOperator(task_id="quote", **priced)
            approve = OneAtlasApprovalOperator(
                task_id="approve",
                quote=quote.output,
                approval_above=approval_above,
                response_timeout=approval_timeout,
            )
            approved = approve.output
            upstream = approve
        order = OneAtlasOrderOperator(
            task_id="order",
            max_credits=max_credits,
            approved_quote=approved,
            pool=order_pool or "default_pool",
            **priced,
        )
        upstream >> order
        order_id: Any = order.output
        order_id = order_id["order_id"]  # an XComArg lookup, resolved when the tasks run
        wait = OneAtlasOrderSensor(
            task_id="wait",
            oneatlas_conn_id=oneatlas_conn_id,
            order_id=order_id,
            deferrable=True,
            poll_interval=poll_interval,
            poke_interval=60,  # the deferred wait polls every poll_interval; this is the worker fallback
            timeout=wait_timeout.total_seconds(),
        )
        download = OneAtlasDownloadOperator(
            task_id="download",
            oneatlas_conn_id=oneatlas_conn_id,
            order_id=order_id,
            destination=_under(destination, DAY_FOLDER),
            outlets=outlets or [],
        )
        wait >> download
    return group
