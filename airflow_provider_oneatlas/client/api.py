"""One description of every OneAtlas call: pure request builders and response parsers.

The sync transport (requests, used by the hook) and the async transport (httpx, used by the trigger)
both execute these ``ApiCall`` objects and feed the answers to the same parsers, so the two paths
cannot drift apart. Nothing here performs I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from airflow_provider_oneatlas.client.errors import (
    ApiError,
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ResponseError,
    ServerError,
    ValidationError,
)
from airflow_provider_oneatlas.client.models import (
    Account,
    Delivery,
    ImageSummary,
    Order,
    OrderPage,
    Price,
    PriceDelivery,
    SearchPage,
    Subscription,
    TileMatrix,
    Token,
    WmtsCapabilities,
)
from airflow_provider_oneatlas.client.query import (
    MAX_ORDERS_PER_PAGE,
    ORDER_KIND_GB,
    ORDER_KIND_TILES,
    ORDER_STATUSES,
    _choices,
    check_customer_ref,
    check_id,
    check_kind,
    check_tags,
    check_width,
)

# The inputs of the calls built here, importable from this module as the docs show.
from airflow_provider_oneatlas.client.query import ProductSpec as ProductSpec
from airflow_provider_oneatlas.client.query import SearchQuery as SearchQuery

TOKEN_PATH = "/auth/realms/IDP/protocol/openid-connect/token"


@dataclass(frozen=True)
class ApiCall:
    """A request, described without performing it.

    ``service`` picks the base URL from the configuration; ``url`` (an absolute link taken from an
    earlier answer) overrides it and is checked against the configured services before any token is
    attached. ``idempotent`` tells the transport whether the call may be repeated after a failure.
    """

    method: str
    service: str
    path: str = ""
    params: Mapping[str, Any] | None = None
    json_body: Any = None
    form: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    authenticated: bool = True
    idempotent: bool = True
    url: str | None = None
    name: str = ""


def search_call(body: Mapping[str, Any], *, api_version: int = 1) -> ApiCall:
    if api_version not in (1, 2):
        raise ValidationError("api_version", f"{api_version!r} is not a search API version", "1 or 2")
    return ApiCall("POST", "search", f"/api/v{api_version}/opensearch", json_body=dict(body), name="search")


def _links(raw: Any) -> dict[str, str]:
    """``_links`` as name -> href; a list-valued link keeps its HTTP entry (see the API notes)."""
    links: dict[str, str] = {}
    if not isinstance(raw, Mapping):
        return links
    for name, value in raw.items():
        if isinstance(value, Mapping) and isinstance(value.get("href"), str):
            links[name] = value["href"]
        elif isinstance(value, list):
            candidates = [v for v in value if isinstance(v, Mapping) and isinstance(v.get("href"), str)]
            preferred = [v for v in candidates if str(v.get("type", "")).upper() == "HTTP"]
            named = [v for v in preferred if v.get("name") == name] or preferred or candidates
            if named:
                links[name] = named[0]["href"]
    return links


def _float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def parse_feature(feature: Any) -> ImageSummary:
    if not isinstance(feature, Mapping):
        raise ResponseError(f"search answer: a feature is not an object: {str(feature)[:100]}")
    props = feature.get("properties")
    if not isinstance(props, Mapping):
        raise ResponseError("search answer: a feature has no 'properties' object")
    item_id = props.get("id") or feature.get("id")
    if not isinstance(item_id, str) or not item_id:
        raise ResponseError("search answer: a feature has no 'properties.id'")
    geometry = feature.get("geometry")
    return ImageSummary(
        id=item_id,
        acquisition_date=props.get("acquisitionDate"),
        cloud_cover=_float(props.get("cloudCover")),
        constellation=props.get("constellation"),
        platform=props.get("platform"),
        processing_level=props.get("processingLevel"),
        resolution=_float(props.get("resolution")),
        incidence_angle=_float(props.get("incidenceAngle")),
        workspace_id=props.get("workspaceId"),
        footprint=dict(geometry) if isinstance(geometry, Mapping) else None,
        links=_links(feature.get("_links")),
        raw=dict(feature),
        publication_date=props.get("publicationDate"),
    )


def _int_field(doc: Mapping[str, Any], key: str, where: str, default: int | None = None) -> int:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if default is not None and value is None:
            return default
        raise ResponseError(f"{where}: '{key}' is missing or not a number")
    return int(value)


def parse_search(doc: Any) -> SearchPage:
    if not isinstance(doc, Mapping):
        raise ResponseError("search answer is not a JSON object")
    features = doc.get("features")
    if not isinstance(features, list):
        raise ResponseError("search answer has no 'features' list")
    parsed = tuple(parse_feature(f) for f in features)
    return SearchPage(
        features=parsed,
        total_results=_int_field(doc, "totalResults", "search answer", default=len(parsed)),
        items_per_page=_int_field(doc, "itemsPerPage", "search answer", default=len(parsed)),
        start_index=_int_field(doc, "startIndex", "search answer", default=0),
        raw=dict(doc),
    )


# --------------------------------------------------------------------------------------------------
# Authentication and account
# --------------------------------------------------------------------------------------------------


def token_call(api_key: str) -> ApiCall:
    return ApiCall(
        "POST",
        "auth",
        TOKEN_PATH,
        form={"apikey": api_key, "grant_type": "api_key", "client_id": "IDP"},
        authenticated=False,
        name="token",
    )


def parse_token(doc: Any) -> Token:
    if not isinstance(doc, Mapping) or not isinstance(doc.get("access_token"), str) or not doc["access_token"]:
        raise ResponseError("token answer has no 'access_token'")
    expires_in = _float(doc.get("expires_in"))
    return Token(
        access_token=doc["access_token"],
        expires_in=expires_in if expires_in else 3600.0,
        token_type=str(doc.get("token_type", "bearer")),
    )


def me_call() -> ApiCall:
    return ApiCall("GET", "data", "/api/v1/me", name="me")


def parse_me(doc: Any) -> Account:
    if not isinstance(doc, Mapping) or not isinstance(doc.get("contract"), Mapping):
        raise ResponseError("/api/v1/me answer has no 'contract' object")
    contract = doc["contract"]
    missing = [k for k in ("id", "balance", "workspaceId") if contract.get(k) is None]
    if missing:
        raise ResponseError(f"/api/v1/me answer: contract lacks {', '.join(missing)}")
    balance = _float(contract.get("balance"))
    if balance is None:
        raise ResponseError("/api/v1/me answer: contract.balance is not a number")
    return Account(
        user_id=str(doc.get("id", "")),
        contract_id=str(contract["id"]),
        balance=balance,
        workspace_id=str(contract["workspaceId"]),
        offers=tuple(str(o) for o in contract.get("offers") or ()),
        raw=dict(doc),
    )


def subscriptions_call(contract_id: str) -> ApiCall:
    contract_id = check_id(contract_id, "contract_id")
    return ApiCall("GET", "data", f"/api/v1/contracts/{contract_id}/subscriptions", name="subscriptions")


def parse_subscriptions(doc: Any) -> tuple[Subscription, ...]:
    if not isinstance(doc, Mapping) or not isinstance(doc.get("items"), list):
        raise ResponseError("subscriptions answer has no 'items' list")
    result = []
    for item in doc["items"]:
        if not isinstance(item, Mapping):
            raise ResponseError("subscriptions answer: an item is not an object")
        result.append(
            Subscription(
                id=str(item.get("id", "")),
                kind=str(item.get("kind", "")),
                status=str(item.get("status", "")),
                consumption_mode=item.get("consumptionMode"),
                offers=tuple(str(o) for o in item.get("offers") or ()),
                streaming_plan=item.get("streamingPlan"),
                amount_consumed=_float(item.get("amountConsumed")),
                amount_max=_float(item.get("amountMax")),
                raw=dict(item),
            )
        )
    return tuple(result)


def order_kind_for(subscriptions: Sequence[Subscription], account: Account | None = None) -> str:
    """The order ``kind`` the contract requires: GB subscriptions take ``order.data.gb.product``,
    tiles subscriptions ``order.product`` (tutorial: "Your kind must be ...")."""
    active = [s for s in subscriptions if s.is_active]
    for sub in active:
        if ORDER_KIND_GB in sub.offers or (sub.consumption_mode or "").lower() == "gb":
            return ORDER_KIND_GB
    for sub in active:
        if ORDER_KIND_TILES in sub.offers or (sub.consumption_mode or "").lower() == "tiles":
            return ORDER_KIND_TILES
    return ORDER_KIND_TILES


# --------------------------------------------------------------------------------------------------
# Viewing
# --------------------------------------------------------------------------------------------------


def _image_call(kind: str, item_id: str, width: int | None, url: str | None) -> ApiCall:
    """A preview image of an item (``quicklook`` or ``thumbnail``), optionally scaled to ``width``."""
    item_id = check_id(item_id, "item_id")
    checked = check_width(width)
    return ApiCall(
        "GET",
        "view",
        f"/api/v1/items/{item_id}/{kind}",
        params=None if checked is None else {"width": checked},
        url=url,
        headers={"Accept": "image/*"},
        name=kind,
    )


def quicklook_call(item_id: str, width: int | None = None, *, url: str | None = None) -> ApiCall:
    return _image_call("quicklook", item_id, width, url)


def thumbnail_call(item_id: str, width: int | None = None, *, url: str | None = None) -> ApiCall:
    return _image_call("thumbnail", item_id, width, url)


def wmts_capabilities_call(item_id: str, *, url: str | None = None) -> ApiCall:
    item_id = check_id(item_id, "item_id")
    return ApiCall(
        "GET", "view", f"/api/v1/items/{item_id}/wmts", url=url, headers={"Accept": "application/xml"}, name="wmts"
    )


_WMTS = "{http://www.opengis.net/wmts/1.0}"
_OWS = "{http://www.opengis.net/ows/1.1}"


def parse_wmts_capabilities(xml_text: str | bytes) -> WmtsCapabilities:
    from xml.etree import ElementTree

    try:
        root = ElementTree.fromstring(xml_text)  # noqa: S314 - only OneAtlas answers, no DTDs expanded by etree
    except ElementTree.ParseError as exc:
        raise ResponseError(f"WMTS capabilities are not well-formed XML: {exc}") from None
    layer = root.find(f".//{_WMTS}Layer")
    if layer is None:
        raise ResponseError("WMTS capabilities have no Layer")
    resource = layer.find(f"{_WMTS}ResourceURL")
    if resource is None or not resource.get("template"):
        raise ResponseError("WMTS capabilities: the Layer has no ResourceURL template")
    tms_link = layer.findtext(f"{_WMTS}TileMatrixSetLink/{_WMTS}TileMatrixSet") or "4326"
    bbox = None
    wgs = layer.find(f"{_OWS}WGS84BoundingBox")
    if wgs is not None:
        try:
            lower = [float(v) for v in (wgs.findtext(f"{_OWS}LowerCorner") or "").split()]
            upper = [float(v) for v in (wgs.findtext(f"{_OWS}UpperCorner") or "").split()]
            if len(lower) == 2 and len(upper) == 2:
                bbox = (lower[0], lower[1], upper[0], upper[1])
        except ValueError:
            bbox = None
    matrices: list[TileMatrix] = []
    for tms in root.iter(f"{_WMTS}TileMatrixSet"):
        if tms.findtext(f"{_OWS}Identifier") != tms_link:
            continue
        for tm in tms.findall(f"{_WMTS}TileMatrix"):
            try:
                corner = [float(v) for v in (tm.findtext(f"{_WMTS}TopLeftCorner") or "").split()]
                matrices.append(
                    TileMatrix(
                        identifier=tm.findtext(f"{_OWS}Identifier") or "",
                        scale_denominator=float(tm.findtext(f"{_WMTS}ScaleDenominator") or "nan"),
                        top_left_corner=(corner[0], corner[1]),
                        tile_width=int(tm.findtext(f"{_WMTS}TileWidth") or 256),
                        tile_height=int(tm.findtext(f"{_WMTS}TileHeight") or 256),
                        matrix_width=int(tm.findtext(f"{_WMTS}MatrixWidth") or 0),
                        matrix_height=int(tm.findtext(f"{_WMTS}MatrixHeight") or 0),
                    )
                )
            except (ValueError, IndexError):
                raise ResponseError("WMTS capabilities: a TileMatrix has malformed numbers") from None
    if not matrices:
        raise ResponseError(f"WMTS capabilities: no TileMatrix in tile matrix set {tms_link!r}")
    return WmtsCapabilities(
        layer=layer.findtext(f"{_OWS}Identifier") or "default",
        style=layer.findtext(f"{_WMTS}Style/{_OWS}Identifier") or "default",
        tile_matrix_set=tms_link,
        tile_url_template=resource.get("template", ""),
        image_format=resource.get("format") or layer.findtext(f"{_WMTS}Format") or "image/png",
        wgs84_bbox=bbox,
        tile_matrices=tuple(matrices),
    )


# --------------------------------------------------------------------------------------------------
# Prices and orders
# --------------------------------------------------------------------------------------------------


def price_call(body: Mapping[str, Any]) -> ApiCall:
    # A price is a read: safe to repeat.
    return ApiCall("POST", "data", "/api/v1/prices", json_body=dict(body), name="price")


def create_order_call(body: Mapping[str, Any]) -> ApiCall:
    # Never repeated blindly: a second POST is a second order and a second debit.
    return ApiCall("POST", "data", "/api/v1/orders", json_body=dict(body), idempotent=False, name="create_order")


def get_order_call(order_id: str) -> ApiCall:
    order_id = check_id(order_id, "order_id")
    return ApiCall("GET", "data", f"/api/v1/orders/{order_id}", name="get_order")


def list_orders_call(
    *,
    status: str | Sequence[str] | None = None,
    kind: str | None = None,
    tags: Sequence[str] | str | None = None,
    customer_ref: str | None = None,
    page: int = 1,
    items_per_page: int = 50,
) -> ApiCall:
    params: dict[str, Any] = {}
    if status is not None:
        params["status"] = ",".join(_choices(status, "status", ORDER_STATUSES))
    if kind is not None:
        params["kind"] = check_kind(kind)
    checked_tags = check_tags(tags)
    if checked_tags:
        params["tags"] = ",".join(checked_tags)
    ref = check_customer_ref(customer_ref)
    if ref is not None:
        params["customerRef"] = ref
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise ValidationError("page", f"{page!r} is not a page number", "an integer from 1")
    if (
        isinstance(items_per_page, bool)
        or not isinstance(items_per_page, int)
        or not 1 <= items_per_page <= MAX_ORDERS_PER_PAGE
    ):
        raise ValidationError(
            "items_per_page", f"{items_per_page!r} is out of range", f"an integer from 1 to {MAX_ORDERS_PER_PAGE}"
        )
    params["page"] = page
    params["itemsPerPage"] = items_per_page
    return ApiCall("GET", "data", "/api/v1/orders", params=params, name="list_orders")


def _delivery(raw: Any) -> Delivery:
    if not isinstance(raw, Mapping):
        raise ResponseError("order answer: a delivery is not an object")
    links = _links(raw.get("_links"))
    url = links.get("download")
    datas = raw.get("datas") if isinstance(raw.get("datas"), Mapping) else {}
    item_id = None
    if url:
        match = re.search(r"/items/([^/]+)/download", url)
        item_id = match.group(1) if match else None
    return Delivery(
        id=raw.get("id"),
        status=raw.get("status"),
        item_id=item_id,
        download_url=url,
        product=dict(datas) if isinstance(datas, Mapping) else {},
    )


def parse_order(doc: Any) -> Order:
    if not isinstance(doc, Mapping):
        raise ResponseError("order answer is not a JSON object")
    order_id, status = doc.get("id"), doc.get("status")
    if not isinstance(order_id, str) or not order_id:
        raise ResponseError("order answer has no 'id'")
    if not isinstance(status, str) or not status:
        raise ResponseError(f"order {order_id}: answer has no 'status'")
    deliveries = doc.get("deliveries") or []
    if not isinstance(deliveries, list):
        raise ResponseError(f"order {order_id}: 'deliveries' is not a list")
    payload = doc.get("payload") if isinstance(doc.get("payload"), Mapping) else {}
    products = payload.get("products") if isinstance(payload, Mapping) else None
    product_ids = tuple(
        str(p["id"]) for p in (products or []) if isinstance(p, Mapping) and isinstance(p.get("id"), str)
    )
    price = doc.get("price")
    credits = _float(price.get("credits")) if isinstance(price, Mapping) else _float(price)
    tags = doc.get("tags") or (payload.get("tags") if isinstance(payload, Mapping) else None) or []
    message = doc.get("message") or doc.get("statusMessage") or doc.get("reason")
    links = doc.get("_links")
    self_link = links.get("self") if isinstance(links, Mapping) else None
    href = self_link.get("href") if isinstance(self_link, Mapping) else None
    return Order(
        id=order_id,
        status=status.lower(),
        kind=doc.get("kind"),
        price=credits,
        created_at=doc.get("createdAt"),
        customer_ref=doc.get("customerRef") or (payload.get("customerRef") if isinstance(payload, Mapping) else None),
        tags=tuple(str(t) for t in tags) if isinstance(tags, list) else (),
        message=str(message) if message else None,
        deliveries=tuple(_delivery(d) for d in deliveries),
        product_ids=product_ids,
        url=href if isinstance(href, str) and href else None,
        raw=dict(doc),
    )


def parse_order_list(doc: Any) -> OrderPage:
    if not isinstance(doc, Mapping) or not isinstance(doc.get("items"), list):
        raise ResponseError("orders answer has no 'items' list")
    orders = tuple(parse_order(o) for o in doc["items"])
    return OrderPage(
        orders=orders,
        total_results=_int_field(doc, "totalResults", "orders answer", default=len(orders)),
        start_index=_int_field(doc, "startIndex", "orders answer", default=0),
        items_per_page=_int_field(doc, "itemsPerPage", "orders answer", default=len(orders)),
    )


def parse_price(doc: Any) -> Price:
    if not isinstance(doc, Mapping) or not isinstance(doc.get("price"), Mapping):
        raise ResponseError("price answer has no 'price' object")
    credits = _float(doc["price"].get("credits"))
    area = _float(doc["price"].get("areaKm2"))
    if credits is None:
        raise ResponseError("price answer: 'price.credits' is missing or not a number")
    deliveries = []
    for d in doc.get("deliveries") or []:
        if not isinstance(d, Mapping):
            continue
        datas: Mapping[str, Any] = d["datas"] if isinstance(d.get("datas"), Mapping) else {}
        deliveries.append(
            PriceDelivery(
                item_id=str(datas.get("id", "")),
                credits=_float(d.get("price")) or 0.0,
                area_km2=_float(d.get("areaKm2")) or 0.0,
                source_id=datas.get("sourceId"),
            )
        )
    return Price(
        credits=credits,
        area_km2=area if area is not None else 0.0,
        deliveries=tuple(deliveries),
        orderable=doc.get("orderable"),
        feasibility=doc.get("feasibility"),
        raw=dict(doc),
    )


# --------------------------------------------------------------------------------------------------
# Downloads
# --------------------------------------------------------------------------------------------------


def download_call(item_id: str | None = None, *, url: str | None = None) -> ApiCall:
    if url is None:
        if item_id is None:
            raise ValidationError("item_id", "neither an item id nor a download URL given", "an item id")
        item_id = check_id(item_id, "item_id")
    path = f"/api/v1/items/{item_id}/download" if item_id else ""
    return ApiCall("GET", "download", path, url=url, headers={"Accept": "application/zip, */*"}, name="download")


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    return _retry_after_seconds(headers.get("Retry-After") or headers.get("retry-after"))


_BEARER_RE = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_APIKEY_RE = re.compile(r"(?i)(apikey=)[^&\s\"']+")


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without the secrets a server might echo back (key, token, Authorization header)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return _APIKEY_RE.sub(r"\1***", _BEARER_RE.sub(r"\1***", text))


def parse_error(
    status: int,
    body: bytes | str | None,
    headers: Mapping[str, str],
    *,
    method: str = "",
    url: str = "",
    secrets: Iterable[str] = (),
) -> ApiError:
    """An HTTP error answer -> the matching ``ApiError``, with OneAtlas' message, hint and correlationId."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    doc: Any = None
    try:
        doc = json.loads(text) if text else None
    except ValueError:
        doc = None
    message = hint = internal = correlation = None
    if isinstance(doc, Mapping):
        message = doc.get("message") or doc.get("error_description") or doc.get("error")
        hint = doc.get("hint") or None
        internal = doc.get("internalCode") or None
        correlation = doc.get("correlationId") or None
    if not message:
        message = text.strip()[:200] or "no error message in the answer"
    message = scrub(str(message), secrets)
    hint = scrub(str(hint), secrets) if hint else None
    correlation = correlation or headers.get("X-Ads-Correlation-Id") or headers.get("x-ads-correlation-id")
    kwargs: dict[str, Any] = {
        "method": method,
        "url": url,
        "hint": str(hint) if hint else None,
        "internal_code": str(internal) if internal else None,
        "correlation_id": str(correlation) if correlation else None,
        "retry_after": retry_after_seconds(headers),
    }
    cls: type[ApiError] = ApiError
    if status == 401:
        cls = AuthenticationError
    elif status == 403:
        cls = PermissionDeniedError
    elif status == 404:
        cls = NotFoundError
    elif status == 429:
        cls = RateLimitedError
    elif status >= 500:
        cls = ServerError
    return cls(status, str(message), **kwargs)


def auth_refused_error(
    status: int, body: bytes | str | None, headers: Mapping[str, str], url: str, api_key: str = ""
) -> AuthenticationError:
    """The token endpoint refused the key. The key itself is never part of the message."""
    base = parse_error(status, body, headers, method="POST", url=url, secrets=(api_key,))
    return AuthenticationError(
        status,
        f"the OneAtlas API key was refused ({base.message}); check the password field of the OneAtlas connection",
        method="POST",
        url=url,
        hint=base.hint,
        correlation_id=base.correlation_id,
    )


def parse_token_answer(status: int, content: bytes, headers: Mapping[str, str], url: str, api_key: str) -> Token:
    """The token endpoint's answer, for the sync and the async transport alike."""
    if status >= 400:
        raise auth_refused_error(status, content, headers, url, api_key)
    try:
        doc = json.loads(content)
    except (ValueError, RecursionError):
        raise ResponseError("token answer is not JSON") from None
    return parse_token(doc)
