"""``oneatlas_fields``: several fields, one line each, under one budget for the whole run.

Each field is one ``oneatlas_acquisition_group``: search (SENSOR images published since the previous
successful run, acquired within the max age), quote (price, quicklooks, balance, budgets left),
approve (a person, above ``approval_above_credits``), order, wait (deferrable), download.

Spend is controlled three ways, all read from the OneAtlas account, so they hold across workers:

* ``run_budget_credits``: every field of one run together; the order tasks run one at a time in
  the ``oneatlas_orders`` pool (create it with one slot:
  ``airflow pools set oneatlas_orders 1 "OneAtlas orders"``), so two fields cannot both take the
  last credits;
* ``monthly_budget_credits``: a cap per calendar month (UTC) for every order carrying the
  ``budget_tag``, whichever DAG or run placed it;
* ``approval_above_credits``: above it, a person approves in the Airflow UI (Required actions) or
  REST API within 24 hours; a rejection or a timeout orders nothing.

Before anything is ordered the destination is proven writable and the products checked against
the images and the subscription. See ``docs/spend.md``.
"""

# At parse time templates stand in for the values tasks receive at run time.
# mypy: disable-error-code="arg-type"
from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, Param
from oneatlas_params import delivery_params, search_params

from airflow_provider_oneatlas.taskgroups.acquisition import oneatlas_acquisition_group

DEFAULT_DESTINATION = os.environ.get("ONEATLAS_DESTINATION") or "file:///tmp/oneatlas/imagery/"
#: The pool that serialises the order tasks sharing the run budget (one slot).
ORDER_POOL = "oneatlas_orders"


def field(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    return {
        "type": "Polygon",
        "coordinates": [[[west, south], [east, south], [east, north], [west, north], [west, south]]],
    }


#: Three fields of a few km each near Toulouse.
FIELDS = {
    "north": field(1.30, 43.58, 1.36, 43.62),
    "south": field(1.30, 43.52, 1.36, 43.56),
    "east": field(1.40, 43.55, 1.46, 43.59),
}

# --8<-- [start:COMMON]
COMMON: dict[str, Any] = {
    "destination": "{{ params.destination.rstrip('/') }}",
    "oneatlas_conn_id": "{{ params.conn_id }}",
    "acquisition_date": ("{{ params.start }}", "{{ params.end }}"),
    "max_image_age": "{{ params.max_image_age_days }}",
    "max_cloud_cover": "{{ params.max_cloud_cover }}",
    "min_coverage": "{{ params.min_coverage }}",
    "run_budget": "{{ params.run_budget_credits }}",
    "order_pool": ORDER_POOL,
    "period_budget": {
        "credits": "{{ params.monthly_budget_credits }}",
        "period": "month",
        "tag": "{{ params.budget_tag }}",
    },
    "approval_above": "{{ params.approval_above_credits }}",
    "approval_timeout": timedelta(hours=24),
    "poll_interval": "{{ params.poll_interval }}",
}
# --8<-- [end:COMMON]

with DAG(
    dag_id="oneatlas_fields",
    description="New OneAtlas imagery of several fields under one run budget, with approval above a price",
    schedule="@daily",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=1)},
    tags=["oneatlas", "imagery", "example", "spend"],
    doc_md=__doc__,
    params={
        "run_budget_credits": Param(
            20000,
            type="number",
            minimum=0,
            title="Budget for the whole run (credits)",
            description="Every field's order of one run together; a field whose order would go over it fails "
            "without ordering.",
        ),
        "monthly_budget_credits": Param(
            200000,
            type="number",
            minimum=0,
            title="Budget per month (credits)",
            description="Every order tagged with the budget tag in a calendar month (UTC), any DAG, any run.",
        ),
        "budget_tag": Param(
            "fields",
            type="string",
            pattern="^[A-Za-z]+$",
            title="Budget tag",
            description="Letters only: the tag the monthly budget counts; put on every order of this DAG.",
        ),
        "approval_above_credits": Param(
            5000,
            type="number",
            minimum=0,
            title="Ask for approval above (credits)",
            description="A field's order above this price waits for a person's approval (0: always ask).",
        ),
        **search_params(field="a field", first_run_lookback=False),
        **delivery_params(
            DEFAULT_DESTINATION,
            appended="<YYYY-MM-DD>/ is appended for imagery, quicklooks/ for the approval's previews",
            poll_interval=60,
        ),
    },
) as dag:
    # --8<-- [start:GROUPS]
    for name, aoi in FIELDS.items():
        oneatlas_acquisition_group(name, aoi, **COMMON)
    # --8<-- [end:GROUPS]
