"""``OneAtlasDownloadOperator``: delivered imagery into object storage."""

from __future__ import annotations

import contextlib
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from typing import IO, Any

from airflow.sdk import Context, ObjectStoragePath

from airflow_provider_oneatlas.client import query
from airflow_provider_oneatlas.client.config import DEFAULT_CONNECTIONS
from airflow_provider_oneatlas.client.errors import ValidationError
from airflow_provider_oneatlas.client.progress import DEFAULT_INTERVAL, counting
from airflow_provider_oneatlas.links import OneAtlasStoredObjectLink
from airflow_provider_oneatlas.operators.base import OneAtlasBaseOperator
from airflow_provider_oneatlas.storage.destination import (
    download_sink,
    prepare_destination,
    staged,
    to_destination,
)
from airflow_provider_oneatlas.storage.progress import extraction_progress, item_name, transfer_progress
from airflow_provider_oneatlas.utils.arguments import is_templated
from airflow_provider_oneatlas.version_compat import AirflowFailException


class OneAtlasDownloadOperator(OneAtlasBaseOperator):
    """Streams delivered imagery to object storage (local disk, S3, GCS, ...).

    Each delivery is streamed straight into the destination (never whole in memory), its md5 checked
    against ``X-Ads-Checksum-Value``, written under a temporary name and renamed only once complete
    and verified. With ``extract=True`` the zip is unpacked (safely: no path escapes, no zip bombs)
    instead of stored. Asset events are recorded on every ``Asset`` in ``outlets``.

    :param destination: ``ObjectStoragePath`` or URL of the folder to write into (templated), e.g.
        ``file:///data/imagery/{{ ds }}/`` or ``s3://aws_default@bucket/imagery/``.
    :param order_id: a delivered order's id, or the order operator's result (templated).
    :param item_ids: delivered item ids of the private workspace, instead of ``order_id`` (templated).
    :param extract: unpack the zip into ``<destination>/<item id>/`` instead of storing it.
    :param overwrite: always download again; default False skips an item already stored whose
        ``.md5`` sidecar and size match the server's (a retried task does not download again), and
        replaces one that does not match. Extraction always writes (staged, file by file).
    :param verify_checksum: check the md5 the API announces (default True).
    :param max_extract_ratio: refuse zip entries that expand more than this (default 100x).
    :param max_extract_size: refuse zips that expand to more bytes than this (default 64 GiB).
    :param connections: parallel HTTP range connections for large files when the server accepts
        ranges (default 8; memory stays below ``connections`` x 8 MiB); 1 forces a single stream.
    :param stac: write a STAC Item beside each stored delivery (``<item id>.json``) and the run's
        ItemCollection (``items.json``) in the destination (default True; see ``docs/stac.md``).
    :param cog: with ``extract=True``, also convert each image to a Cloud-Optimized GeoTIFF
        (``<image>.cog.tif``) added to its STAC Item (default False; needs the ``cog`` extra).

    Returns a list of ``{"item_id", "path", "size", "md5"}``, with ``"skipped": True`` for an item
    already stored, ``"files"`` when extracted, and ``"stac_item"`` (its STAC Item's href).
    """

    template_fields: Sequence[str] = ("oneatlas_conn_id", "destination", "order_id", "item_ids")
    operator_extra_links = (OneAtlasStoredObjectLink(),)
    ui_color = "#7fd6a6"
    #: Seconds between progress lines at most (also every 10 % of an item); tests make it short.
    progress_interval: float = DEFAULT_INTERVAL

    def __init__(
        self,
        *,
        destination: Any,
        order_id: Any = None,
        item_ids: Any = None,
        extract: bool = False,
        overwrite: bool = False,
        verify_checksum: bool = True,
        max_extract_ratio: float = 100.0,
        max_extract_size: int = 64 * 1024**3,
        connections: int = DEFAULT_CONNECTIONS,
        stac: bool = True,
        cog: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(stac, bool):
            raise ValidationError("stac", f"{stac!r} is not True or False", "stac=True (write STAC items) or False")
        self.stac = stac
        if cog is not False and (cog is not True or not (extract and stac)):
            raise ValidationError("cog", f"{cog!r} needs extract=True and stac=True", "cog=True with extract=True")
        self.cog = cog
        self._order: Any = None  # the delivered order, read in _downloads
        if (order_id is None) == (item_ids is None):
            raise ValidationError(
                "order_id",
                "give either order_id or item_ids, not both or neither",
                "order_id='<id>' or item_ids=['<id>', ...]",
            )
        self.destination = destination
        self.order_id = order_id
        self.item_ids = item_ids
        self.extract = extract
        self.overwrite = overwrite
        self.verify_checksum = verify_checksum
        self.max_extract_ratio = max_extract_ratio
        self.max_extract_size = max_extract_size
        if not isinstance(connections, int) or isinstance(connections, bool) or connections < 1:
            raise ValidationError(
                "connections", f"{connections!r} is not a number of connections", "a whole number, at least 1"
            )
        self.connections = connections
        self.oneatlas_stored_url: str | None = None
        if not is_templated(destination) and not isinstance(destination, ObjectStoragePath):
            to_destination(destination)
        if order_id is not None and not is_templated(order_id):
            query.check_id(self._order_id_of(order_id), "order_id")
        if item_ids is not None and not is_templated(item_ids):
            query.check_image_ids(item_ids, "item_ids")

    @staticmethod
    def _order_id_of(value: Any) -> Any:
        if isinstance(value, dict):
            return value.get("order_id") or value.get("id")
        return value

    def _downloads(self) -> list[tuple[str, str | None]]:
        """(item id, download URL) pairs to fetch."""
        if self.item_ids is not None:
            return [(item_id, None) for item_id in query.check_image_ids(self.item_ids, "item_ids")]
        order_id = query.check_id(self._order_id_of(self.order_id), "order_id")
        order = self.hook.get_order(order_id)
        self._order = order  # its id and price go into the STAC items
        if not order.is_delivered:
            raise AirflowFailException(
                f"OneAtlas order {order_id} is {order.status}, not delivered: nothing to download"
            )
        pairs: list[tuple[str, str | None]] = [
            (d.item_id or d.id or order_id, d.download_url) for d in order.deliveries if d.download_url
        ]
        if not pairs:
            raise AirflowFailException(f"OneAtlas order {order_id} is delivered but lists no download link")
        return pairs

    def execute(self, context: Context) -> list[dict[str, Any]]:
        if self.cog:
            from airflow_provider_oneatlas.stac.cog import cog_available

            if not cog_available():  # checked before any bandwidth is spent
                extra = "pip install 'airflow-provider-oneatlas[cog]'"
                raise ValidationError("cog", "rio-cogeo is not installed", extra)
        root = prepare_destination(self.destination)
        stored = []
        downloads = self._downloads()
        self._progress = transfer_progress(self.log, root, len(downloads), self.progress_interval)
        for item_id, url in downloads:
            query.check_id(item_id, "item_id")
            if self.extract:
                stored.append(self._extract(root, item_id, url))
            else:
                stored.append(self._store(root, item_id, url))
        if self.stac and stored:  # after every object is in place and verified
            from airflow_provider_oneatlas.stac.delivery import write_delivery_items

            write_delivery_items(self.hook, root, stored, order=self._order, cog=self.cog)
        if stored:
            self.oneatlas_stored_url = stored[0]["path"] if stored[0]["path"].startswith(("http", "https")) else None
        self._stored = stored
        self._record_assets(context, stored)
        return stored

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Lineage for the OpenLineage provider: each OneAtlas item in, each stored object out."""
        from urllib.parse import urlsplit

        from airflow.providers.common.compat.openlineage.facet import Dataset
        from airflow.providers.openlineage.extractors import OperatorLineage

        source = urlsplit(self.hook.config.service_urls["download"])
        namespace = f"oneatlas://{source.netloc}"
        inputs, outputs = [], []
        for item in getattr(self, "_stored", []):
            inputs.append(Dataset(namespace=namespace, name=f"items/{item['item_id']}"))
            target = urlsplit(item["path"])
            scheme = target.scheme or "file"
            if scheme in ("file", "local"):
                outputs.append(Dataset(namespace="file", name=target.path))
            else:  # object stores: the bucket is the namespace, the key the name
                bucket = target.hostname or target.netloc.rsplit("@", 1)[-1]
                outputs.append(Dataset(namespace=f"{scheme}://{bucket}", name=target.path.lstrip("/")))
        return OperatorLineage(inputs=inputs, outputs=outputs)

    def _store(self, root: ObjectStoragePath, item_id: str, url: str | None) -> dict[str, Any]:
        final = root / f"{item_id}.zip"
        checksum = root / f"{item_id}.zip.md5"
        if not self.overwrite and final.exists() and checksum.exists():
            remote = self.hook.head_item(item_id if url is None else None, url=url)
            recorded = checksum.read_text().split()[0]
            if remote.md5 and recorded == remote.md5 and final.stat().st_size == remote.size:
                self.log.info("%s is already stored with md5 %s: not downloading again", final, recorded)
                return {"item_id": item_id, "path": str(final), "size": remote.size, "md5": recorded, "skipped": True}
        self._progress.begin(item_name(item_id, root))
        # Stored only when the block ends without error, that is after the size and md5 checks.
        with download_sink(final) as sink:
            result = self.hook.download_item(
                sink,
                item_id if url is None else None,
                url=url,
                verify_checksum=self.verify_checksum,
                connections=self.connections,
                progress=self._progress,
            )
        self._progress.end()
        # The sidecar comes last: a present .md5 vouches for a complete object.
        with staged(checksum) as sink:
            sink.write(f"{result.md5}  {final.name}\n".encode())
        self.log.info(
            "Stored %s (%d bytes, md5 %s%s)", final, result.size, result.md5, ", verified" if result.verified else ""
        )
        return {"item_id": item_id, "path": str(final), "size": result.size, "md5": result.md5}

    def _extract(self, root: ObjectStoragePath, item_id: str, url: str | None) -> dict[str, Any]:
        from airflow_provider_oneatlas.client.archive import iter_extract, safe_members

        target_root = root / item_id
        # zipfile needs to seek, so the archive is staged in a local temporary file first.
        with tempfile.TemporaryFile(prefix="oneatlas-") as tmp:
            self._progress.begin(item_id)
            result = self.hook.download_item(
                tmp,
                item_id if url is None else None,
                url=url,
                verify_checksum=self.verify_checksum,
                connections=self.connections,
                progress=self._progress,
            )
            self._progress.end()
            tmp.seek(0)
            try:
                archive = zipfile.ZipFile(tmp)
            except zipfile.BadZipFile as exc:
                raise AirflowFailException(f"the delivery of {item_id} is not a valid zip: {exc}") from None
            with archive:
                members = safe_members(archive, max_ratio=self.max_extract_ratio, max_total=self.max_extract_size)
                files = []
                unpacking = extraction_progress(self.log, target_root, item_id, members, self.progress_interval)

                @contextlib.contextmanager
                def open_target(member: Any) -> Iterator[IO[bytes]]:
                    final = target_root / member.name
                    final.parent.mkdir(parents=True, exist_ok=True)
                    with staged(final) as sink:
                        yield counting(sink, unpacking)

                try:
                    for member in iter_extract(archive, members, open_target):
                        files.append({"path": str(target_root / member.name), "size": member.size})
                except BaseException:
                    # All or nothing: files already in place must not pass for a complete delivery.
                    for written in files:
                        with contextlib.suppress(Exception):
                            ObjectStoragePath(str(written["path"])).unlink()
                    raise
        unpacking.end()
        self.log.info("Extracted %d files of %s into %s", len(files), item_id, target_root)
        return {"item_id": item_id, "path": str(target_root), "size": result.size, "md5": result.md5, "files": files}

    def _record_assets(self, context: Context, stored: list[dict[str, Any]]) -> None:
        from airflow.sdk import Asset

        events = context.get("outlet_events")
        if events is None:
            return
        for outlet in self.outlets or []:
            if isinstance(outlet, Asset):
                events[outlet].extra = {
                    "order_id": self._order_id_of(self.order_id),
                    "objects": [{k: v for k, v in s.items() if k != "files"} for s in stored],
                    "stac_items": [s["stac_item"] for s in stored if "stac_item" in s],
                }
