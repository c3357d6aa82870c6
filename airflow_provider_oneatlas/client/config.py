"""Where the OneAtlas services live, and how patiently to talk to them.

The real API is spread over several hosts that have moved over the years; every base URL is therefore
configurable, and one base URL can stand for all services (the sandbox, or a corporate proxy).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_oneatlas.client.errors import ConfigurationError

SERVICES = ("auth", "data", "search", "view", "download")

#: The hosts of the real API, as the tutorial and public clients use them.
DEFAULT_SERVICE_URLS: dict[str, str] = {
    "auth": "https://authenticate.foundation.api.oneatlas.airbus.com",
    "data": "https://data.api.oneatlas.airbus.com",
    "search": "https://search.foundation.api.oneatlas.airbus.com",
    "view": "https://view.oneatlas.geoapi-airbusds.com",
    # The tutorial downloads from the data host; delivery links may name access.foundation instead.
    "download": "https://data.api.oneatlas.airbus.com",
}

#: Hosts that public answers of the real API link to; the token may go there too.
KNOWN_ONEATLAS_ORIGINS: frozenset[str] = frozenset(
    {
        "https://data.api.oneatlas.airbus.com",
        "https://access.foundation.api.oneatlas.airbus.com",
        "https://search.foundation.api.oneatlas.airbus.com",
        "https://search.oneatlas.geoapi-airbusds.com",
        "https://view.oneatlas.geoapi-airbusds.com",
        "https://authenticate.foundation.api.oneatlas.airbus.com",
    }
)

#: Parallel HTTP Range connections per download when the server accepts ranges (see download.py).
#: Kept here, not in download.py, so DAG files can use it without importing the HTTP client.
DEFAULT_CONNECTIONS = 8

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL, lower-cased, default ports dropped."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is None or (scheme, port) in {("https", 443), ("http", 80)}:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def normalize_base_url(url: str, *, field_name: str = "host") -> str:
    """Check a base URL and strip its trailing slash.

    Plain ``http`` is refused except on the loopback interface (the sandbox): a token sent in clear
    text over a network is a leaked token.
    """
    text = url.strip()
    if "://" not in text:
        # A bare "127.0.0.1:8080" or "oneatlas-proxy.corp" in the connection's host field.
        host_part = text.split("/")[0].split(":")[0]
        text = ("http://" if host_part in _LOOPBACK_HOSTS else "https://") + text
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigurationError(f"{field_name}: {url!r} is not an http(s) URL (example: https://proxy.example.com)")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
        raise ConfigurationError(
            f"{field_name}: {url!r} uses plain http to a non-local host; use https "
            "(plain http is only accepted for 127.0.0.1/localhost, where the sandbox runs)"
        )
    return text.rstrip("/")


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter for calls that are safe to repeat (see ``RetryPlanner``)."""

    max_attempts: int = 5
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    #: Longest Retry-After honoured; a server asking for more gives up the call (and says so).
    max_retry_after: float = 120.0
    retry_statuses: frozenset[int] = frozenset({429, 502, 503, 504})

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigurationError("max_attempts: must be at least 1")
        if self.backoff_initial < 0 or self.backoff_max < 0:
            raise ConfigurationError("backoff_initial/backoff_max: must not be negative")


@dataclass(frozen=True)
class ClientConfig:
    """Everything a OneAtlas client needs, built from an Airflow connection or by hand."""

    api_key: str = field(repr=False)
    service_urls: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SERVICE_URLS))
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: Path of a CA bundle for TLS-intercepting proxies. TLS verification itself cannot be switched off.
    ca_bundle: str | None = None
    #: Renew the token this many seconds before it expires, but never later than at 90% of its
    #: life nor earlier than at half of it (so short-lived tokens are renewed in time too).
    token_renew_margin: float = 60.0
    #: Extra origins (scheme://host:port) that may receive the token, e.g. a second proxy.
    trusted_origins: frozenset[str] = frozenset()
    #: Where these settings come from, named in errors ("Airflow connection 'oneatlas_default'").
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.api_key or not self.api_key.strip():
            raise ConfigurationError("api_key: empty; put the OneAtlas API key in the connection's password field")
        urls = {}
        for service in SERVICES:
            if service not in self.service_urls:
                raise ConfigurationError(f"service_urls: no base URL for service {service!r}")
            urls[service] = normalize_base_url(self.service_urls[service], field_name=f"{service}_url")
        unknown = set(self.service_urls) - set(SERVICES)
        if unknown:
            raise ConfigurationError(
                f"service_urls: unknown service(s) {sorted(unknown)}; known: {', '.join(SERVICES)}"
            )
        object.__setattr__(self, "service_urls", urls)
        if self.ca_bundle is not None and not os.path.exists(self.ca_bundle):
            raise ConfigurationError(
                f"ca_bundle: {self.ca_bundle!r} does not exist; give the path of a PEM file (or folder) of CA "
                "certificates"
            )
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise ConfigurationError("timeout: must be a positive number of seconds")

    @classmethod
    def for_base_url(cls, api_key: str, base_url: str, **kwargs: Any) -> ClientConfig:
        """One base URL standing for every service at the real API's paths (sandbox, proxy)."""
        base = normalize_base_url(base_url)
        return cls(api_key=api_key, service_urls=dict.fromkeys(SERVICES, base), **kwargs)

    def with_overrides(self, **kwargs: Any) -> ClientConfig:
        return replace(self, **kwargs)

    def url(self, service: str, path: str) -> str:
        return self.service_urls[service] + path

    @property
    def allowed_origins(self) -> frozenset[str]:
        """Origins to which the bearer token may be sent."""
        configured = {origin_of(u) for u in self.service_urls.values()}
        if configured & KNOWN_ONEATLAS_ORIGINS:
            # Real-host configurations also trust the other real hosts that answers link to.
            configured |= KNOWN_ONEATLAS_ORIGINS
        return frozenset(configured | set(self.trusted_origins))

    @property
    def cache_key(self) -> str:
        """Identifies (auth endpoint, API key) for the token cache without keeping the key itself."""
        digest = hashlib.sha256(f"{self.service_urls['auth']}\0{self.api_key}".encode()).hexdigest()
        return digest[:32]

    @property
    def verify(self) -> str | bool:
        """Value for the HTTP client's ``verify``: always verifying, with a custom bundle if given."""
        return self.ca_bundle if self.ca_bundle else True
