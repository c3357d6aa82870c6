"""Executing ``ApiCall``s: URL trust, tokens, retries. The sync transport lives here, its async twin
in ``aio.py``; both take their decisions from the helpers below, so they behave the same.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import requests
import requests.adapters
import urllib3
import urllib3.connection

from airflow_provider_oneatlas.client import api
from airflow_provider_oneatlas.client.config import ClientConfig, origin_of
from airflow_provider_oneatlas.client.errors import (
    ApiError,
    AuthenticationError,
    ResponseError,
    TransportError,
    UntrustedUrlError,
)
from airflow_provider_oneatlas.client.hints import unreachable_hint
from airflow_provider_oneatlas.client.models import Token

log = logging.getLogger(__name__)

USER_AGENT = "airflow-provider-oneatlas"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
#: Backoff jitter: one generator for the process (seeding one per request would cost more than it draws).
_JITTER = random.Random()


def resolve_url(config: ClientConfig, call: api.ApiCall) -> str:
    return call.url if call.url else config.url(call.service, call.path)


def is_trusted(config: ClientConfig, url: str) -> bool:
    """May the bearer token go to this URL? Only to the configured OneAtlas services."""
    return origin_of(url) in config.allowed_origins


def check_trusted(config: ClientConfig, url: str) -> None:
    if not is_trusted(config, url):
        raise UntrustedUrlError(
            f"refusing to send the OneAtlas token to {origin_of(url)}: it is not one of the configured "
            f"OneAtlas services ({', '.join(sorted(config.allowed_origins))}); add it to the connection's "
            "'trusted_origins' extra if it really is a OneAtlas service"
        )


class _QuietHTTPConnection(urllib3.connection.HTTPConnection):
    # http.client prints every header (the bearer token too) when HTTPConnection.debuglevel is
    # raised globally; the provider's connections keep their own level at 0.
    debuglevel = 0


class _QuietHTTPSConnection(urllib3.connection.HTTPSConnection):
    debuglevel = 0


class _QuietHTTPConnectionPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _QuietHTTPConnection


class _QuietHTTPSConnectionPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _QuietHTTPSConnection


class QuietAdapter(requests.adapters.HTTPAdapter):
    """An adapter whose connections never echo headers to stdout."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _QuietHTTPConnectionPool, "https": _QuietHTTPSConnectionPool}

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        manager.pool_classes_by_scheme = {"http": _QuietHTTPConnectionPool, "https": _QuietHTTPSConnectionPool}
        return manager


def new_session() -> requests.Session:
    """A requests session for OneAtlas: quiet connections, the provider's user agent."""
    session = requests.Session()
    adapter = QuietAdapter(pool_connections=4, pool_maxsize=16)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


class TokenCache:
    """Tokens per (auth URL, API key), shared by every client of the process.

    A DAG run makes many calls through several hooks; exchanging the key once per hour rather than
    once per call keeps requests down and avoids the token endpoint's rate limits.
    """

    def __init__(self) -> None:
        self._tokens: dict[str, Token] = {}
        self._lock = threading.Lock()

    def get(self, key: str, margin: float) -> Token | None:
        with self._lock:
            token = self._tokens.get(key)
        if token is None or token.expires_within(margin):
            return None
        return token

    def put(self, key: str, token: Token) -> None:
        with self._lock:
            self._tokens[key] = token

    def invalidate(self, key: str, token: Token | None = None) -> None:
        """Forget the token; with ``token`` given, only if it is still the cached one (another
        thread may have renewed it meanwhile)."""
        with self._lock:
            current = self._tokens.get(key)
            if current is not None and (token is None or current.access_token == token.access_token):
                del self._tokens[key]

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


#: The process-wide cache.
TOKEN_CACHE = TokenCache()


@dataclass
class RetryDecision:
    retry: bool
    delay: float
    reason: str


