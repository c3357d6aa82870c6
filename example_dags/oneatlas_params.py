"""Params shared by the OneAtlas example DAGs: the search window and filters, the product options,
and where and how the delivery lands.

One definition, so the trigger forms of the example DAGs ask the same questions in the same words.
(Airflow puts the DAGs folder on ``sys.path``, so sibling modules import by their plain name.)
"""

from __future__ import annotations

from airflow.sdk import Param


def search_params(*, field: str = "the field", first_run_lookback: bool = True) -> dict[str, Param]:
    """The scheduled search window (published since the previous successful run), a fixed period
    for manual runs, and the cloud and coverage filters. ``field``: how the form names the AOI."""
    params = {
        "max_image_age_days": Param(
            7,
            type="number",
            minimum=0.01,
            title="Maximum image age (days)",
            description="Only images acquired within this many days before the run: an old archive image "
            "published today is not bought by surprise. Longer than the usual publication delay (1-3 days).",
        ),
    }
    if first_run_lookback:
        params["first_run_lookback_days"] = Param(
            3,
            type="number",
            minimum=0.01,
            title="First run looks back (days)",
            description="With no earlier successful run, search the images published this many days back.",
        )
    params |= {
        "start": Param(
            None,
            type=["null", "string"],
            title="Acquired from (manual runs)",
            description="For a run over a fixed period: acquired from this ISO date or date-time. Empty (the "
            "schedule): the images published since the previous successful run.",
        ),
        "end": Param(
            None,
            type=["null", "string"],
            title="Acquired until (manual runs)",
            description="With 'Acquired from': acquired until this ISO date or date-time; empty: until now.",
        ),
        "max_cloud_cover": Param(
            20,
            type="number",
            minimum=0,
            maximum=100,
            title="Maximum cloud cover (%)",
            description="Percent of clouds in the image, at most: cloudier images are left out.",
        ),
        "min_coverage": Param(
            0.5,
            type="number",
            minimum=0,
            maximum=1,
            title=f"Minimum coverage of {field}",
            description=f"Fraction (0-1) of {field} an image must cover.",
        ),
    }
    return params


def product_params() -> dict[str, Param]:
    """What OneAtlas delivers for each image."""
    return {
        "product_type": Param(
            "bundle",
            enum=["bundle", "pansharpened", "bundle-fs", "pansharpened-fs"],
            title="Product type",
            description="bundle: panchromatic and multispectral bands apart; pansharpened: fused colour "
            "image; -fs variants for Pleiades Neo.",
        ),
        "radiometric_processing": Param(
            "REFLECTANCE",
            enum=["REFLECTANCE", "DISPLAY", "BASIC16"],
            title="Radiometric processing",
            description="REFLECTANCE: top-of-atmosphere reflectance for analysis; DISPLAY: 8-bit for "
            "viewing; BASIC16: raw 16-bit digital numbers.",
        ),
    }


def delivery_params(
    destination: str, *, appended: str = "<ds>/ is appended", poll_interval: int = 5
) -> dict[str, Param]:
    """Where the zips land (``appended``: what the DAG adds to the folder), the connection, and how
    often the wait checks the order."""
    return {
        "destination": Param(
            destination,
            type="string",
            title="Destination",
            description=f"Folder URL for the zips (file://, s3://conn_id@bucket/prefix/, ...); {appended}.",
        ),
        "conn_id": Param(
            "oneatlas_default", type="string", title="Connection", description="The OneAtlas connection id."
        ),
        "poll_interval": Param(
            poll_interval,
            type="number",
            minimum=1,
            title="Poll interval (s)",
            description="Seconds between order status checks while waiting for the delivery.",
        ),
    }
