"""Account routes: ``GET /api/v1/me``, ``GET /api/v1/contracts/{id}``, and
``GET /api/v1/contracts/{id}/subscriptions``.

The documents are the tutorial's samples, verbatim, with link hosts rewritten to this server and the
balance and the data subscription's consumption mode taken from the sandbox state.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from airflow_provider_oneatlas.sandbox.auth import base_of, get_state, require_token
from airflow_provider_oneatlas.sandbox.errors import OneAtlasHTTPError
from airflow_provider_oneatlas.sandbox.state import CONTRACT_ID, PRIVATE_WORKSPACE_ID, USER_ID, SandboxState

router = APIRouter(dependencies=[Depends(require_token)])

CONTRACT_OFFERS = ["order.product", "order.subscription.change-detection", "order.subscription.streaming"]


def subscription_offers(state: SandboxState) -> list[str]:
    """Offers of the data subscription: the order kind it allows depends on its consumption mode."""
    return ["order.data.gb.product"] if state.config.consumption_mode == "gb" else ["order.product"]


def allowed_order_kinds(state: SandboxState) -> set[str]:
    """Order kinds the account may use: ``order.*`` offers of the contract and of its subscriptions."""
    return {offer for offer in CONTRACT_OFFERS if offer.endswith(".product")} | set(subscription_offers(state))


def contract_document(base: str, balance: int) -> dict[str, Any]:
    contract_url = f"{base}/api/v1/contracts/{CONTRACT_ID}"
    return {
        "_links": {
            "self": {"href": contract_url},
            "orders": {"href": f"{contract_url}/orders"},
            "payments": {"href": f"{contract_url}/payments"},
            "subscriptions": {"href": f"{contract_url}/subscriptions"},
            "deliveries": {"href": f"{contract_url}/deliveries"},
            "reports": {"href": f"{contract_url}/reports"},
        },
        "id": CONTRACT_ID,
        "status": "created",
        "createdAt": "2018-06-11T09:23:01.868510+00:00",
        "offers": list(CONTRACT_OFFERS),
        "kind": "contract.change-detection",
        "name": "airbus guide",
        "balance": balance,
        "workspaceId": PRIVATE_WORKSPACE_ID,
    }


def me_document(base: str, balance: int) -> dict[str, Any]:
    return {
        "_links": {
            "self": {"href": f"{base}/api/v1/me"},
            "licenses": {"href": f"{base}/api/v1/licenseAgreements"},
        },
        "id": USER_ID,
        "status": "created",
        "createdAt": "2018-04-30T08:51:43.393720+00:00",
        "roles": ["user"],
        "contract": contract_document(base, balance),
    }


TUTORIAL_HOST = "https://data.api.oneatlas.airbus.com"

# The tutorial's two subscriptions, verbatim (ids and links included, hosts rewritten when served).
_SUBSCRIPTIONS: list[dict[str, Any]] = [
    {
        "_links": {
            "self": {"href": f"{TUTORIAL_HOST}/api/v1/subscriptions/0b9da7d1-5b21-4532-84db-fd8b399ec47e"},
            "contract": {"href": f"{TUTORIAL_HOST}/api/v1/contracts/ff731b8d-5637-40aa-89ad-daa736613714"},
            "reports": {"href": f"{TUTORIAL_HOST}/api/v1/subscriptions/0b9da7d1-5b21-4532-84db-fd8b399ec47e/reports"},
            "deliveries": {
                "href": f"{TUTORIAL_HOST}/api/v1/deliveries?subscriptionId=0b9da7d1-5b21-4532-84db-fd8b399ec47e"
            },
            "payments": {
                "href": f"{TUTORIAL_HOST}/api/v1/payments?subscriptionId=0b9da7d1-5b21-4532-84db-fd8b399ec47e"
            },
            "orders": {"href": f"{TUTORIAL_HOST}/api/v1/orders?subscriptionId=0b9da7d1-5b21-4532-84db-fd8b399ec47e"},
        },
        "id": "0b9da7d1-5b21-4532-84db-fd8b399ec47e",
        "status": "active",
        "startedAt": "2019-02-07T16:47:56.272827+00:00",
        "endedAt": "2019-12-01T00:00:00+00:00",
        "service": "data",
        "isAmountEstimated": "true",
        "kind": "subscription.oneatlas",
        "title": "OneAtlas",
        "workspaceId": "1898ea7e-d3ac-4f74-b374-0f1496388b00",
        "offers": [],
    },
    {
        "_links": {
            "self": {"href": f"{TUTORIAL_HOST}/api/v1/subscriptions/8fe89b39-9745-40b1-9a1f-5ce98aba2b13"},
            "contract": {"href": f"{TUTORIAL_HOST}/api/v1/contracts/ff731b8d-5637-40aa-89ad-daa736613714"},
            "reports": {"href": f"{TUTORIAL_HOST}/api/v1/subscriptions/0b9da7d1-5b21-4532-84db-fd8b399ec47e/reports"},
            "deliveries": {
                "href": f"{TUTORIAL_HOST}/api/v1/deliveries?subscriptionId=0b9da7d1-5b21-4532-84db-fd8b399ec47e"
            },
            "payments": {"href": f"{TUTORIAL_HOST}/api/v1/subscriptions/8fe89b39-9745-40b1-9a1f-5ce98aba2b13/payments"},
            "orders": {"href": f"{TUTORIAL_HOST}/api/v1/orders?subscriptionId=0b9da7d1-5b21-4532-84db-fd8b399ec47e"},
            "packs": {"href": f"{TUTORIAL_HOST}/api/v1/subscriptions/0b9da7d1-5b21-4532-84db-fd8b399ec47e/packs"},
        },
        "id": "8fe8db39-9745-40b1-9a1f-5cf98ab2b13",
        "status": "active",
        "startedAt": "2019-01-03T08:13:54.780700+00:00",
        "endedAt": "2019-07-03T08:13:54.780700+00:00",
        "service": "data",
        "isAmountEstimated": "false",
        "title": "custom",
        "kind": "subscription.data.premium",
        "offers": ["order.data.gb.product"],
        "type": "view",
        "duration": 6,
        "tileAmount": 150000,
        "paymentModality": "monthly",
        "monthlyPrice": 0,
        "streamingPlan": "advanced",
        "consumptionMode": "gb",
        "amountConsumed": 60564344,
        "amountMax": 101293740,
    },
]


def _rehost(value: Any, base: str) -> Any:
    if isinstance(value, dict):
        return {key: _rehost(item, base) for key, item in value.items()}
    if isinstance(value, list):
        return [_rehost(item, base) for item in value]
    if isinstance(value, str) and value.startswith(TUTORIAL_HOST):
        return base + value[len(TUTORIAL_HOST) :]
    return value


def subscriptions_document(base: str, state: SandboxState) -> dict[str, Any]:
    items: list[dict[str, Any]] = _rehost(_SUBSCRIPTIONS, base)
    data = items[1]
    data["offers"] = subscription_offers(state)
    data["consumptionMode"] = "gb" if state.config.consumption_mode == "gb" else "tiles"
    # The tutorial's sample says 5 but lists these 2 (it is cut short); the sandbox counts what it lists.
    return {"startIndex": 0, "totalResults": len(items), "itemsPerPage": 10, "items": items}


def _check_contract(contract_id: str) -> None:
    if contract_id != CONTRACT_ID:
        raise OneAtlasHTTPError(
            404,
            f"Contract {contract_id} not found",
            hint=f"Your contract id is in GET /api/v1/me (contract.id = {CONTRACT_ID})",
            internal_code="CONTRACT_NOT_FOUND",
        )


@router.get("/api/v1/me")
async def me(request: Request) -> JSONResponse:
    state = get_state(request)
    with state.lock:
        balance = state.balance
    return JSONResponse(me_document(base_of(request), balance))


@router.get("/api/v1/contracts/{contract_id}")
async def contract(contract_id: str, request: Request) -> JSONResponse:
    _check_contract(contract_id)
    state = get_state(request)
    with state.lock:
        balance = state.balance
    return JSONResponse(contract_document(base_of(request), balance))


@router.get("/api/v1/contracts/{contract_id}/subscriptions")
async def subscriptions(contract_id: str, request: Request) -> JSONResponse:
    _check_contract(contract_id)
    return JSONResponse(subscriptions_document(base_of(request), get_state(request)))
