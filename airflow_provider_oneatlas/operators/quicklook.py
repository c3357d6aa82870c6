"""``OneAtlasQuicklookOperator``: image previews into object storage."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context, ObjectStoragePath

from airflow_provider_oneatlas.client import query
from airflow_provider_oneatlas.operators.base import OneAtlasBaseOperator
from airflow_provider_oneatlas.storage.destination import prepare_destination, staged, to_destination
from airflow_provider_oneatlas.utils.arguments import is_templated


class OneAtlasQuicklookOperator(OneAtlasBaseOperator):
    """Stores the quicklooks of images in object storage, for previews and reports.

    :param image_ids: an image id, a list of ids, or the search operator's result (templated).
    :param destination: folder ``ObjectStoragePath`` or URL (templated).
    :param width: width in pixels (1-4096); default: the API's.

    Returns a list of ``{"item_id", "path", "size"}``.
    """

    template_fields: Sequence[str] = ("oneatlas_conn_id", "image_ids", "destination")
    ui_color = "#c9b3ff"

    def __init__(self, *, image_ids: Any, destination: Any, width: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.image_ids = image_ids
        self.destination = destination
        self.width = width
        if width is not None:
            query.check_width(width)
        if not is_templated(destination) and not isinstance(destination, ObjectStoragePath):
            to_destination(destination)
        if not is_templated(image_ids):
            query.check_image_ids(image_ids)

    def execute(self, context: Context) -> list[dict[str, Any]]:
        item_ids = query.check_image_ids(self.image_ids)  # checked before anything is created or sent
        root = prepare_destination(self.destination)
        links = {}
        if isinstance(self.image_ids, (list, tuple)):
            links = {i["id"]: (i.get("links") or {}).get("quicklook") for i in self.image_ids if isinstance(i, dict)}
        stored = []
        for item_id in item_ids:
            data = self.hook.get_quicklook(item_id, self.width, url=links.get(item_id))
            extension = ".png" if data[:8] == b"\x89PNG\r\n\x1a\n" else ".jpg"
            final = root / f"{item_id}_quicklook{extension}"
            with staged(final) as sink:
                sink.write(data)
            stored.append({"item_id": item_id, "path": str(final), "size": len(data)})
        return stored
