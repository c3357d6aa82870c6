"""Operators and the sensor against the sandbox: what they validate, send, store and return."""

from __future__ import annotations

import hashlib
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
import requests
from airflow.sdk import PokeReturnValue

from airflow_provider_oneatlas.client.errors import ValidationError
from airflow_provider_oneatlas.operators.download import OneAtlasDownloadOperator, OneAtlasQuicklookOperator
from airflow_provider_oneatlas.operators.order import OneAtlasOrderOperator, OneAtlasPriceOperator
from airflow_provider_oneatlas.operators.search import OneAtlasSearchOperator
from airflow_provider_oneatlas.sensors.oneatlas import OneAtlasOrderSensor
from airflow_provider_oneatlas.triggers.oneatlas import OneAtlasOrderTrigger
from airflow_provider_oneatlas.version_compat import AirflowFailException, AirflowSkipException, TaskDeferred
from tests.conftest import TOULOUSE_FIELD, connection_json


def api_requests(sandbox: Any) -> list[dict[str, Any]]:
    log = requests.get(f"{sandbox.base_url}/_sandbox/requests", timeout=10).json()["requests"]
    return [r for r in log if not r["path"].startswith("/_sandbox")]


def sandbox_state(sandbox: Any) -> dict[str, Any]:
    return requests.get(f"{sandbox.base_url}/_sandbox/state", timeout=10).json()


def search(context: dict[str, Any], **kwargs: Any) -> list[dict[str, Any]]:
    op = OneAtlasSearchOperator(task_id="search", aoi=TOULOUSE_FIELD, processing_level="SENSOR", **kwargs)
    return op.execute(context)


def wait_delivered(sandbox: Any, order_id: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        orders = {o["id"]: o for o in sandbox_state(sandbox)["orders"]}
        if orders[order_id]["status"] == "delivered":
            return
        time.sleep(0.1)
    raise AssertionError("order not delivered")


def test_search_filters_and_summaries(oneatlas_conn: str, context: dict[str, Any]) -> None:
    images = search(
        context, acquisition_date=("2018-01-01", "2026-12-31"), max_cloud_cover=20, min_coverage=0.9, limit=5
    )
    assert 0 < len(images) <= 5
    for image in images:
        assert image["cloud_cover"] <= 20 and image["coverage"] >= 0.9 and image["processing_level"] == "SENSOR"
    dates = [i["acquisition_date"] for i in images]
    assert dates == sorted(dates, reverse=True)  # newest first
    json.dumps(images)  # XCom-safe
    assert set(images[0]) >= {
        "id",
        "acquisition_date",
        "cloud_cover",
        "constellation",
        "coverage",
        "footprint",
        "links",
    }


def test_search_skips_cleanly_when_nothing_is_new(oneatlas_conn: str, context: dict[str, Any]) -> None:
    with pytest.raises(AirflowSkipException):
        search(context, acquisition_date=("2030-01-01", "2030-01-02"), skip_if_empty=True)
    assert search(context, acquisition_date=("2030-01-01", "2030-01-02")) == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_cloud_cover": 130}, "max_cloud_cover"),
        ({"min_coverage": 1.5}, "min_coverage"),
        ({"limit": 0}, "limit"),
        ({"cloud_cover": (50, 10)}, "cloud_cover"),
        ({"constellation": "LANDSAT"}, "constellation"),
        ({"acquisition_date": ("2024-13-01", None)}, "acquisition_date"),
    ],
)
def test_search_rejects_bad_input_at_parse_time(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        OneAtlasSearchOperator(task_id="s", **kwargs)
    assert err.value.field == field


def test_templated_values_are_checked_when_rendered(oneatlas_conn: str, context: dict[str, Any], sandbox: Any) -> None:
    op = OneAtlasSearchOperator(task_id="s", aoi="{{ params.aoi }}", max_cloud_cover="{{ params.cloud }}")
    op.aoi, op.max_cloud_cover = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}, "20"
    before = len(api_requests(sandbox))
    with pytest.raises(ValidationError, match="Self-intersection"):
        op.execute(context)
    assert len(api_requests(sandbox)) == before  # rejected before any request


def test_search_with_a_point_has_no_coverage(oneatlas_conn: str, context: dict[str, Any]) -> None:
    op = OneAtlasSearchOperator(task_id="s", aoi={"type": "Point", "coordinates": [1.35, 43.6]}, limit=3)
    images = op.execute(context)
    assert images and all("coverage" not in i for i in images)
    with pytest.raises(ValidationError, match="min_coverage"):
        OneAtlasSearchOperator(
            task_id="s", aoi={"type": "Point", "coordinates": [1.35, 43.6]}, min_coverage=0.5
        ).execute(context)


