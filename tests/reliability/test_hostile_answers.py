"""A hostile server: every broken answer gives a clear provider error, and nothing is kept.

The connection points at ``HostileServer`` (its token endpoint works, so the provider reaches the call
under test). Malformed or incomplete documents must raise ``ResponseError``; downloads that lie
(md5, size, cut, zips with path escapes, zip bombs, lying headers) must raise ``DownloadError`` /
``ChecksumMismatchError`` (or ``AirflowFailException`` with a clear message), never a ``KeyError``,
``TypeError``, ``RecursionError`` or another raw exception, and leave nothing under a final name in
the destination, no ``.partial`` file, and no extracted file anywhere, inside the destination or out.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_oneatlas.client.api import ProductSpec
from airflow_provider_oneatlas.client.errors import (
    ChecksumMismatchError,
    DownloadError,
    OneAtlasError,
    ResponseError,
    ValidationError,
)
from airflow_provider_oneatlas.hooks.oneatlas import OneAtlasHook
from airflow_provider_oneatlas.operators.download import OneAtlasDownloadOperator
from airflow_provider_oneatlas.operators.order import OneAtlasOrderOperator
from airflow_provider_oneatlas.operators.search import OneAtlasSearchOperator
from airflow_provider_oneatlas.sensors.oneatlas import OneAtlasOrderSensor
from airflow_provider_oneatlas.version_compat import AirflowFailException
from tests.conftest import TOULOUSE_FIELD
from tests.reliability.conftest import ITEM_ID, ORDER_ID, assert_nothing_stored, leftovers
from tests.reliability.hostile_server import (
    MIB,
    TOKEN_PATH,
    HostileServer,
    Responder,
    endless_answer,
    file_answer,
    json_answer,
    md5_of,
    raw_answer,
    write_lying_zip,
    write_zip,
    write_zip_bomb,
)

KIND = "order.data.gb.product"
CONTRACT_ID = "8b273bd7-5626-4ef3-80cf-c4fc33191083"
DOWNLOAD_PATH = f"/api/v1/items/{ITEM_ID}/download"
ME = {
    "id": "bf3d937a-e846-446a-e5b6-0a26227b892f",
    "contract": {"id": CONTRACT_ID, "balance": 100000, "workspaceId": "148eebbd-a9b9-4cf6-97d3-87237901a7b9"},
}
PRICE = {"price": {"credits": 12.5, "areaKm2": 7.7}, "orderable": "ok", "deliveries": []}
NO_ORDERS = {"items": [], "totalResults": 0, "startIndex": 0, "itemsPerPage": 500}
FEATURE = {
    "type": "Feature",
    "geometry": TOULOUSE_FIELD,
    "properties": {"id": ITEM_ID, "acquisitionDate": "2024-05-02T10:00:00Z", "cloudCover": 3.0},
    "_links": {},
}


def delivered_order(*, download_url: str | None, delivery_id: str = "d-1") -> dict[str, Any]:
    delivery: dict[str, Any] = {"id": delivery_id, "status": "delivered", "datas": {"id": ITEM_ID}}
    if download_url is not None:
        delivery["_links"] = {"download": {"href": download_url}}
    return {"id": ORDER_ID, "status": "delivered", "kind": KIND, "deliveries": [delivery]}


def good_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("IMG_PHR1A_P_001/DIM_PHR1A_P_001.XML", "<Dimap_Document/>" * 50)
        archive.writestr("IMG_PHR1A_P_001/IMG_PHR1A_P_001_R1C1.JP2", bytes(range(256)) * 200)
    return buffer.getvalue()


def raise_clearly(action: Callable[[], Any], expected: tuple[type[BaseException], ...]) -> BaseException:
    """Run ``action``; it must raise one of ``expected`` with a non-empty message."""
    try:
        outcome = action()
    except expected as exc:
        assert str(exc).strip(), f"{type(exc).__name__} without a message"
        return exc
    except BaseException as exc:
        pytest.fail(
            f"raised {type(exc).__name__} instead of {' or '.join(e.__name__ for e in expected)}: {str(exc)[:300]!r}"
        )
    pytest.fail(f"a hostile answer was accepted: {repr(outcome)[:300]}")


# --------------------------------------------------------------------------------------------------
# Malformed and incomplete documents
# --------------------------------------------------------------------------------------------------

DEEP_JSON = b"[" * 200_000 + b"]" * 200_000
BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(f'<!ENTITY lol{i} "{(f"&lol{i - 1};" if i > 1 else "&lol;") * 10}">'.encode() for i in range(1, 10))
    + b']><Capabilities xmlns="http://www.opengis.net/wmts/1.0">&lol9;</Capabilities>'
)
XXE = (
    b'<?xml version="1.0"?><!DOCTYPE c [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b'<Capabilities xmlns="http://www.opengis.net/wmts/1.0">&xxe;</Capabilities>'
)


def _search(hook: OneAtlasHook) -> Any:
    return hook.search(aoi=TOULOUSE_FIELD)


def _me(hook: OneAtlasHook) -> Any:
    return hook.get_me()


def _get_order(hook: OneAtlasHook) -> Any:
    return hook.get_order(ORDER_ID)


def _create_order(hook: OneAtlasHook) -> Any:
    return hook.create_order([ProductSpec(ITEM_ID, TOULOUSE_FIELD)], kind=KIND, customer_ref="ref")


def _price(hook: OneAtlasHook) -> Any:
    return hook.get_price([ProductSpec(ITEM_ID, TOULOUSE_FIELD)], kind=KIND)


def _orders(hook: OneAtlasHook) -> Any:
    return hook.list_orders()


def _subscriptions(hook: OneAtlasHook) -> Any:
    return hook.get_subscriptions(CONTRACT_ID)


def _wmts(hook: OneAtlasHook) -> Any:
    return hook.get_wmts_capabilities(ITEM_ID)


SEARCH = ("POST", "/api/v1/opensearch")
ME_ROUTE = ("GET", "/api/v1/me")
ORDER = ("GET", f"/api/v1/orders/{ORDER_ID}")
CREATE = ("POST", "/api/v1/orders")
PRICE_ROUTE = ("POST", "/api/v1/prices")
ORDERS = ("GET", "/api/v1/orders")
SUBSCRIPTIONS = ("GET", f"/api/v1/contracts/{CONTRACT_ID}/subscriptions")
WMTS = ("GET", f"/api/v1/items/{ITEM_ID}/wmts")
TOKEN = ("POST", TOKEN_PATH)


def answer(route: tuple[str, str], responder: Responder, action: Callable[[OneAtlasHook], Any], case_id: str) -> Any:
    return pytest.param(route, responder, action, id=case_id)


MALFORMED = [
    answer(SEARCH, raw_answer(b'{"features": [{"type": "Feat'), _search, "search-truncated-json"),
    answer(
        SEARCH, raw_answer(b"<html><body>Bad gateway</body></html>", content_type="text/html"), _search, "search-html"
    ),
    answer(SEARCH, raw_answer(b""), _search, "search-empty-body"),
    answer(SEARCH, raw_answer(DEEP_JSON), _search, "search-deeply-nested-json"),
    answer(SEARCH, raw_answer(b"\xff\xfe{not utf-8"), _search, "search-not-utf8"),
    answer(SEARCH, json_answer(None), _search, "search-null"),
    answer(SEARCH, json_answer({"type": "FeatureCollection", "totalResults": 3}), _search, "search-without-features"),
    answer(SEARCH, json_answer({"features": {"0": FEATURE}}), _search, "search-features-not-a-list"),
    answer(SEARCH, json_answer({"features": ["e459d653"]}), _search, "search-feature-not-an-object"),
    answer(SEARCH, json_answer({"features": [{"type": "Feature"}]}), _search, "search-feature-without-properties"),
    answer(
        SEARCH,
        json_answer({"features": [{**FEATURE, "properties": {"id": 5}}]}),
        _search,
        "search-feature-id-not-a-string",
    ),
    answer(SEARCH, json_answer({"features": [], "totalResults": "many"}), _search, "search-total-not-a-number"),
    answer(ME_ROUTE, json_answer({"id": "u-1", "roles": ["user"]}), _me, "me-without-contract"),
    answer(ME_ROUTE, json_answer({"contract": [CONTRACT_ID]}), _me, "me-contract-not-an-object"),
    answer(ME_ROUTE, json_answer({"contract": {"id": CONTRACT_ID}}), _me, "me-contract-without-balance"),
    answer(
        ME_ROUTE,
        json_answer({"contract": {**ME["contract"], "balance": "lots"}}),  # type: ignore[dict-item]
        _me,
        "me-balance-not-a-number",
    ),
    answer(ME_ROUTE, raw_answer(b"[1, 2"), _me, "me-truncated-json"),
    answer(ORDER, json_answer({"status": "delivered", "deliveries": []}), _get_order, "order-without-id"),
    answer(ORDER, json_answer({"id": ORDER_ID, "deliveries": []}), _get_order, "order-without-status"),
    answer(ORDER, json_answer({"id": ORDER_ID, "status": 5}), _get_order, "order-status-not-a-string"),
    answer(
        ORDER,
        json_answer({"id": ORDER_ID, "status": "delivered", "deliveries": "x"}),
        _get_order,
        "order-deliveries-not-a-list",
    ),
    answer(
        ORDER,
        json_answer({"id": ORDER_ID, "status": "delivered", "deliveries": ["x"]}),
        _get_order,
        "order-delivery-not-an-object",
    ),
    answer(ORDER, json_answer([ORDER_ID]), _get_order, "order-a-list"),
    answer(CREATE, json_answer({"status": "ordered"}), _create_order, "created-order-without-id"),
    answer(CREATE, raw_answer(b"OK"), _create_order, "created-order-not-json"),
    answer(PRICE_ROUTE, json_answer({"orderable": "ok"}), _price, "price-without-price"),
    answer(PRICE_ROUTE, json_answer({"price": {"credits": "free"}}), _price, "price-credits-not-a-number"),
    answer(ORDERS, json_answer({"totalResults": 3}), _orders, "orders-without-items"),
    answer(ORDERS, json_answer({"items": [{"id": ORDER_ID}]}), _orders, "orders-item-without-status"),
    answer(SUBSCRIPTIONS, json_answer({"total": 1}), _subscriptions, "subscriptions-without-items"),
    answer(SUBSCRIPTIONS, json_answer({"items": ["sub-1"]}), _subscriptions, "subscriptions-item-not-an-object"),
    answer(WMTS, raw_answer(b"not xml at all", content_type="application/xml"), _wmts, "wmts-not-xml"),
    answer(WMTS, raw_answer(BILLION_LAUGHS, content_type="application/xml"), _wmts, "wmts-billion-laughs"),
    answer(WMTS, raw_answer(XXE, content_type="application/xml"), _wmts, "wmts-external-entity"),
    answer(TOKEN, raw_answer(b"<html>login</html>", content_type="text/html"), _me, "token-not-json"),
    answer(TOKEN, json_answer({"token_type": "bearer", "expires_in": 3600}), _me, "token-without-access-token"),
    answer(TOKEN, json_answer({"access_token": 12345, "expires_in": 3600}), _me, "token-access-token-a-number"),
    answer(TOKEN, raw_answer(DEEP_JSON), _me, "token-deeply-nested-json"),
]


@pytest.mark.parametrize(("route", "responder", "action"), MALFORMED)
def test_malformed_answer_is_a_response_error(
    hostile: HostileServer,
    hostile_conn: str,
    route: tuple[str, str],
    responder: Responder,
    action: Callable[[OneAtlasHook], Any],
) -> None:
    hostile.route(*route, responder)
    hook = OneAtlasHook()
    raise_clearly(lambda: action(hook), (ResponseError,))
    assert hostile.requests_to(route[1]), "the call under test never reached the hostile server"


def test_error_answer_with_garbage_body_is_a_clear_api_error(hostile: HostileServer, hostile_conn: str) -> None:
    from airflow_provider_oneatlas.client.errors import ServerError

    hostile.route("GET", "/api/v1/me", raw_answer(b"\xff\xfe\x00garbage" * 1000, status=500, content_type="x/y"))
    error = raise_clearly(lambda: OneAtlasHook().get_me(), (ServerError,))
    assert "500" in str(error) and len(str(error)) < 1000


# --------------------------------------------------------------------------------------------------
# Operators and sensor on malformed documents
# --------------------------------------------------------------------------------------------------


def test_search_operator_on_an_answer_without_features(hostile: HostileServer, hostile_conn: str, context: Any) -> None:
    hostile.route(*SEARCH, json_answer({"totalResults": 1}))
    raise_clearly(lambda: OneAtlasSearchOperator(task_id="s", aoi=TOULOUSE_FIELD).execute(context), (ResponseError,))


def test_order_operator_on_a_broken_order_list(hostile: HostileServer, hostile_conn: str, context: Any) -> None:
    hostile.route(*ORDERS, json_answer({"orders": []}))
    op = OneAtlasOrderOperator(task_id="order", image_ids=[ITEM_ID], aoi=TOULOUSE_FIELD, kind=KIND)
    raise_clearly(lambda: op.execute(context), (ResponseError,))
    assert not hostile.requests_to("/api/v1/prices") and not [
        r for r in hostile.requests if r.method == "POST" and r.path == "/api/v1/orders"
    ]


def test_order_operator_on_a_created_order_without_id(hostile: HostileServer, hostile_conn: str, context: Any) -> None:
    hostile.route(*ORDERS, json_answer(NO_ORDERS))
    hostile.route(*PRICE_ROUTE, json_answer(PRICE))
    hostile.route(*ME_ROUTE, json_answer(ME))
    # The preflight's reads: the subscription allowing the kind, the image in the catalogue.
    hostile.route(
        *SUBSCRIPTIONS, json_answer({"items": [{"kind": "subscription.data", "status": "active", "offers": [KIND]}]})
    )
    hostile.route(*SEARCH, json_answer({"features": [FEATURE], "totalResults": 1}))
    hostile.route(*CREATE, json_answer({"status": "ordered", "kind": KIND}))
    op = OneAtlasOrderOperator(task_id="order", image_ids=[ITEM_ID], aoi=TOULOUSE_FIELD, kind=KIND)
    raise_clearly(lambda: op.execute(context), (ResponseError,))
    assert "order_id" not in context["ti"].xcoms
    posts = [r for r in hostile.requests if r.method == "POST" and r.path == "/api/v1/orders"]
    assert len(posts) == 1, "an order POST must never be repeated"


def test_sensor_on_an_order_without_status(hostile: HostileServer, hostile_conn: str, context: Any) -> None:
    hostile.route(*ORDER, json_answer({"id": ORDER_ID, "deliveries": []}))
    sensor = OneAtlasOrderSensor(task_id="wait", order_id=ORDER_ID, deferrable=False)
    raise_clearly(lambda: sensor.poke(context), (ResponseError,))


def test_download_operator_on_a_delivered_order_without_links(
    hostile: HostileServer, hostile_conn: str, context: Any, tmp_path: Path
) -> None:
    hostile.route(*ORDER, json_answer(delivered_order(download_url=None)))
    op = OneAtlasDownloadOperator(task_id="d", order_id=ORDER_ID, destination=str(tmp_path / "dest"))
    error = raise_clearly(lambda: op.execute(context), (AirflowFailException,))
    assert "no download link" in str(error)
    assert_nothing_stored(tmp_path / "dest")


@pytest.mark.parametrize(
    "link",
    [
        pytest.param("/api/v1/items/..%2F..%2Fevil/download", id="encoded-traversal-in-link"),
        pytest.param("/api/v1/items/a%20b/download", id="space-in-link"),
        pytest.param("/api/v1/deliveries/../../evil", id="delivery-id-fallback"),
    ],
)
def test_download_operator_on_a_link_with_a_hostile_item_id(
    hostile: HostileServer, hostile_conn: str, context: Any, tmp_path: Path, link: str
) -> None:
    order = delivered_order(download_url=hostile.url(link), delivery_id="../../evil")
    hostile.route(*ORDER, json_answer(order))
    hostile.route("GET", "/api/v1/items/*", file_answer(good_zip()))
    hostile.route("GET", "/api/v1/deliveries/*", file_answer(good_zip()))
    dest = tmp_path / "deep" / "dest"
    op = OneAtlasDownloadOperator(task_id="d", order_id=ORDER_ID, destination=str(dest))
    raise_clearly(lambda: op.execute(context), (ValidationError,))
    assert_nothing_stored(dest)
    assert not list(tmp_path.rglob("evil*"))
    assert not [r for r in hostile.requests if r.path.endswith(("/download", "/evil"))]


# --------------------------------------------------------------------------------------------------
# Downloads that lie
# --------------------------------------------------------------------------------------------------


def run_download(context: Any, destination: Path, **kwargs: Any) -> Any:
    op = OneAtlasDownloadOperator(task_id="d", item_ids=[ITEM_ID], destination=str(destination), **kwargs)
    return op.execute(context)


def test_md5_mismatch_keeps_nothing(hostile: HostileServer, hostile_conn: str, context: Any, tmp_path: Path) -> None:
    hostile.route("GET", DOWNLOAD_PATH, file_answer(good_zip(), md5="0" * 32))
    error = raise_clearly(lambda: run_download(context, tmp_path / "dest"), (ChecksumMismatchError,))
    assert "0" * 32 in str(error)
    assert_nothing_stored(tmp_path / "dest")


def test_body_longer_than_its_content_length_keeps_nothing(
    hostile: HostileServer, hostile_conn: str, context: Any, tmp_path: Path
) -> None:
    """The server sends twice what it announces; its md5 is of everything it sent."""
    body = good_zip()
    tail = b"PK-appended-" * 4096
    hostile.route("GET", DOWNLOAD_PATH, file_answer(body, md5=md5_of(body + tail), extra_bytes=tail))
    raise_clearly(lambda: run_download(context, tmp_path / "dest"), (DownloadError,))
    assert_nothing_stored(tmp_path / "dest")


def test_stream_past_the_announced_size_is_cut_off(
    hostile: HostileServer, hostile_conn: str, context: Any, tmp_path: Path
) -> None:
    """Chunked, with a Content-Length of 100 kB beside it, and no end: the download must stop soon
    after the announced size, not read the 64 MiB the server is willing to send."""
    hostile.route("GET", DOWNLOAD_PATH, endless_answer(announced=100_000, limit=64 * MIB))
    error = raise_clearly(lambda: run_download(context, tmp_path / "dest"), (DownloadError,))
    assert "100000" in str(error)
    assert_nothing_stored(tmp_path / "dest")
    assert hostile.bytes_sent.get("endless", 0) < 16 * MIB


def test_download_cut_short_every_time_keeps_nothing(
    hostile: HostileServer, hostile_conn: str, context: Any, tmp_path: Path
) -> None:
    body = good_zip()
    hostile.route("GET", DOWNLOAD_PATH, file_answer(body, cut_after=len(body) // 2))
    raise_clearly(lambda: run_download(context, tmp_path / "dest"), (DownloadError,))
    assert_nothing_stored(tmp_path / "dest")


def test_hostile_file_name_in_content_disposition_is_ignored(
    hostile: HostileServer, hostile_conn: str, context: Any, tmp_path: Path
) -> None:
    body = good_zip()
    hostile.route("GET", DOWNLOAD_PATH, file_answer(body, filename="../../evil.zip"))
    dest = tmp_path / "deep" / "dest"
    stored = run_download(context, dest)
    assert [Path(s["path"].removeprefix("file://")).name for s in stored] == [f"{ITEM_ID}.zip"]
    assert (dest / f"{ITEM_ID}.zip").read_bytes() == body
    assert not list(tmp_path.rglob("evil*")) and not list(tmp_path.rglob("*.partial"))


# --------------------------------------------------------------------------------------------------
# Zips that are unsafe to extract
# --------------------------------------------------------------------------------------------------

HONEST = ("IMG_PHR1A_P_001/DIM_PHR1A_P_001.XML", b"<Dimap_Document/>" * 20)


@pytest.fixture(scope="module")
def payloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("payloads")


@pytest.fixture(scope="module")
def zip_bomb(payloads: Path) -> Path:
    """200 MiB of zeros in one member, about 200 kB on the wire; built streaming."""
    return write_zip_bomb(payloads / "bomb.zip", size=200 * MIB)


def _evil_zip(kind: str, payloads: Path, outside: Path) -> Path:
    path = payloads / f"{kind}.zip"
    if kind == "dot-dot":
        return write_zip(path, [HONEST, ("../evil.txt", b"pwned")])
    if kind == "dot-dot-deep":
        return write_zip(path, [HONEST, ("IMG_PHR1A_P_001/../../../evil.txt", b"pwned")])
    if kind == "absolute":
        return write_zip(path, [HONEST, (str(outside / "evil.txt"), b"pwned")])
    if kind == "absolute-etc":
        return write_zip(path, [("/etc/oneatlas-evil-test.txt", b"pwned")])
    if kind == "backslash":
        return write_zip(path, [HONEST, ("..\\..\\evil.txt", b"pwned")])
    if kind == "drive-letter":
        return write_zip(path, [HONEST, ("C:/evil.txt", b"pwned")])
    if kind == "symlink":
        return write_zip(path, [HONEST], symlinks=[("IMG_PHR1A_P_001/evil-link", "/etc/passwd")])
    if kind == "lying-size":
        return write_lying_zip(path, name="IMG_PHR1A_P_001/evil.JP2")[0]
    if kind == "lying-size-after-honest-member":
        return write_lying_zip(path, name="IMG_PHR1A_P_001/evil.JP2", before=[HONEST])[0]
    raise AssertionError(kind)


def _extract_problems(
    action: Callable[[], Any],
    expected: tuple[type[BaseException], ...],
    dest: Path,
    tmp_path: Path,
    outside: Path,
) -> list[str]:
    """Everything wrong with a refused extraction, reported together."""
    problems = []
    try:
        outcome = action()
    except expected as exc:
        if not str(exc).strip():
            problems.append(f"{type(exc).__name__} without a message")
    except BaseException as exc:
        problems.append(f"raised {type(exc).__name__} instead of a provider error: {str(exc)[:200]!r}")
    else:
        problems.append(f"the unsafe zip was extracted: {repr(outcome)[:300]}")
    kept = leftovers(dest) if dest.exists() else []
    if kept:
        problems.append(f"files left under final names in the destination: {[str(p) for p in kept]}")
    evil = [p for p in tmp_path.rglob("*evil*")] + [p for p in outside.rglob("*")]
    if evil:
        problems.append(f"files written outside the destination: {evil}")
    if Path("/etc/oneatlas-evil-test.txt").exists():
        problems.append("/etc/oneatlas-evil-test.txt was written")
    return problems


@pytest.mark.parametrize(
    "kind",
    [
        "dot-dot",
        "dot-dot-deep",
        "absolute",
        "absolute-etc",
        "backslash",
        "drive-letter",
        "symlink",
        "lying-size",
        "lying-size-after-honest-member",
    ],
)
def test_unsafe_zip_is_not_extracted(
    hostile: HostileServer,
    hostile_conn: str,
    context: Any,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    kind: str,
) -> None:
    payloads = tmp_path_factory.mktemp("zips")
    outside = tmp_path / "outside"
    outside.mkdir()
    hostile.route("GET", DOWNLOAD_PATH, file_answer(_evil_zip(kind, payloads, outside)))
    dest = tmp_path / "deep" / "dest"
    problems = _extract_problems(
        lambda: run_download(context, dest, extract=True),
        (DownloadError, AirflowFailException),
        dest,
        tmp_path,
        outside,
    )
    assert not problems, "\n".join(problems)
    assert hostile.requests_to(DOWNLOAD_PATH)


def test_zip_bomb_is_not_extracted(
    hostile: HostileServer, hostile_conn: str, context: Any, tmp_path: Path, zip_bomb: Path
) -> None:
    assert zip_bomb.stat().st_size < 2 * MIB  # 200 MiB inside
    hostile.route("GET", DOWNLOAD_PATH, file_answer(zip_bomb))
    dest = tmp_path / "dest"
    outside = tmp_path / "outside"
    outside.mkdir()
    problems = _extract_problems(
        lambda: run_download(context, dest, extract=True), (DownloadError,), dest, tmp_path, outside
    )
    assert not problems, "\n".join(problems)


def test_zip_bomb_through_an_order_link(
    hostile: HostileServer, hostile_conn: str, context: Any, tmp_path: Path, zip_bomb: Path
) -> None:
    hostile.route(*ORDER, json_answer(delivered_order(download_url=hostile.url(DOWNLOAD_PATH))))
    hostile.route("GET", DOWNLOAD_PATH, file_answer(zip_bomb))
    dest = tmp_path / "dest"
    outside = tmp_path / "outside"
    outside.mkdir()
    op = OneAtlasDownloadOperator(task_id="d", order_id=ORDER_ID, destination=str(dest), extract=True)
    problems = _extract_problems(lambda: op.execute(context), (DownloadError,), dest, tmp_path, outside)
    assert not problems, "\n".join(problems)


def test_zip_over_the_extract_size_limit_is_not_extracted(
    hostile: HostileServer, hostile_conn: str, context: Any, tmp_path: Path
) -> None:
    data = hashlib.sha256(b"seed").digest() * 200  # incompressible-ish, 6400 bytes
    payload = write_zip(tmp_path / "big.zip", [HONEST, ("IMG_PHR1A_P_001/IMG.JP2", data)])
    hostile.route("GET", DOWNLOAD_PATH, file_answer(payload))
    dest = tmp_path / "dest"
    outside = tmp_path / "outside"
    outside.mkdir()
    problems = _extract_problems(
        lambda: run_download(context, dest, extract=True, max_extract_size=4000),
        (DownloadError,),
        dest,
        tmp_path,
        outside,
    )
    assert not problems, "\n".join(problems)


def test_not_a_zip_is_refused_clearly(hostile: HostileServer, hostile_conn: str, context: Any, tmp_path: Path) -> None:
    hostile.route("GET", DOWNLOAD_PATH, file_answer(b"<html>Your session expired</html>" * 100))
    dest = tmp_path / "dest"
    error = raise_clearly(lambda: run_download(context, dest, extract=True), (AirflowFailException, DownloadError))
    assert ITEM_ID in str(error) or "zip" in str(error)
    assert_nothing_stored(dest)


def test_provider_errors_survive_pickling() -> None:
    """Airflow ships task exceptions across processes: the errors raised above must pickle."""
    import pickle

    for error in (
        ResponseError("search answer has no 'features' list"),
        DownloadError("zip entry '../evil.txt' points outside the destination: not extracted"),
        ChecksumMismatchError("http://127.0.0.1/x", "0" * 32, "1" * 32),
    ):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error)
        assert isinstance(copy, OneAtlasError)


def test_hostile_server_self_check(hostile: HostileServer, tmp_path: Path) -> None:
    """The payloads are what they claim: otherwise the tests above prove nothing."""
    import requests

    path, declared = write_lying_zip(tmp_path / "lying.zip")
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("IMG_PHR1A_P_001/lying.JP2")
        assert info.file_size == declared < 8 * MIB
    with zipfile.ZipFile(write_zip(tmp_path / "dd.zip", [("../evil.txt", b"x")])) as archive:
        assert archive.namelist() == ["../evil.txt"]
    hostile.route("GET", "/x", file_answer(b"abc", md5=True, extra_bytes=b"def"))
    response = requests.get(hostile.url("/x"), timeout=10)
    assert response.content == b"abc" and response.headers["X-Ads-Checksum-Value"] == md5_of(b"abc")
    assert json.loads(requests.post(hostile.url(TOKEN_PATH), timeout=10).content)["access_token"] in hostile.tokens
