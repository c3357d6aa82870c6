"""``oneatlas_downstream_etl``: runs whenever ``oneatlas_acquisition`` lands imagery. Copy it to plug in your ETL.

The acquisition DAG's download task records an event on the ``oneatlas://imagery/acquisition`` asset;
its ``extra`` lists the stored zips: ``{"order_id", "objects": [{"item_id", "path", "size", "md5"}]}``.
This DAG, scheduled on that asset:

1. **deliveries** collects the zips of every event that triggered the run (or, in a manual run, the
   ``objects`` Param: same shape, to reprocess something by hand);
2. **inspect** (one mapped task per zip) re-checks the md5 of the stored object, lists what the zip
   holds (names, sizes) and reads the DIMAP metadata (``DIM_*.XML``), then writes a manifest
   ``<zip>.manifest.json`` next to the zip and returns it. Replace or extend this step with your own
   processing: everything goes through ``ObjectStoragePath``, so it works the same on local disk,
   S3, GCS, ...;
3. **report** sums up the run.
"""

# At parse time XComArgs and templates stand in for the values tasks receive at run time.
# mypy: disable-error-code="arg-type, index"
from __future__ import annotations

import hashlib
import json
import zipfile
from typing import Any
from xml.etree import ElementTree

import pendulum
from airflow.sdk import DAG, ObjectStoragePath, Param, task
from oneatlas_assets import ACQUISITION_IMAGERY

try:  # Airflow 3.2+: the task SDK's exceptions (airflow.exceptions warns there)
    from airflow.sdk.exceptions import AirflowFailException
except ImportError:  # Airflow 3.0, 3.1
    from airflow.exceptions import AirflowFailException  # type: ignore[no-redef]

#: DIMAP elements copied into the manifest when the metadata holds them.
DIMAP_FIELDS = (
    "DATASET_NAME",
    "METADATA_FORMAT",
    "METADATA_PROFILE",
    "PRODUCER",
    "MISSION",
    "MISSION_INDEX",
    "PRODUCT_TYPE",
    "PROCESSING_LEVEL",
    "IMAGING_DATE",
    "IMAGING_TIME",
    "DATASET_SIZE",
)
MAX_METADATA_BYTES = 16 * 1024 * 1024


def md5_of(path: ObjectStoragePath, chunk_size: int = 8 * 1024 * 1024) -> str:
    digest = hashlib.md5()  # noqa: S324 - OneAtlas' delivery checksum, not a security use
    with path.open("rb") as stream:
        while chunk := stream.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def read_dimap(data: bytes) -> dict[str, Any]:
    """The interesting fields of a DIMAP document, and the raster files it points to."""
    # The zip's md5 was checked against OneAtlas' announced checksum, and the expat shipped with
    # Python >= 3.7.1 refuses entity-expansion bombs.
    root = ElementTree.fromstring(data)  # noqa: S314
    fields: dict[str, Any] = {}
    for name in DIMAP_FIELDS:
        element = root.find(f".//{name}")
        if element is not None and (element.text or "").strip():
            fields[name.lower()] = element.text.strip()  # type: ignore[union-attr]
    fields["raster_files"] = [e.get("href") for e in root.iter("DATA_FILE_PATH") if e.get("href")]
    return fields


with DAG(
    dag_id="oneatlas_downstream_etl",
    description="Checks and catalogues each OneAtlas delivery landed by oneatlas_acquisition",
    schedule=[ACQUISITION_IMAGERY],
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["oneatlas", "imagery", "example"],
    doc_md=__doc__,
    params={
        "objects": Param(
            [],
            type="array",
            description='Manual runs only: zips to process, e.g. [{"item_id": "...", "path": "file:///...", '
            '"md5": "..."}]. Asset-triggered runs take them from the asset events.',
        ),
    },
) as dag:

    @task
    def deliveries(params: dict[str, Any] | None = None, triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """The stored zips of every asset event that triggered this run."""
        objects: list[dict[str, Any]] = []
        for asset, events in (triggering_asset_events or {}).items():
            for event in events:
                extra = event.extra or {}
                for obj in extra.get("objects") or []:
                    print(f"{asset.uri}: order {extra.get('order_id')} delivered {obj['item_id']} at {obj['path']}")
                    objects.append(dict(obj, order_id=extra.get("order_id"), event_timestamp=str(event.timestamp)))
        if not objects:
            objects = [dict(obj) for obj in (params or {}).get("objects") or []]
        print(f"{len(objects)} zip(s) to process")
        return objects

    @task(map_index_template="{{ task.op_kwargs['delivery']['item_id'] }}")
    def inspect(delivery: dict[str, Any]) -> dict[str, Any]:
        """Check one zip's md5, list its contents and metadata, and write ``<zip>.manifest.json``."""
        path = ObjectStoragePath(delivery["path"])
        md5 = md5_of(path)
        expected = delivery.get("md5")
        if expected and md5 != expected:
            raise AirflowFailException(f"{path}: md5 is {md5}, the delivery announced {expected}")
        files: list[dict[str, Any]] = []
        metadata: dict[str, Any] = {}
        with path.open("rb") as stream, zipfile.ZipFile(stream) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                files.append({"name": info.filename, "size": info.file_size, "compressed_size": info.compress_size})
                base = info.filename.rsplit("/", 1)[-1].upper()
                if base.startswith("DIM_") and base.endswith(".XML") and info.file_size <= MAX_METADATA_BYTES:
                    metadata = {"file": info.filename, **read_dimap(archive.read(info))}
        manifest = {
            "item_id": delivery.get("item_id"),
            "order_id": delivery.get("order_id"),
            "zip": str(path),
            "size": path.stat().st_size,
            "md5": md5,
            "md5_verified": bool(expected),
            "files": files,
            "metadata": metadata,
            "created_at": pendulum.now("UTC").isoformat(),
        }
        target = path.parent / f"{path.name}.manifest.json"
        target.write_text(json.dumps(manifest, indent=2))
        print(f"{path}: {len(files)} files, md5 {md5}; manifest {target}")
        manifest["manifest"] = str(target)
        return manifest

    @task
    def report(manifests: list[dict[str, Any]]) -> dict[str, Any]:
        manifests = list(manifests)
        for m in manifests:
            print(f"{m['item_id']}: {m['zip']} ({m['size']} bytes, {len(m['files'])} files) -> {m['manifest']}")
        return {"zips": len(manifests), "manifests": [m["manifest"] for m in manifests]}

    report(inspect.expand(delivery=deliveries()))
