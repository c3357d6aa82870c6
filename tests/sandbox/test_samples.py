"""The tutorial's images (``airflow_provider_oneatlas.sandbox.samples``), stored verbatim and always searchable."""

from __future__ import annotations

from shapely.geometry import shape

from airflow_provider_oneatlas.sandbox.catalog import Catalog
from airflow_provider_oneatlas.sandbox.config import SandboxConfig
from airflow_provider_oneatlas.sandbox.samples import TUTORIAL_ITEM_IDS, TUTORIAL_PRICE_ITEM_ID
from tests.conftest import TUTORIAL_AOI as TOULOUSE_AOI
from tests.conftest import tutorial
from tests.sandbox.conftest import MakeApi, MakeSandbox, ids, search
from tests.sandbox.http import START


def test_tutorial_features_are_stored_verbatim() -> None:
    catalog = Catalog(SandboxConfig(catalog_size=0))
    expected = tutorial("search.json")["features"]
    assert [catalog.get(item_id) for item_id in TUTORIAL_ITEM_IDS] == expected
    assert [f["properties"]["id"] for f in expected] == list(TUTORIAL_ITEM_IDS)


def test_price_sample_item_covers_the_price_aoi_with_a_margin() -> None:
    catalog = Catalog(SandboxConfig(catalog_size=0))
    item = catalog.get(TUTORIAL_PRICE_ITEM_ID)
    assert item is not None
    props = item["properties"]
    assert (props["constellation"], props["platform"], props["processingLevel"]) == ("PHR", "PHR1B", "SENSOR")
    assert set(props) == set(tutorial("search.json")["features"][0]["properties"])
    footprint = shape(item["geometry"])
    assert footprint.contains(shape(TOULOUSE_AOI).buffer(0.05))


def test_the_tutorial_images_stay_searchable(make_sandbox: MakeSandbox, make_api: MakeApi) -> None:
    # Real time (the default clock): their publication dates are long past.
    api = make_api(make_sandbox(catalog_size=20))
    document = search(api, id=",".join([*TUTORIAL_ITEM_IDS, TUTORIAL_PRICE_ITEM_ID]))
    assert sorted(ids(document)) == sorted([*TUTORIAL_ITEM_IDS, TUTORIAL_PRICE_ITEM_ID])
    assert {f["properties"]["publicationDate"][:16] for f in document["features"]} >= {"2018-08-30T07:06"}
    # A pinned clock in 2024 still sees them.
    pinned = make_api(make_sandbox(catalog_size=20, clock_start=START, clock_speed=0))
    assert search(pinned, id=TUTORIAL_ITEM_IDS[0])["totalResults"] == 1
