"""client/models.py: the typed results, their status helpers and their XCom-safe ``to_dict()``."""

from __future__ import annotations

import json

import pytest

from airflow_provider_oneatlas.client import api
from airflow_provider_oneatlas.client.models import DownloadResult, Order, Token
from tests.conftest import tutorial


def order(status: str) -> Order:
    return api.parse_order(tutorial("order.json") | {"status": status})


@pytest.mark.parametrize(
    ("status", "delivered", "failed"),
    [
        ("ordered", False, False),
        ("processing", False, False),
        ("delivered", True, False),
        ("failed", False, True),
        ("error", False, True),
        ("rejected", False, True),
    ],
)
def test_order_status_helpers(status: str, delivered: bool, failed: bool) -> None:
    o = order(status)
    assert (o.is_delivered, o.is_failed, o.is_terminal) == (delivered, failed, delivered or failed)


def test_status_is_lower_cased() -> None:
    assert order("DELIVERED").is_delivered


def test_to_dicts_are_json_and_leave_raw_out() -> None:
    o = order("ordered")
    as_dict = o.to_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict and "raw" not in as_dict
    assert as_dict["id"] == o.id and as_dict["price"] == 377
    account = api.parse_me(tutorial("me.json")).to_dict()
    assert account["balance"] == 1341 and json.dumps(account)
    price = api.parse_price(tutorial("price.json")).to_dict()
    assert price["credits"] == 377 and price["deliveries"][0]["area_km2"] == 37.75 and json.dumps(price)
    image = api.parse_search(tutorial("search.json")).features[0].to_dict()
    assert "raw" not in image and json.dumps(image)


def test_raw_does_not_count_in_equality() -> None:
    a = api.parse_order(tutorial("order.json"))
    b = api.parse_order(tutorial("order.json") | {"createdBy": "someone else"})
    assert a == b and a.raw != b.raw


@pytest.mark.parametrize(("orderable", "ok"), [(None, True), ("ok", True), ("no", False), ("pending", False)])
def test_price_is_orderable(orderable: str | None, ok: bool) -> None:
    assert api.parse_price(tutorial("price.json") | {"orderable": orderable}).is_orderable is ok


def test_token_expiry_keeps_a_margin_even_for_short_tokens() -> None:
    token = Token(access_token="t", expires_in=3600, obtained_at=0.0)
    assert not token.expires_within(60, now=3000) and token.expires_within(60, now=3541)
    short = Token(access_token="t", expires_in=2, obtained_at=0.0)
    assert not short.expires_within(60, now=0.5) and short.expires_within(60, now=1.0)  # renewed by half its life
    assert "t'" not in repr(token)  # the token itself is not in the repr


def test_download_result_is_verified_only_against_an_announced_md5() -> None:
    base = {"url": "u", "size": 1, "md5": "a" * 32, "content_type": None, "filename": None}
    assert DownloadResult(expected_md5="a" * 32, **base).verified
    assert not DownloadResult(expected_md5=None, **base).verified
    assert not DownloadResult(expected_md5="b" * 32, **base).verified
