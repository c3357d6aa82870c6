"""``dag.test()`` of every example DAG against the sandbox: real HTTP, real metadata DB, real files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import EMPTY_RANGE, FOUND_RANGE, md5_file, sandbox_get
from tests.stac_validation import validate_item, validate_item_collection

NOWHERE = {  # a small box in the South Atlantic: the sandbox catalogue has nothing there
    "type": "Polygon",
    "coordinates": [[[-30.0, -50.0], [-29.95, -50.0], [-29.95, -49.95], [-30.0, -49.95], [-30.0, -50.0]]],
}


@pytest.fixture
def trigger_events(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every event the order trigger yields (``dag.test()`` runs deferred tasks' triggers inline)."""
    from airflow_provider_oneatlas.triggers.oneatlas import OneAtlasOrderTrigger

    events: list[dict[str, Any]] = []
    original = OneAtlasOrderTrigger.run

    async def spy(self: OneAtlasOrderTrigger) -> Any:
        async for event in original(self):
            events.append(event.payload)
            yield event

    monkeypatch.setattr(OneAtlasOrderTrigger, "run", spy)
    return events


def local_path(url: str) -> Path:
    parts = urlsplit(url)
    assert parts.scheme == "file", url
    return Path(parts.path)


def conf(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    return {**FOUND_RANGE, "destination": tmp_path.as_uri() + "/", "poll_interval": 1, **overrides}


def assert_zip_matches_sandbox(base_url: str, obj: dict[str, Any]) -> Path:
    """The stored zip is byte-identical to what the sandbox serves for that item."""
    truth = sandbox_get(base_url, f"/_sandbox/items/{obj['item_id']}/file")
    path = local_path(obj["path"])
    assert path.is_file(), f"{path} was not written"
    assert path.stat().st_size == truth["size"] == obj["size"]
    assert md5_file(path) == truth["md5"] == obj["md5"]
    return path


def test_acquisition_lands_the_zip_once(
    run_dag: Any, e2e_sandbox: Any, sandbox_conn: str, tmp_path: Path, trigger_events: list[dict[str, Any]]
) -> None:
    balance_before = sandbox_get(e2e_sandbox.base_url, "/_sandbox/state")["balance"]

    run = run_dag("oneatlas_acquisition", conf(tmp_path))

    assert run.state == "success", run.task_states()
    assert run.task_states() == {t: "success" for t in ("search", "order", "wait", "download", "summary")}
    found = run.xcom("search")
    assert len(found) == 1  # max_images=1: the newest clear image
    assert found[0]["cloud_cover"] <= 20 and found[0]["coverage"] >= 0.5
    assert FOUND_RANGE["start"] <= found[0]["acquisition_date"][:10] <= FOUND_RANGE["end"]

    # Exactly one order, delivered, paid once.
    state = sandbox_get(e2e_sandbox.base_url, "/_sandbox/state")
    assert len(state["orders"]) == 1, state["orders"]
    order = state["orders"][0]
    assert order["status"] == "delivered"
    assert [d["orderId"] for d in state["debits"]] == [order["id"]]
    assert state["balance"] == balance_before - order["price"]
    assert run.xcom("order", key="order_id") == order["id"]
    assert run.xcom("order")["image_ids"] == [found[0]["id"]]

    # The sensor deferred: the trigger polled the order until it was delivered.
    assert [e["status"] for e in trigger_events] == ["success"], trigger_events
    assert trigger_events[0]["order_ids"] == [order["id"]]

    # The zip landed under <destination>/<ds>/, byte-identical to the sandbox's.
    summary = run.xcom("summary")
    assert summary["order_id"] == order["id"] and summary["status"] == "delivered"
    assert [o["item_id"] for o in summary["objects"]] == order["deliveredItems"]
    path = assert_zip_matches_sandbox(e2e_sandbox.base_url, summary["objects"][0])
    assert path.parent.parent == tmp_path and len(path.parent.name) == 10  # the ds folder
    assert (path.parent / (path.name + ".md5")).read_text().split()[0] == summary["objects"][0]["md5"]

    # The asset event the downstream DAG is scheduled on.
    (event,) = run.asset_events()
    assert event.asset.uri == "oneatlas://imagery/acquisition"
    assert event.extra["order_id"] == order["id"]
    assert event.extra["objects"] == summary["objects"]

    # Each zip has its STAC Item beside it, valid offline, and the run's ItemCollection lists them.
    assert event.extra["stac_items"] == [o["stac_item"] for o in summary["objects"]]
    for obj in summary["objects"]:
        doc = json.loads(Path(obj["stac_item"]).read_text())
        validate_item(doc)
        assert doc["assets"]["archive"]["href"] == str(path) and doc["properties"]["oneatlas:order_id"] == order["id"]
    validate_item_collection(json.loads((path.parent / "items.json").read_text()))


def test_downstream_etl_runs_on_the_asset_event(
    run_dag: Any, e2e_sandbox: Any, sandbox_conn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No logical date, as `airflow dags trigger` does in Airflow 3: the folder is the run's day.
    acquisition = run_dag("oneatlas_acquisition", conf(tmp_path), logical_date=None)
    assert acquisition.state == "success", acquisition.task_states()
    (event,) = acquisition.asset_events()
    (stored,) = event.extra["objects"]
    (item_href,) = event.extra["stac_items"]

    # The scheduler would create an asset-triggered run that consumed the event; dag.test() creates a
    # manual run, so attach the event to it the same way (DagRun.consumed_asset_events).
    from airflow.models.asset import AssetEvent

    from tests.airflow_compat import dag_test_run_factory

    dagrun_module, factory = dag_test_run_factory()
    original = getattr(dagrun_module, factory)

    def with_consumed_event(**kwargs: Any) -> Any:
        dr = original(**kwargs)
        session = kwargs["session"]
        dr.consumed_asset_events.append(session.get(AssetEvent, event.id))
        session.commit()
        return dr

    monkeypatch.setattr(dagrun_module, factory, with_consumed_event)
    run = run_dag("oneatlas_downstream_etl")

    assert run.state == "success", run.task_states()
    assert run.task_states() == {"deliveries": "success", "inspect": ["success"], "report": "success"}
    assert run.rendered_map_indexes("inspect") == [f"{stored['item_id']}.json"]
    (delivery,) = run.xcom("deliveries")
    assert delivery["href"] == item_href == stored["stac_item"] and delivery["order_id"] == event.extra["order_id"]

    # The manifest is what the STAC Item says, every asset checked against the stored object.
    item_path = Path(item_href)
    manifest_path = item_path.with_name(f"{stored['item_id']}.manifest.json")
    assert manifest_path.is_file(), "the manifest was not written next to the item"
    manifest = json.loads(manifest_path.read_text())
    assert manifest == {k: v for k, v in run.xcom("inspect", map_index=0).items() if k != "manifest"}
    assert manifest["item_id"] == stored["item_id"] and manifest["order_id"] == event.extra["order_id"]
    (asset,) = manifest["assets"]
    assert asset["key"] == "archive" and asset["md5_verified"] is True
    assert asset["href"] == str(local_path(stored["path"])) and asset["size"] == stored["size"]
    assert md5_file(local_path(stored["path"])) == stored["md5"]
    props = manifest["properties"]
    from airflow_provider_oneatlas.hooks.oneatlas import OneAtlasHook

    (found,) = OneAtlasHook().search(extra={"id": stored["item_id"]}).features  # the delivered item
    feature = found.raw
    assert props["oneatlas:dataset_name"] == feature["properties"]["parentIdentifier"]
    assert props["eo:cloud_cover"] == feature["properties"]["cloudCover"]
    assert props["datetime"][:19] == feature["properties"]["acquisitionDate"][:19]
    assert props["oneatlas:order_id"] == event.extra["order_id"] and props["platform"]
    assert manifest["bands"] == ["blue", "green", "red", "nir"]
    assert run.xcom("report") == {"items": 1, "manifests": [str(manifest_path.as_uri())]}


def test_downstream_etl_fails_on_a_corrupted_zip(run_dag: Any, airflow_db: Path, tmp_path: Path) -> None:
    """A stored object whose md5 does not match its STAC Item's is refused, and no manifest is written."""
    from airflow_provider_oneatlas.stac.items import StoredFile
    from tests.unit.stac.test_items import zip_item

    bad = tmp_path / "broken.zip"
    bad.write_bytes(b"PK\x03\x04 not the delivered bytes")
    item = zip_item(stored=[StoredFile(str(bad), bad.stat().st_size, "0" * 32, "broken.zip")])
    item_path = tmp_path / "item-1.json"
    item_path.write_text(json.dumps(item.to_dict(transform_hrefs=False)))

    run = run_dag("oneatlas_downstream_etl", {"stac_items": [str(item_path)]})

    assert run.state == "failed"
    assert run.task_states()["inspect"] == ["failed"]
    assert not (tmp_path / "item-1.manifest.json").exists()


def test_multi_aoi_downloads_one_zip_per_area(
    run_dag: Any,
    example_dags: dict[str, Any],
    e2e_sandbox: Any,
    sandbox_conn: str,
    tmp_path: Path,
    trigger_events: list[dict[str, Any]],
) -> None:
    default_areas = example_dags["oneatlas_multi_aoi"].params["areas"]
    assert [a["name"] for a in default_areas] == ["toulouse", "cavtat"]
    areas = [*default_areas, {"name": "nowhere", "aoi": NOWHERE}]
    run = run_dag("oneatlas_multi_aoi", conf(tmp_path, areas=areas))

    assert run.state == "success", run.task_states()
    states = run.task_states()
    assert states["search"] == ["success"] * 3
    assert run.rendered_map_indexes("search") == ["toulouse", "cavtat", "nowhere"]
    assert states["order"] == states["wait"] == states["download"] == ["success"] * 2
    searches = run.xcoms("search")
    assert [len(searches[i]) for i in range(3)] == [1, 1, 0]  # nothing over "nowhere": not ordered

    state = sandbox_get(e2e_sandbox.base_url, "/_sandbox/state")
    assert len(state["orders"]) == 2 and {o["status"] for o in state["orders"]} == {"delivered"}
    assert len(state["debits"]) == 2
    ordered = sorted(i for o in run.xcoms("order").values() for i in o["image_ids"])
    assert ordered == sorted([searches[0][0]["id"], searches[1][0]["id"]])
    # The first wait defers; by the time the second starts its order may already be delivered.
    assert trigger_events and {e["status"] for e in trigger_events} == {"success"}

    objects = run.xcom("summary")
    assert len(objects) == 2
    assert sorted(o["item_id"] for o in objects) == sorted(i for o in state["orders"] for i in o["deliveredItems"])
    for obj in objects:
        assert_zip_matches_sandbox(e2e_sandbox.base_url, obj)
    assert len(run.asset_events()) == 2
    # Both mapped downloads merged their items into the one ItemCollection of the run's folder.
    (folder,) = {local_path(o["path"]).parent for o in objects}
    collection = json.loads((folder / "items.json").read_text())
    validate_item_collection(collection)
    assert sorted(f["id"] for f in collection["features"]) == sorted(o["item_id"] for o in objects)


def test_multi_aoi_with_nothing_anywhere_skips(
    run_dag: Any, e2e_sandbox: Any, sandbox_conn: str, tmp_path: Path
) -> None:
    run = run_dag("oneatlas_multi_aoi", conf(tmp_path, **EMPTY_RANGE))

    assert run.state == "success", run.task_states()
    states = run.task_states()
    assert states["search"] == ["success", "success"]
    assert states["plan_orders"] == "skipped"
    assert {states[t] for t in ("order", "wait", "download", "summary")} == {"skipped"}
    assert sandbox_get(e2e_sandbox.base_url, "/_sandbox/state")["orders"] == []


def test_acquisition_with_nothing_new_skips_and_orders_nothing(
    run_dag: Any, e2e_sandbox: Any, sandbox_conn: str, tmp_path: Path
) -> None:
    balance_before = sandbox_get(e2e_sandbox.base_url, "/_sandbox/state")["balance"]

    run = run_dag("oneatlas_acquisition", conf(tmp_path, **EMPTY_RANGE))

    assert run.state == "success", run.task_states()
    assert run.task_states() == {t: "skipped" for t in ("search", "order", "wait", "download", "summary")}
    state = sandbox_get(e2e_sandbox.base_url, "/_sandbox/state")
    assert state["orders"] == [] and state["debits"] == [] and state["balance"] == balance_before
    log = sandbox_get(e2e_sandbox.base_url, "/_sandbox/requests")["requests"]
    assert any("opensearch" in r["path"] for r in log), "the search never reached the sandbox"
    assert not any(r["method"] == "POST" and r["path"].endswith("/orders") for r in log)
    assert run.asset_events() == []
    assert list(tmp_path.iterdir()) == []
