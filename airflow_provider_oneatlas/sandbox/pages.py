"""Readable web pages of the sandbox's own orders, for a person with a browser (not part of OneAtlas).

- ``GET /orders``             every order, newest first, each linking to its page
- ``GET /orders/{order_id}``  one order: id, status, price, items, deliveries, dates

The API's JSON document of an order (``/api/v1/orders/{id}``) needs a bearer token, which a browser
does not have; these pages need none (the sandbox is a local tool) and are never faulted. While an
order is not finished, its page reloads itself every few seconds.
"""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from airflow_provider_oneatlas.sandbox.auth import base_of, get_state
from airflow_provider_oneatlas.sandbox.state import Order, iso

PAGES_PREFIX = "/orders"
REFRESH_SECONDS = 5

router = APIRouter(prefix=PAGES_PREFIX)

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1d2330; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
table { border-collapse: collapse; } th, td { border: 1px solid #d0d5dd; padding: .35rem .7rem; text-align: left; }
th { background: #f2f4f7; } code { font-size: .9em; }
.status { font-weight: bold; padding: .1rem .5rem; border-radius: .3rem; background: #eef; }
.status-delivered { background: #dcfae6; } .status-failed, .status-error, .status-rejected { background: #fee4e2; }
"""


def is_page(path: str) -> bool:
    """True for the paths these pages answer on (exempt from fault injection)."""
    return path == PAGES_PREFIX or path.startswith(PAGES_PREFIX + "/")


def _text(value: Any) -> str:
    return "" if value is None else escape(str(value))


def _page(title: str, body: str, *, refresh: bool = False) -> str:
    meta = f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">' if refresh else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)} - OneAtlas sandbox</title>{meta}<style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def _rows(pairs: list[tuple[str, str]]) -> str:
    return "".join(f"<tr><th>{escape(name)}</th><td>{value}</td></tr>" for name, value in pairs)


def _status(order: Order) -> str:
    return f'<span class="status status-{_text(order.status)}">{_text(order.status)}</span>'


def order_page(order: Order, base: str) -> str:
    """The HTML page of one order (call with the state's lock held)."""
    api_url = f"{base}/api/v1/orders/{order.id}"
    summary = _rows(
        [
            ("Order", f"<code>{_text(order.id)}</code>"),
            ("Status", _status(order)),
            ("Message", _text(order.message)),
            ("Price", f"{order.price} credits" + (" (refunded)" if order.refunded else "")),
            ("Kind", _text(order.kind)),
            ("Created", _text(iso(order.created_sim))),
            ("Last update", _text(iso(order.updated_sim))),
            ("Customer reference", _text(order.customer_ref)),
            ("Tags", _text(", ".join(order.tags or []))),
            ("API document", f"<code>{_text(api_url)}</code> (needs a bearer token)"),
        ]
    )
    items = "".join(
        "<tr>"
        f"<td>{index + 1}</td><td><code>{_text(product.datas.get('id'))}</code></td>"
        f"<td>{_text(product.source_properties.get('platform'))}</td>"
        f"<td>{_text(product.source_properties.get('acquisitionDate'))}</td>"
        f"<td>{_text(product.datas.get('productType'))}</td>"
        f"<td>{_text(product.datas.get('radiometricProcessing'))}</td>"
        f"<td>{_text(product.datas.get('imageFormat'))}</td>"
        f"<td>{_text(product.datas.get('crsCode'))}</td>"
        f"<td>{product.area_km2:.2f}</td><td>{product.credits}</td>"
        "</tr>"
        for index, product in enumerate(order.products)
    )
    items_table = (
        "<table><tr><th>#</th><th>Image</th><th>Platform</th><th>Acquired</th><th>Product type</th>"
        "<th>Radiometry</th><th>Format</th><th>CRS</th><th>Area (km²)</th><th>Credits</th></tr>"
        f"{items}</table>"
    )
    if order.status == "delivered" and order.deliveries:
        deliveries = "".join(
            "<tr>"
            f"<td><code>{_text(delivery['id'])}</code></td><td>delivered</td>"
            f"<td><code>{_text(delivery['itemId'])}</code></td>"
            f"<td><code>{_text(base)}/api/v1/items/{_text(delivery['itemId'])}/download</code></td>"
            "</tr>"
            for delivery in order.deliveries
        )
        deliveries_part = (
            "<table><tr><th>Delivery</th><th>Status</th><th>Item (private workspace)</th>"
            f"<th>Download (needs a bearer token)</th></tr>{deliveries}</table>"
        )
    else:
        deliveries_part = "<p>No delivery yet.</p>" if not order.terminal else "<p>No delivery.</p>"
    body = (
        f'<p><a href="{PAGES_PREFIX}">All orders</a></p>'
        f"<h1>Order {_text(order.id)}</h1><table>{summary}</table>"
        f"<h2>Items</h2>{items_table}<h2>Deliveries</h2>{deliveries_part}"
    )
    return _page(f"Order {order.id}", body, refresh=not order.terminal)


def orders_page(orders: list[Order]) -> str:
    """The HTML list of orders, newest first (call with the state's lock held)."""
    rows = "".join(
        "<tr>"
        f'<td><a href="{PAGES_PREFIX}/{_text(order.id)}"><code>{_text(order.id)}</code></a></td>'
        f"<td>{_status(order)}</td><td>{order.price}</td><td>{_text(iso(order.created_sim))}</td>"
        f"<td>{_text(order.customer_ref)}</td>"
        "</tr>"
        for order in orders
    )
    table = (
        "<table><tr><th>Order</th><th>Status</th><th>Credits</th><th>Created</th><th>Customer reference</th></tr>"
        f"{rows}</table>"
        if orders
        else "<p>No order yet.</p>"
    )
    return _page("Orders", f"<h1>Orders of the sandbox account</h1>{table}")


@router.get("", response_class=HTMLResponse)
async def list_page(request: Request) -> HTMLResponse:
    state = get_state(request)
    state.advance_orders()
    with state.lock:
        orders = sorted(state.orders.values(), key=lambda order: order.seq, reverse=True)
        return HTMLResponse(orders_page(orders))


@router.get("/{order_id}", response_class=HTMLResponse)
async def order_view(order_id: str, request: Request) -> HTMLResponse:
    state = get_state(request)
    order = state.get_order(order_id)
    if order is None:
        body = (
            f"<h1>Order not found</h1><p>The sandbox has no order <code>{_text(order_id)}</code>.</p>"
            f'<p><a href="{PAGES_PREFIX}">All orders</a></p>'
        )
        return HTMLResponse(_page("Order not found", body), status_code=404)
    with state.lock:
        return HTMLResponse(order_page(order, base_of(request)))
