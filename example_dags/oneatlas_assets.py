"""Assets shared by the OneAtlas example DAGs.

The acquisition DAG records an event on ``ACQUISITION_IMAGERY`` each time it lands imagery; the
downstream ETL DAG is scheduled on it. Both import it from here, so the two can never drift apart.
(Airflow puts the DAGs folder on ``sys.path``, so sibling modules import by their plain name.)
"""

from __future__ import annotations

from airflow.sdk import Asset

#: Imagery landed by ``oneatlas_acquisition``. Each event's ``extra`` holds ``order_id`` and
#: ``objects``: a list of ``{"item_id", "path", "size", "md5"}``, one per delivered zip.
ACQUISITION_IMAGERY = Asset(
    name="oneatlas_acquisition_imagery",
    uri="oneatlas://imagery/acquisition",
    group="imagery",
)

#: Imagery landed by ``oneatlas_multi_aoi`` (one event per area of interest).
MULTI_AOI_IMAGERY = Asset(
    name="oneatlas_multi_aoi_imagery",
    uri="oneatlas://imagery/multi-aoi",
    group="imagery",
)

#: Imagery landed by ``oneatlas_event_acquisition`` (same ``extra`` as ``ACQUISITION_IMAGERY``).
EVENT_IMAGERY = Asset(
    name="oneatlas_event_imagery",
    uri="oneatlas://imagery/event-acquisition",
    group="imagery",
)
