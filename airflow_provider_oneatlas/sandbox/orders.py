"""Prices and orders: ``POST /api/v1/prices``, ``POST /api/v1/orders``, ``GET /api/v1/orders``,
``GET /api/v1/orders/{id}`` (and ``GET /api/v1/contracts/{id}/orders``, the contract's link).

Both POSTs take the tutorial's body: ``kind`` and ``products[]`` (``id``, ``productType``,
``radiometricProcessing``, ``imageFormat``, ``crsCode``, ``aoi``), plus optional ``customerRef`` and
``tags``. Every field is checked and a 400 names the first wrong one. The price of a product is
``max(min_credits, ceil(area_km2 * credits_per_km2))`` where the area is the geodesic area of the AOI
clipped to the image footprint.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from airflow_provider_oneatlas.sandbox.account import allowed_order_kinds
from airflow_provider_oneatlas.sandbox.auth import base_of, get_state, require_token
from airflow_provider_oneatlas.sandbox.errors import OneAtlasHTTPError
from airflow_provider_oneatlas.sandbox.geometry import GeometryError, clip, geodesic_area_km2, parse_aoi, to_geojson
from airflow_provider_oneatlas.sandbox.state import (
    CONTRACT_ID,
    ORDER_STATUSES,
    Order,
    OrderedProduct,
    SandboxState,
)

router = APIRouter(dependencies=[Depends(require_token)])

KNOWN_KINDS = ("order.product", "order.data.product", "order.data.gb.product")
PRODUCT_TYPES = ("bundle", "pansharpened", "bundle-fs", "pansharpened-fs")
RADIOMETRIC_PROCESSINGS = ("REFLECTANCE", "DISPLAY", "BASIC16")
IMAGE_FORMATS = ("image/jp2", "image/geotiff")
CRS_PATTERN = re.compile(r"^urn:ogc:def:crs:EPSG::(4326|32[67](0[1-9]|[1-5][0-9]|60))$")
CRS_ACCEPTED = "urn:ogc:def:crs:EPSG::4326 or a WGS84 UTM zone urn:ogc:def:crs:EPSG::326NN / 327NN (NN 01-60)"
PRODUCT_FIELDS = ("id", "productType", "radiometricProcessing", "imageFormat", "crsCode", "aoi")
BODY_FIELDS = ("kind", "products", "customerRef", "tags")
TAG_PATTERN = re.compile(r"^[A-Za-z]+$")
MAX_ITEMS_PER_PAGE = 500
DEFAULT_ITEMS_PER_PAGE = 50


def invalid(field: str, problem: str, accepted: str = "") -> OneAtlasHTTPError:
    """A 400 whose message starts with the field at fault."""
    return OneAtlasHTTPError(400, f"{field}: {problem}", hint=accepted, internal_code="INVALID_PARAMETER")


def _one_of(field: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise invalid(field, f"invalid value {value!r}", "one of " + ", ".join(choices))
    return value


async def read_json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw)
    except ValueError:
        raise OneAtlasHTTPError(
            400, "Request body is not valid JSON", hint="Send a JSON object", internal_code="INVALID_BODY"
        ) from None
    if not isinstance(body, dict):
        raise OneAtlasHTTPError(
            400, "Request body must be a JSON object", hint="Send a JSON object", internal_code="INVALID_BODY"
        )
    return body


def validate_body(body: dict[str, Any]) -> None:
    """Check the shape of a price/order body; raise a 400 naming the first wrong field."""
    for key in body:
        if key not in BODY_FIELDS:
            raise invalid(key, "unknown field", "fields: " + ", ".join(BODY_FIELDS))
    if "kind" not in body:
        raise invalid("kind", "missing", "one of " + ", ".join(KNOWN_KINDS))
    _one_of("kind", body["kind"], KNOWN_KINDS)
    if "customerRef" in body and not isinstance(body["customerRef"], str):
        raise invalid("customerRef", "must be a string")
    if "tags" in body:
        tags = body["tags"]
        if not isinstance(tags, list):
            raise invalid("tags", "must be a list of strings", 'letters only, e.g. ["demo", "flood"]')
        for index, tag in enumerate(tags):
            if not isinstance(tag, str) or not TAG_PATTERN.match(tag):
                raise invalid(f"tags[{index}]", f"invalid tag {tag!r}", "letters only (A-Z, a-z)")
    products = body.get("products")
    if not isinstance(products, list) or not products:
        raise invalid("products", "must be a non-empty list of products")
    for index, product in enumerate(products):
        where = f"products[{index}]"
        if not isinstance(product, dict):
            raise invalid(where, "must be an object")
        for key in product:
            if key not in PRODUCT_FIELDS:
                raise invalid(f"{where}.{key}", "unknown field", "fields: " + ", ".join(PRODUCT_FIELDS))
        for key in PRODUCT_FIELDS:
            if key not in product:
                raise invalid(f"{where}.{key}", "missing")
        if not isinstance(product["id"], str) or not product["id"]:
            raise invalid(f"{where}.id", "must be the id of a catalog image (a string)")
        _one_of(f"{where}.productType", product["productType"], PRODUCT_TYPES)
        _one_of(f"{where}.radiometricProcessing", product["radiometricProcessing"], RADIOMETRIC_PROCESSINGS)
        _one_of(f"{where}.imageFormat", product["imageFormat"], IMAGE_FORMATS)
        crs = product["crsCode"]
        if not isinstance(crs, str) or not CRS_PATTERN.match(crs):
            raise invalid(f"{where}.crsCode", f"invalid value {crs!r}", CRS_ACCEPTED)
        try:
            parse_aoi(product["aoi"], field=f"{where}.aoi")
        except GeometryError as exc:
            raise invalid(exc.field, exc.problem, exc.accepted) from None


def price_products(state: SandboxState, body: dict[str, Any]) -> list[OrderedProduct]:
    """Price each product of a validated body (404/400 for unknown, non-SENSOR or disjoint images)."""
    config = state.config
    priced: list[OrderedProduct] = []
    for index, product in enumerate(body["products"]):
        where = f"products[{index}]"
        with state.lock:
            item = state.catalog.get(product["id"])
        if item is None:
            raise OneAtlasHTTPError(
                404,
                f"{where}.id: image {product['id']} not found",
                hint="Use the id of an image returned by the search",
                internal_code="ITEM_NOT_FOUND",
            )
        properties = dict(item.get("properties") or {})
        level = properties.get("processingLevel")
        if level != "SENSOR":
            raise invalid(
                f"{where}.id",
                f"image {product['id']} has processingLevel {level}: only images with processingLevel "
                "SENSOR can be priced or ordered",
                "search with processingLevel=SENSOR",
            )
        footprint = state.catalog.footprint(product["id"])
        clipped = None if footprint is None else clip(parse_aoi(product["aoi"], f"{where}.aoi"), footprint)
        area = geodesic_area_km2(clipped) if clipped is not None else 0.0
        if clipped is None or area <= 0.0:
            raise invalid(f"{where}.aoi", "aoi does not intersect the image", "an AOI overlapping the footprint")
        credits = max(config.min_credits, math.ceil(round(area * config.credits_per_km2, 6)))
        datas = dict(product)
        datas["sourceId"] = properties.get("parentIdentifier") or properties.get("sourceIdentifier")
        priced.append(
            OrderedProduct(
                datas=datas,
                credits=credits,
                area_km2=round(area, 2),
                clipped_aoi=to_geojson(clipped),
                source_properties=properties,
            )
        )
    return priced


def price_document(body: dict[str, Any], products: list[OrderedProduct]) -> dict[str, Any]:
    total_area = sum(product.area_km2 for product in products)
    return {
        "payload": body,
        "deliveries": [
            {"datas": product.datas, "id": str(uuid.uuid4()), "price": product.credits, "areaKm2": product.area_km2}
            for product in products
        ],
        "price": {"credits": sum(product.credits for product in products), "areaKm2": round(total_area, 2)},
        "feasibility": "automatic",
        "orderable": "ok",
    }


@router.post("/api/v1/prices")
async def prices(request: Request) -> JSONResponse:
    state = get_state(request)
    body = await read_json_object(request)
    validate_body(body)
    products = price_products(state, body)
    return JSONResponse(price_document(body, products))


@router.post("/api/v1/orders")
async def create_order(request: Request) -> JSONResponse:
    state = get_state(request)
    body = await read_json_object(request)
    validate_body(body)
    allowed = allowed_order_kinds(state)
    if body["kind"] not in allowed:
        raise invalid(
            "kind",
            f"{body['kind']!r} is not allowed by your contract and subscriptions",
            "one of " + ", ".join(sorted(allowed)) + " (see offers in /api/v1/me and the subscriptions)",
        )
    products = price_products(state, body)
    order = state.create_order(
        kind=body["kind"],
        payload=body,
        products=products,
        customer_ref=body.get("customerRef"),
        tags=body.get("tags"),
    )
    if order is None:
        with state.lock:
            balance = state.balance
        price = sum(product.credits for product in products)
        raise OneAtlasHTTPError(
            400,
            f"insufficient balance: the order costs {price} credits, the balance is {balance}",
            hint="Top up the contract or order a smaller AOI",
            internal_code="INSUFFICIENT_BALANCE",
        )
    with state.lock:
        document = order.to_json(base_of(request))
    delay = state.config.order_response_delay
    if delay > 0:
        # The order is recorded and paid for; a client killed now never learns its id.
        await asyncio.sleep(delay)
    return JSONResponse(document, status_code=201)


def _int_param(request: Request, name: str, default: int, minimum: int, maximum: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(name, f"not an integer: {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        accepted = f"from {minimum}" + (f" to {maximum}" if maximum is not None else "")
        raise invalid(name, f"out of range: {value}", accepted)
    return value


def _split(raw: str | None) -> list[str]:
    return [part.strip() for part in (raw or "").split(",") if part.strip()]


def list_orders_document(request: Request) -> dict[str, Any]:
    state = get_state(request)
    page = _int_param(request, "page", 1, 1)
    per_page = _int_param(request, "itemsPerPage", DEFAULT_ITEMS_PER_PAGE, 1, MAX_ITEMS_PER_PAGE)
    statuses = _split(request.query_params.get("status"))
    for status in statuses:
        if status not in ORDER_STATUSES:
            raise invalid("status", f"invalid value {status!r}", "one of " + ", ".join(ORDER_STATUSES))
    kinds = _split(request.query_params.get("kind"))
    tags = set(_split(request.query_params.get("tags")))
    customer_ref = request.query_params.get("customerRef")
    # SandboxMiddleware has advanced the orders before the route ran.
    with state.lock:
        newest_first = state.config.order_list_order == "newest"
        orders = sorted(state.orders.values(), key=lambda order: order.seq, reverse=newest_first)

    def keep(order: Order) -> bool:
        if statuses and order.status not in statuses:
            return False
        if kinds and order.kind not in kinds:
            return False
        if tags and not tags.issubset(order.tags or ()):
            return False
        return customer_ref is None or order.customer_ref == customer_ref

    matching = [order for order in orders if keep(order)]
    start = (page - 1) * per_page
    base = base_of(request)
    with state.lock:
        items = [order.to_json(base) for order in matching[start : start + per_page]]
    return {
        "items": items,
        "totalResults": len(matching),
        "startIndex": start,
        "itemsPerPage": per_page,
    }


@router.get("/api/v1/orders")
async def list_orders(request: Request) -> JSONResponse:
    return JSONResponse(list_orders_document(request))


@router.get("/api/v1/contracts/{contract_id}/orders")
async def list_contract_orders(contract_id: str, request: Request) -> JSONResponse:
    if contract_id != CONTRACT_ID:
        raise OneAtlasHTTPError(404, f"Contract {contract_id} not found", internal_code="CONTRACT_NOT_FOUND")
    return JSONResponse(list_orders_document(request))


@router.get("/api/v1/orders/{order_id}")
async def get_order(order_id: str, request: Request) -> JSONResponse:
    order = get_state(request).get_order(order_id)
    if order is None:
        raise OneAtlasHTTPError(
            404,
            f"Order {order_id} not found",
            hint="List your orders with GET /api/v1/orders",
            internal_code="ORDER_NOT_FOUND",
        )
    state = get_state(request)
    with state.lock:
        document = order.to_json(base_of(request))
    return JSONResponse(document)