def test_price(oneatlas_conn: str, context: dict[str, Any]) -> None:
    images = search(context, limit=2)
    result = OneAtlasPriceOperator(task_id="price", image_ids=images, aoi=TOULOUSE_FIELD).execute(context)
    assert result["credits"] > 0 and result["area_km2"] > 0 and result["image_ids"] == [i["id"] for i in images]
    assert len(result["deliveries"]) == 2


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"product_type": "bundel"}, "product_type"),
        ({"radiometric_processing": "REFLECTANSE"}, "radiometric_processing"),
        ({"image_format": "image/png"}, "image_format"),
        ({"kind": "productOrder"}, "kind"),
        ({"max_credits": -5}, "max_credits"),
        ({"tags": ["farm-2024"]}, "tags"),
        ({"image_ids": ["not an id!"]}, "image_ids"),
    ],
)
def test_order_rejects_bad_input_at_parse_time(kwargs: dict[str, Any], field: str) -> None:
    args = {"task_id": "o", "image_ids": ["e459d653-468f-471b-8d6e-90b13b14c655"], "aoi": TOULOUSE_FIELD} | kwargs
    with pytest.raises(ValidationError) as err:
        OneAtlasOrderOperator(**args)
    assert err.value.field == field


def test_order_within_budget_exactly_once_across_retries(
    oneatlas_conn: str, context: dict[str, Any], sandbox: Any
) -> None:
    images = search(context, limit=1)
    balance = sandbox_state(sandbox)["balance"]
    op = OneAtlasOrderOperator(task_id="order", image_ids=images, aoi=TOULOUSE_FIELD, max_credits=100_000)
    first = op.execute(context)
    assert (
        first["status"] == "ordered"
        and first["customer_ref"] == "airflow:oneatlas_test:order:manual__2024-05-01T00:00:00+00:00"
    )
    assert context["ti"].xcoms["order_id"] == first["order_id"]
    assert op.oneatlas_order_url and first["order_id"] in op.oneatlas_order_url
    # The task is retried (same task instance): it takes up its order instead of buying again.
    again = OneAtlasOrderOperator(task_id="order", image_ids=images, aoi=TOULOUSE_FIELD, max_credits=100_000).execute(
        context
    )
    assert again["order_id"] == first["order_id"]
    state = sandbox_state(sandbox)
    assert len(state["orders"]) == 1 and state["balance"] == balance - first["price"]


def test_order_over_budget_or_balance_is_refused(oneatlas_conn: str, context: dict[str, Any], sandbox: Any) -> None:
    images = search(context, limit=1)
    with pytest.raises(AirflowFailException, match="over the budget max_credits=1"):
        OneAtlasOrderOperator(task_id="order", image_ids=images, aoi=TOULOUSE_FIELD, max_credits=1).execute(context)
    requests.patch(f"{sandbox.base_url}/_sandbox/config", json={"balance": 3}, timeout=10).raise_for_status()
    requests.post(f"{sandbox.base_url}/_sandbox/reset", timeout=10).raise_for_status()
    with pytest.raises(AirflowFailException, match="more than the balance of 3"):
        OneAtlasOrderOperator(task_id="order", image_ids=images, aoi=TOULOUSE_FIELD).execute(context)
    assert sandbox_state(sandbox)["orders"] == []


@pytest.mark.parametrize("sandbox_config", [{"order_response_delay": 2.0}])
def test_lost_order_answer_is_found_not_repeated(
    sandbox: Any, context: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = connection_json(sandbox.base_url, {"read_timeout": 0.5, "backoff_initial": 0.05})
    monkeypatch.setenv("AIRFLOW_CONN_ONEATLAS_DEFAULT", conn)
    images = search(context, limit=1)
    result = OneAtlasOrderOperator(task_id="order", image_ids=images, aoi=TOULOUSE_FIELD).execute(context)
    state = sandbox_state(sandbox)
    assert [o["id"] for o in state["orders"]] == [result["order_id"]]


def test_order_deferrable_wait(oneatlas_conn: str, context: dict[str, Any]) -> None:
    images = search(context, limit=1)
    op = OneAtlasOrderOperator(
        task_id="order",
        image_ids=images,
        aoi=TOULOUSE_FIELD,
        wait_for_completion=True,
        deferrable=True,
        poll_interval=0.1,
        wait_timeout=30,
    )
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, OneAtlasOrderTrigger) and deferred.value.method_name == "execute_complete"
    from tests.operators.test_trigger import first_event

    event = first_event(trigger)
    order_url = deferred.value.kwargs["order_url"]
    assert order_url and order_url.endswith(f"/api/v1/orders/{event['orders'][0]['id']}")

    # The resumed task is a fresh operator: the link comes back from the defer kwargs...
    resumed = op.__class__(**_order_kwargs(images))
    result = resumed.execute_complete(context, event, **deferred.value.kwargs)
    assert result["status"] == "delivered" and result["deliveries"][0]["download_url"]
    assert resumed.oneatlas_order_url == order_url
    # ...or, where Airflow resumes with the event alone (3.1's dag.test()), from the event's order.
    resumed = op.__class__(**_order_kwargs(images))
    assert resumed.execute_complete(context, event)["order_id"] == result["order_id"]
    assert resumed.oneatlas_order_url == order_url