class RetryPlanner:
    """Decides, for one call, whether a failure is retried and after how long.

    Exponential backoff with "equal jitter" (a delay drawn between half and all of the doubling cap,
    so retries spread out but never come back at once); a server's ``Retry-After`` is honoured as
    a minimum.
    A non-idempotent call (order creation) is retried only when the request provably never reached
    the server (connection refused, connect timeout) or was refused by the rate limiter (429).
    """

    def __init__(self, config: ClientConfig, call: api.ApiCall) -> None:
        self.policy = config.retry
        self.call = call
        self.attempt = 1

    def _backoff(self) -> float:
        cap = min(self.policy.backoff_max, self.policy.backoff_initial * (2 ** (self.attempt - 1)))
        return _JITTER.uniform(cap / 2, cap)

    def on_status(self, status: int, retry_after: float | None) -> RetryDecision:
        if status not in self.policy.retry_statuses:
            return RetryDecision(False, 0.0, f"HTTP {status}")
        if not self.call.idempotent and status != 429:
            return RetryDecision(False, 0.0, f"HTTP {status} on a call that must not be repeated")
        return self._next(f"HTTP {status}", retry_after)

    def on_exception(self, exc: BaseException, *, request_sent: bool) -> RetryDecision:
        if not self.call.idempotent and request_sent:
            return RetryDecision(False, 0.0, f"{type(exc).__name__} after the request may have reached the server")
        return self._next(type(exc).__name__, None)

    def _next(self, reason: str, retry_after: float | None) -> RetryDecision:
        if self.attempt >= self.policy.max_attempts:
            return RetryDecision(False, 0.0, f"{reason}, after {self.attempt} attempts")
        if retry_after is not None and retry_after > self.policy.max_retry_after:
            return RetryDecision(False, 0.0, f"{reason}: the server asks to wait {retry_after:.0f}s")
        delay = self._backoff()
        if retry_after is not None:
            delay = max(delay, retry_after)
        self.attempt += 1
        return RetryDecision(True, delay, reason)


def sent_before_failure(exc: BaseException) -> bool:
    """Whether a failed request may have reached the server. Only connect-phase failures are safe."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return False
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = repr(exc)
        if "NewConnectionError" in text or "Connection refused" in text or "Failed to establish" in text:
            return False
    return True


def error_for(
    config: ClientConfig,
    call: api.ApiCall,
    url: str,
    token: Token | None,
    status: int,
    content: bytes,
    headers: Mapping[str, str],
) -> ApiError:
    """The exception for an HTTP error answer, shared by the sync and async transports: OneAtlas'
    message, secrets scrubbed, and a refused token explained in the user's terms."""
    error = api.parse_error(
        status,
        content,
        headers,
        method=call.method,
        url=url,
        secrets=(config.api_key, token.access_token if token else ""),
    )
    if isinstance(error, AuthenticationError):
        return AuthenticationError(
            error.status_code,
            f"the token was refused ({error.message}); check that the API key in the OneAtlas "
            "connection is valid and its contract active",
            method=call.method,
            url=url,
            hint=error.hint,
            correlation_id=error.correlation_id,
        )
    return error


def tls_failure(url: str, exc: BaseException) -> str:
    return (
        f"the TLS certificate of {origin_of(url)} was not verified ({type(exc).__name__}: "
        f"{str(exc)[:200]}); if a proxy re-signs the traffic, set the connection's 'ca_bundle' extra to its CA "
        "bundle (TLS verification cannot be turned off)"
    )


def auth_headers(token: Token | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token.access_token}"} if token else {}


