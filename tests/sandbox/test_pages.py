"""The readable order pages (``airflow_provider_oneatlas.sandbox.pages``): what a person opening the order link
in a browser sees, without a token."""

from __future__ import annotations

from html.parser import HTMLParser

import httpx

from tests.sandbox.conftest import Api, MakeApi, MakeSandbox, order_body
from tests.sandbox.http import START


class Text(HTMLParser):
    """The visible text of a page, whitespace-normalised, and its links."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.links: list[str] = []
        self.refresh = False
        self._skip = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._skip = tag in ("style", "title")
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.links.append(str(values["href"]))
        if tag == "meta" and values.get("http-equiv") == "refresh":
            self.refresh = True

    def handle_endtag(self, tag: str) -> None:
        self._skip = False

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.parts).split())


def page(base_url: str, path: str) -> tuple[httpx.Response, Text]:
    # A browser: no Authorization header, no proxy.
    answer = httpx.get(base_url + path, trust_env=False)
    parsed = Text()
    parsed.feed(answer.text)
    return answer, parsed


def test_an_order_page_shows_the_order_without_a_token(make_sandbox: MakeSandbox, make_api: MakeApi) -> None:
    server = make_sandbox(clock_start=START, clock_speed=0, processing_after=60, delivered_after=3600)
    api = make_api(server)
    order = api.order(order_body(customerRef="field-7 <north>", tags=["flood"]))
    answer, shown = page(server.base_url, f"/orders/{order['id']}")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    text = shown.text
    assert f"Order {order['id']}" in text
    assert "Status ordered" in text and f"Price {order['price']} credits" in text
    assert "Created 2024-05-01T00:00:00.000000+00:00" in text
    assert "Customer reference field-7 <north>" in text and "Tags flood" in text  # escaped, shown as typed
    assert "<north>" not in answer.text
    product = order["payload"]["products"][0]
    assert f"1 {product['id']} PHR1B" in text and "bundle REFLECTANCE image/jp2" in text
    assert "No delivery yet." in text and shown.refresh  # reloads itself until the order is finished
    assert f"{server.base_url}/api/v1/orders/{order['id']} (needs a bearer token)" in text

    api.admin("POST", "/clock", json={"advance": 86_400})
    answer, shown = page(server.base_url, f"/orders/{order['id']}")
    delivered = api.get(f"/api/v1/orders/{order['id']}").json()
    delivery = delivered["deliveries"][0]
    text = shown.text
    assert "Status delivered" in text and "Last update 2024-05-01T01:00:00.000000+00:00" in text
    assert delivery["id"] in text and delivery["_links"]["download"]["href"] in text
    assert not shown.refresh


def test_a_failed_order_shows_its_message(api: Api) -> None:
    order = api.order()
    api.admin("POST", f"/orders/{order['id']}/status", json={"status": "failed", "message": "Cloudy <again>"})
    _, shown = page(api.base_url, f"/orders/{order['id']}")
    assert "Status failed" in shown.text and "Message Cloudy <again>" in shown.text and "No delivery." in shown.text


def test_the_order_list_links_every_order_newest_first(api: Api) -> None:
    first, second = api.order(), api.order()
    answer, shown = page(api.base_url, "/orders")
    assert answer.status_code == 200
    assert shown.links == [f"/orders/{second['id']}", f"/orders/{first['id']}"]
    for link in shown.links:
        assert page(api.base_url, link)[0].status_code == 200


def test_an_unknown_order_is_a_404_page(api: Api) -> None:
    answer, shown = page(api.base_url, "/orders/no-such-order")
    assert answer.status_code == 404 and answer.headers["content-type"].startswith("text/html")
    assert "The sandbox has no order no-such-order" in shown.text and "/orders" in shown.links


def test_order_pages_are_never_faulted(make_sandbox: MakeSandbox) -> None:
    server = make_sandbox(error_rate=1.0)
    assert page(server.base_url, "/orders")[0].status_code == 200
    assert page(server.base_url, "/orders/no-such-order")[0].status_code == 404
    # ...while every API path answers 503.
    assert httpx.get(server.base_url + "/api/v1/me", trust_env=False).status_code == 503