def _order_kwargs(images: Any) -> dict[str, Any]:
    return {"task_id": "order", "image_ids": images, "aoi": TOULOUSE_FIELD, "wait_for_completion": True}


def test_order_synchronous_wait(oneatlas_conn: str, context: dict[str, Any]) -> None:
    images = search(context, limit=1)
    op = OneAtlasOrderOperator(
        task_id="order",
        image_ids=images,
        aoi=TOULOUSE_FIELD,
        wait_for_completion=True,
        deferrable=False,
        poll_interval=0.1,
    )
    assert op.execute(context)["status"] == "delivered"


def test_sensor_poke_and_failures(oneatlas_conn: str, context: dict[str, Any], sandbox: Any) -> None:
    images = search(context, limit=1)
    order = OneAtlasOrderOperator(task_id="order", image_ids=images, aoi=TOULOUSE_FIELD).execute(context)
    sensor = OneAtlasOrderSensor(task_id="wait", order_id=order["order_id"], deferrable=False)
    assert sensor.poke(context) is False
    wait_delivered(sandbox, order["order_id"])
    done = sensor.poke(context)
    assert isinstance(done, PokeReturnValue) and done.is_done and done.xcom_value["status"] == "delivered"
    requests.post(
        f"{sandbox.base_url}/_sandbox/orders/{order['order_id']}/status",
        json={"status": "rejected", "message": "image no longer available"},
        timeout=10,
    )
    with pytest.raises(AirflowFailException, match="image no longer available"):
        sensor.poke(context)


def test_sensor_defers_and_completes(oneatlas_conn: str, context: dict[str, Any]) -> None:
    images = search(context, limit=1)
    order = OneAtlasOrderOperator(task_id="order", image_ids=images, aoi=TOULOUSE_FIELD).execute(context)
    sensor = OneAtlasOrderSensor(
        task_id="wait", order_id=order["order_id"], deferrable=True, poll_interval=0.1, timeout=60
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context)
    from tests.operators.test_trigger import first_event

    result = sensor.execute_complete(context, first_event(deferred.value.trigger))
    assert result["status"] == "delivered"
    with pytest.raises(AirflowFailException, match="rejected"):
        sensor.execute_complete(
            context, {"status": "failed", "order_id": "x", "order_status": "rejected", "message": "m"}
        )
    with pytest.raises(AirflowFailException, match="timed out"):
        sensor.execute_complete(context, {"status": "timeout", "message": "late"})


def test_sensor_default_deferrable_follows_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    assert OneAtlasOrderSensor(task_id="w", order_id="abc-123").deferrable is True
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "False")
    assert OneAtlasOrderSensor(task_id="w", order_id="abc-123").deferrable is False


def _delivered_order(context: dict[str, Any], sandbox: Any) -> dict[str, Any]:
    images = search(context, limit=1)
    order = OneAtlasOrderOperator(task_id="order", image_ids=images, aoi=TOULOUSE_FIELD).execute(context)
    wait_delivered(sandbox, order["order_id"])
    return order


def test_download_to_local_storage(oneatlas_conn: str, context: dict[str, Any], sandbox: Any, tmp_path: Path) -> None:
    order = _delivered_order(context, sandbox)
    op = OneAtlasDownloadOperator(task_id="download", order_id=order, destination=f"file://{tmp_path}/imagery/")
    stored = op.execute(context)
    assert len(stored) == 1
    path = Path(stored[0]["path"].removeprefix("file://"))
    truth = requests.get(f"{sandbox.base_url}/_sandbox/items/{stored[0]['item_id']}/file", timeout=10).json()
    assert hashlib.md5(path.read_bytes()).hexdigest() == truth["md5"] == stored[0]["md5"]
    assert zipfile.ZipFile(path).testzip() is None
    assert (path.parent / (path.name + ".md5")).read_text().split()[0] == truth["md5"]
    assert not list(path.parent.glob("*.partial"))
    # A retried task does not fetch it again.
    downloads_before = [r for r in api_requests(sandbox) if r["path"].endswith("/download") and r["method"] == "GET"]
    again = OneAtlasDownloadOperator(task_id="download", order_id=order, destination=str(tmp_path / "imagery")).execute(
        context
    )
    downloads_after = [r for r in api_requests(sandbox) if r["path"].endswith("/download") and r["method"] == "GET"]
    assert again[0].get("skipped") and len(downloads_after) == len(downloads_before)