class SyncTransport:
    """requests-based transport for the hook and operators."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        session: requests.Session | None = None,
        token_cache: TokenCache | None = None,
        on_token: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.session = session or new_session()
        # Proxy settings from the environment are honoured (corporate proxies); TLS verification is
        # always on: ``verify`` is True or a CA bundle path, never False.
        self.session.headers.setdefault("User-Agent", USER_AGENT)
        self.tokens = token_cache or TOKEN_CACHE
        self.on_token = on_token
        self.sleep = sleep
        self.stats: Counter[str] = Counter()
        self._token_lock = threading.Lock()

    def fork(self) -> SyncTransport:
        """A transport for another thread: the same configuration, token cache and trust rules, but its
        own ``requests`` session (sessions are not safe to share between threads)."""
        source = self.session
        session = new_session()
        session.headers.clear()
        session.headers.update(source.headers)
        session.proxies = dict(source.proxies)
        session.trust_env = source.trust_env
        session.cert = source.cert
        session.auth = source.auth
        session.cookies = source.cookies.copy()
        for prefix, adapter in source.adapters.items():
            if type(adapter) not in (requests.adapters.HTTPAdapter, QuietAdapter):
                # A foreign adapter (test double, retry policy, TLS settings) is kept; the standard ones
                # are fresh (new_session mounted them), so each thread has its own connection pool.
                session.mount(prefix, adapter)
        forked = SyncTransport(
            self.config, session=session, token_cache=self.tokens, on_token=self.on_token, sleep=self.sleep
        )
        # One token exchange at a time across the forks: when the token expires mid-download, the
        # first thread renews it and the others find it in the shared cache.
        forked._token_lock = self._token_lock
        return forked

    # -- tokens -----------------------------------------------------------------------------------

    def token(self) -> Token:
        cached = self.tokens.get(self.config.cache_key, self.config.token_renew_margin)
        if cached is not None:
            return cached
        with self._token_lock:
            cached = self.tokens.get(self.config.cache_key, self.config.token_renew_margin)
            if cached is not None:
                return cached
            call = api.token_call(self.config.api_key)
            url = resolve_url(self.config, call)
            response = self._send_with_retries(call, url, token=None, stream=False)
            token = api.parse_token_answer(
                response.status_code, response.content, response.headers, url, self.config.api_key
            )
            self.stats["token_exchanges"] += 1
            if self.on_token:
                self.on_token(token.access_token)
            self.tokens.put(self.config.cache_key, token)
            return token

    # -- sending ----------------------------------------------------------------------------------

    def request(
        self, call: api.ApiCall, *, stream: bool = False, headers: Mapping[str, str] | None = None
    ) -> requests.Response:
        """Send ``call``; return the successful answer or raise the matching ``ApiError``."""
        url = resolve_url(self.config, call)
        if call.authenticated:
            check_trusted(self.config, url)
        reauthenticated = False
        while True:
            token = self.token() if call.authenticated else None
            response = self._send_with_retries(call, url, token=token, stream=stream, extra_headers=headers)
            if response.status_code == 401 and call.authenticated and not reauthenticated:
                # Tokens can be revoked or expire early: renew once and repeat. A 401 means the
                # request was refused, so even an order creation is safe to repeat here.
                response.close()
                self.tokens.invalidate(self.config.cache_key, token)
                self.stats["reauth"] += 1
                reauthenticated = True
                continue
            if response.status_code >= 400:
                error = error_for(
                    self.config,
                    call,
                    response.url or url,
                    token,
                    response.status_code,
                    response.content,
                    response.headers,
                )
                response.close()
                raise error
            return response

    def _send_with_retries(
        self,
        call: api.ApiCall,
        url: str,
        *,
        token: Token | None,
        stream: bool,
        extra_headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        planner = RetryPlanner(self.config, call)
        while True:
            try:
                response = self._send_following_redirects(call, url, token, stream, extra_headers)
            except requests.exceptions.SSLError as exc:
                # A certificate that does not verify will not verify on the next attempt either.
                raise TransportError(tls_failure(url, exc)) from None
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                decision = planner.on_exception(exc, request_sent=sent_before_failure(exc))
                if not decision.retry:
                    hint = "" if sent_before_failure(exc) else unreachable_hint(url, self.config.source)
                    raise TransportError(
                        f"{call.method} {url} failed: {type(exc).__name__} ({decision.reason}){hint}"
                    ) from None
                self._note_retry(call, decision)
                continue
            decision = planner.on_status(response.status_code, api.retry_after_seconds(response.headers))
            if not decision.retry:
                return response
            response.close()
            self._note_retry(call, decision)

    def _note_retry(self, call: api.ApiCall, decision: RetryDecision) -> None:
        self.stats["retries"] += 1
        self.stats[f"retry:{decision.reason.split(',')[0]}"] += 1
        log.info("OneAtlas %s: %s; retrying in %.2fs", call.name or call.path, decision.reason, decision.delay)
        self.sleep(decision.delay)

    def _send_following_redirects(
        self,
        call: api.ApiCall,
        url: str,
        token: Token | None,
        stream: bool,
        extra_headers: Mapping[str, str] | None,
    ) -> requests.Response:
        headers = dict(call.headers)
        if extra_headers:
            headers.update(extra_headers)
        method = call.method
        params = call.params
        for _ in range(MAX_REDIRECTS + 1):
            send_headers = dict(headers)
            # The token goes only to configured OneAtlas services; a redirect to a signed storage URL
            # elsewhere is followed without it.
            if token is not None and is_trusted(self.config, url):
                send_headers.update(auth_headers(token))
            self.stats["requests"] += 1
            response = self.session.request(
                method,
                url,
                params=params,
                json=call.json_body,
                data=call.form,
                headers=send_headers,
                timeout=(self.config.connect_timeout, self.config.read_timeout),
                stream=stream,
                allow_redirects=False,
                verify=self.config.verify,
            )
            if response.status_code not in REDIRECT_STATUSES or method not in ("GET", "HEAD"):
                return response
            location = response.headers.get("Location")
            response.close()
            if not location:
                raise ApiError(response.status_code, "redirect without a Location header", method=method, url=url)
            url = urljoin(url, location)
            params = None  # the Location carries its own query
        raise ApiError(310, f"more than {MAX_REDIRECTS} redirects", method=method, url=url)

    # -- convenience ------------------------------------------------------------------------------

    def json(self, call: api.ApiCall) -> Any:
        response = self.request(call)
        try:
            return response.json()
        except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
            raise ResponseError(
                f"{call.method} {resolve_url(self.config, call)}: answer is not JSON "
                f"(status {response.status_code}, {response.headers.get('Content-Type', 'no content type')})"
            ) from None

    def content(self, call: api.ApiCall) -> bytes:
        return self.request(call).content

    def close(self) -> None:
        self.session.close()
