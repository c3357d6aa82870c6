"""``oneatlas_downstream_etl``: runs whenever ``oneatlas_acquisition`` lands imagery. Copy it to plug in your ETL.

The acquisition DAG's download task writes a STAC Item beside every delivery it stores, and records an
event on the ``oneatlas://imagery/acquisition`` asset whose ``extra`` lists them:
``{"order_id", "objects": [...], "stac_items": ["<destination>/<item id>.json", ...]}``. This DAG,
scheduled on that asset, reads the deliveries through their STAC Items (pystac), never through the
layout of the zip:

1. **deliveries** collects the item hrefs of every event that triggered the run (or, in a manual run,
   the ``stac_items`` Param: hrefs of items to reprocess by hand);
2. **inspect** (one mapped task per item) loads the item, re-checks every asset that records a
   ``file:checksum`` (md5) and ``file:size`` against the stored object, and writes a manifest
   ``<item id>.manifest.json`` beside the item with what the item says: acquisition time, platform,
   cloud cover, angles, bands, the order, and each asset. Replace or extend this step with your own
   processing (``odc.stac.load(items)`` or ``stackstac.stack(items)`` turn the items into xarray);
   everything goes through ``ObjectStoragePath``, so it works the same on local disk, S3, GCS, ...;
3. **report** sums up the run.
"""

# At parse time XComArgs and templates stand in for the values tasks receive at run time.
# mypy: disable-error-code="arg-type, index"
from __future__ import annotations

import hashlib
import json
from typing import Any

import pendulum
from airflow.sdk import DAG, ObjectStoragePath, Param, task
from oneatlas_assets import ACQUISITION_IMAGERY

try:  # Airflow 3.2+: the task SDK's exceptions (airflow.exceptions warns there)
    from airflow.sdk.exceptions import AirflowFailException
except ImportError:  # Airflow 3.0, 3.1
    from airflow.exceptions import AirflowFailException  # type: ignore[no-redef]

#: Item properties copied into the manifest.
PROPERTIES = (
    "datetime",
    "platform",
    "constellation",
    "instruments",
    "gsd",
    "eo:cloud_cover",
    "view:incidence_angle",
    "view:off_nadir",
    "view:sun_azimuth",
    "view:sun_elevation",
    "processing:level",
    "proj:code",
    "oneatlas:dataset_name",
    "oneatlas:product_type",
    "oneatlas:radiometric_processing",
    "oneatlas:order_id",
    "oneatlas:order_credits",
)


def storage_path(href: str) -> ObjectStoragePath:
    """A STAC href (a local path or an object-store URL) as an ``ObjectStoragePath``."""
    return ObjectStoragePath(href if "://" in href else "file://" + href)


def md5_of(path: ObjectStoragePath, chunk_size: int = 8 * 1024 * 1024) -> str:
    digest = hashlib.md5()  # noqa: S324 - OneAtlas' delivery checksum, not a security use
    with path.open("rb") as stream:
        while chunk := stream.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


with DAG(
    dag_id="oneatlas_downstream_etl",
    description="Checks and catalogues each OneAtlas delivery landed by oneatlas_acquisition, through its STAC Item",
    schedule=[ACQUISITION_IMAGERY],
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["oneatlas", "imagery", "stac", "example"],
    doc_md=__doc__,
    params={
        "stac_items": Param(
            [],
            type="array",
            title="STAC Items (manual runs)",
            description='Manual runs only: STAC Items to process, e.g. ["/data/imagery/2024-05-01/<item>.json"]. '
            "Asset-triggered runs take them from the asset events.",
        ),
    },
) as dag:

    @task
    def deliveries(params: dict[str, Any] | None = None, triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """The STAC Items of every asset event that triggered this run."""
        items: list[dict[str, Any]] = []
        for asset, events in (triggering_asset_events or {}).items():
            for event in events:
                extra = event.extra or {}
                for href in extra.get("stac_items") or []:
                    print(f"{asset.uri}: order {extra.get('order_id')} delivered the item {href}")
                    items.append({"href": href, "order_id": extra.get("order_id"), "event": str(event.timestamp)})
        if not items:
            items = [{"href": href} for href in (params or {}).get("stac_items") or []]
        print(f"{len(items)} STAC item(s) to process")
        return items

    @task(map_index_template="{{ task.op_kwargs['delivery']['href'].rsplit('/', 1)[-1] }}")
    def inspect(delivery: dict[str, Any]) -> dict[str, Any]:
        """Load one STAC Item, check its assets' md5 and size, and write ``<item id>.manifest.json``."""
        import pystac

        from airflow_provider_oneatlas.stac.items import md5_of_multihash

        item_path = storage_path(delivery["href"])
        item = pystac.Item.from_dict(json.loads(item_path.read_text()))
        assets = []
        for key, asset in item.assets.items():
            path = storage_path(asset.href)
            size = path.stat().st_size
            recorded_size = asset.extra_fields.get("file:size")
            if recorded_size is not None and size != recorded_size:
                raise AirflowFailException(f"{asset.href}: {size} bytes, the item records {recorded_size}")
            expected = md5_of_multihash(asset.extra_fields.get("file:checksum") or "")
            if expected is not None:
                md5 = md5_of(path)
                if md5 != expected:
                    raise AirflowFailException(f"{asset.href}: md5 is {md5}, the item records {expected}")
            assets.append(
                {
                    "key": key,
                    "href": asset.href,
                    "type": asset.media_type,
                    "roles": asset.roles,
                    "size": size,
                    "md5_verified": expected is not None,
                }
            )
        properties = {name: item.properties[name] for name in PROPERTIES if name in item.properties}
        bands = [band.get("common_name") or band.get("name") for band in item.properties.get("eo:bands") or []]
        manifest = {
            "item_id": item.id,
            "item": delivery["href"],
            "order_id": delivery.get("order_id") or item.properties.get("oneatlas:order_id"),
            "bbox": item.bbox,
            "properties": properties,
            "bands": bands,
            "assets": assets,
            "created_at": pendulum.now("UTC").isoformat(),
        }
        target = item_path.parent / f"{item.id}.manifest.json"
        target.write_text(json.dumps(manifest, indent=2))
        print(f"{item.id}: {len(assets)} asset(s) checked, acquired {item.datetime}; manifest {target}")
        manifest["manifest"] = str(target)
        return manifest

    @task
    def report(manifests: list[dict[str, Any]]) -> dict[str, Any]:
        manifests = list(manifests)
        for m in manifests:
            print(f"{m['item_id']}: {len(m['assets'])} asset(s), {m['properties'].get('platform')} -> {m['manifest']}")
        return {"items": len(manifests), "manifests": [m["manifest"] for m in manifests]}

    report(inspect.expand(delivery=deliveries()))