def test_download_extracts(oneatlas_conn: str, context: dict[str, Any], sandbox: Any, tmp_path: Path) -> None:
    order = _delivered_order(context, sandbox)
    stored = OneAtlasDownloadOperator(
        task_id="download", order_id=order["order_id"], destination=str(tmp_path), extract=True
    ).execute(context)
    files = stored[0]["files"]
    assert files and all(Path(f["path"].removeprefix("file://")).stat().st_size == f["size"] for f in files)
    assert any(f["path"].upper().endswith(".XML") for f in files)


def test_download_md5_mismatch_keeps_nothing(
    oneatlas_conn: str, context: dict[str, Any], sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_oneatlas.client import download as download_module
    from airflow_provider_oneatlas.client.errors import ChecksumMismatchError

    order = _delivered_order(context, sandbox)
    original = download_module.RemoteFile.from_headers

    def lying(*args: Any, **kwargs: Any) -> Any:
        remote = original(*args, **kwargs)
        return download_module.RemoteFile(**{**remote.__dict__, "md5": "0" * 32})

    monkeypatch.setattr(download_module.RemoteFile, "from_headers", staticmethod(lying))
    with pytest.raises(ChecksumMismatchError):
        OneAtlasDownloadOperator(task_id="download", order_id=order["order_id"], destination=str(tmp_path)).execute(
            context
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("destination", ["relative/path", "", "::nope", 42])
def test_download_rejects_bad_destinations(destination: Any) -> None:
    with pytest.raises(ValidationError) as err:
        OneAtlasDownloadOperator(task_id="d", order_id="abc-123", destination=destination)
    assert err.value.field == "destination"


def test_download_needs_exactly_one_source() -> None:
    with pytest.raises(ValidationError, match="either order_id or item_ids"):
        OneAtlasDownloadOperator(task_id="d", destination="/tmp/x")


def test_quicklooks(oneatlas_conn: str, context: dict[str, Any], tmp_path: Path) -> None:
    images = search(context, limit=3)
    stored = OneAtlasQuicklookOperator(task_id="q", image_ids=images, destination=str(tmp_path), width=64).execute(
        context
    )
    assert len(stored) == 3
    for item in stored:
        data = Path(item["path"].removeprefix("file://")).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(data[16:20], "big") == 64


def test_a_bare_tag_is_one_tag() -> None:
    op = OneAtlasOrderOperator(task_id="o", image_ids=["abc-123"], aoi=TOULOUSE_FIELD, tags="flood")
    assert op.tags == ["flood"]
    templated = OneAtlasOrderOperator(task_id="o", image_ids=["abc-123"], aoi=TOULOUSE_FIELD, tags="{{ params.tag }}")
    assert templated.tags == "{{ params.tag }}"  # checked once rendered


def test_rendered_range_strings_are_numbers(oneatlas_conn: str, context: dict[str, Any]) -> None:
    # Without render_template_as_native_obj, "{{ params.max_cloud }}" renders to the string "20".
    images = search(context, cloud_cover=("0", "20"), limit=3)
    assert images and all(i["cloud_cover"] <= 20 for i in images)
    with pytest.raises(ValidationError, match="cloud_cover"):
        search(context, cloud_cover=("0", "twenty"))


def test_failed_post_is_repeated_only_when_proven_absent(
    oneatlas_conn: str, context: dict[str, Any], sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_oneatlas.client.client import OneAtlasClient
    from airflow_provider_oneatlas.client.errors import ServerError

    images = search(context, limit=1)
    original = OneAtlasClient.create_order
    calls = {"n": 0}

    def flaky(self: OneAtlasClient, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:  # refused before anything was recorded, like a 503 from a gateway
            raise ServerError(503, "Service temporarily unavailable")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(OneAtlasClient, "create_order", flaky)
    monkeypatch.setattr("airflow_provider_oneatlas.operators.order.time.sleep", lambda s: None)
    result = OneAtlasOrderOperator(task_id="order", image_ids=images, aoi=TOULOUSE_FIELD).execute(context)
    state = sandbox_state(sandbox)
    assert calls["n"] == 2 and [o["id"] for o in state["orders"]] == [result["order_id"]]
