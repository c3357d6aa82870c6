"""The async twin of the sync transport, for triggers: httpx, the same builders, parsers, token cache
and retry decisions as ``transport.py``, only the I/O differs."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from airflow_provider_oneatlas.client import api
from airflow_provider_oneatlas.client.config import ClientConfig
from airflow_provider_oneatlas.client.errors import ResponseError, TransportError
from airflow_provider_oneatlas.client.hints import unreachable_hint
from airflow_provider_oneatlas.client.models import Order, OrderPage, SearchPage, Token
from airflow_provider_oneatlas.client.transport import (
    TOKEN_CACHE,
    USER_AGENT,
    RetryPlanner,
    TokenCache,
    auth_headers,
    check_trusted,
    error_for,
    resolve_url,
    tls_failure,
)

log = logging.getLogger(__name__)

# Exceptions raised before the request left the machine: safe to repeat even for a POST.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout)


class AsyncOneAtlasClient:
    """The async calls a trigger needs: order status, order listing, one search page."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        token_cache: TokenCache | None = None,
        on_token: Callable[[str], None] | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.config = config
        self.tokens = token_cache or TOKEN_CACHE
        self.on_token = on_token
        self._client = client
        self._token_lock = asyncio.Lock()
        self.stats: Counter[str] = Counter()

    async def __aenter__(self) -> AsyncOneAtlasClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                verify=self.config.verify,
                timeout=httpx.Timeout(self.config.read_timeout, connect=self.config.connect_timeout),
                headers={"User-Agent": USER_AGENT},
                follow_redirects=False,
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def token(self) -> Token:
        cached = self.tokens.get(self.config.cache_key, self.config.token_renew_margin)
        if cached is not None:
            return cached
        async with self._token_lock:
            cached = self.tokens.get(self.config.cache_key, self.config.token_renew_margin)
            if cached is not None:
                return cached
            call = api.token_call(self.config.api_key)
            url = resolve_url(self.config, call)
            response = await self._send_with_retries(call, url, None)
            token = api.parse_token_answer(
                response.status_code, response.content, response.headers, url, self.config.api_key
            )
            self.stats["token_exchanges"] += 1
            if self.on_token:
                self.on_token(token.access_token)
            self.tokens.put(self.config.cache_key, token)
            return token

    async def request(self, call: api.ApiCall) -> httpx.Response:
        url = resolve_url(self.config, call)
        if call.authenticated:
            check_trusted(self.config, url)
        reauthenticated = False
        while True:
            token = await self.token() if call.authenticated else None
            response = await self._send_with_retries(call, url, token)
            if response.status_code == 401 and call.authenticated and not reauthenticated:
                self.tokens.invalidate(self.config.cache_key, token)
                self.stats["reauth"] += 1
                reauthenticated = True
                continue
            if response.status_code >= 400:
                raise error_for(self.config, call, url, token, response.status_code, response.content, response.headers)
            return response

    async def _send_with_retries(self, call: api.ApiCall, url: str, token: Token | None) -> httpx.Response:
        planner = RetryPlanner(self.config, call)
        headers = {**call.headers, **auth_headers(token)}
        while True:
            try:
                self.stats["requests"] += 1
                response = await self.client.request(
                    call.method,
                    url,
                    params=dict(call.params) if call.params else None,
                    json=call.json_body,
                    data=dict(call.form) if call.form else None,
                    headers=headers,
                )
            except httpx.ConnectError as exc:
                if "CERTIFICATE_VERIFY_FAILED" in str(exc) or isinstance(exc.__cause__, ssl.SSLError):
                    raise TransportError(tls_failure(url, exc)) from None
                decision = planner.on_exception(exc, request_sent=False)
                if not decision.retry:
                    hint = unreachable_hint(url, self.config.source)
                    raise TransportError(
                        f"{call.method} {url} failed: {type(exc).__name__} ({decision.reason}){hint}"
                    ) from None
            except httpx.TransportError as exc:
                decision = planner.on_exception(exc, request_sent=not isinstance(exc, _NOT_SENT))
                if not decision.retry:
                    raise TransportError(
                        f"{call.method} {url} failed: {type(exc).__name__} ({decision.reason})"
                    ) from None
            else:
                decision = planner.on_status(response.status_code, api.retry_after_seconds(response.headers))
                if not decision.retry:
                    return response
            self.stats["retries"] += 1
            log.info("OneAtlas %s: %s; retrying in %.2fs", call.name or call.path, decision.reason, decision.delay)
            await asyncio.sleep(decision.delay)

    async def json(self, call: api.ApiCall) -> Any:
        response = await self.request(call)
        return _json(response, resolve_url(self.config, call))

    async def get_order(self, order_id: str) -> Order:
        return api.parse_order(await self.json(api.get_order_call(order_id)))

    async def list_orders(self, **filters: Any) -> OrderPage:
        return api.parse_order_list(await self.json(api.list_orders_call(**filters)))

    async def search(self, query: api.SearchQuery, *, api_version: int = 1) -> SearchPage:
        """One page of a search: the same body builder and parser as the sync client's."""
        return api.parse_search(await self.json(api.search_call(query.to_body(), api_version=api_version)))


def _json(response: httpx.Response, url: str) -> Any:
    try:
        return response.json()
    except (ValueError, RecursionError):
        raise ResponseError(f"{url}: answer is not JSON (status {response.status_code})") from None
