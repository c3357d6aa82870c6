"""client/config.py: base URLs (https only, except loopback), retry policy, which origins get the token."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_oneatlas.client.config import (
    DEFAULT_SERVICE_URLS,
    SERVICES,
    ClientConfig,
    RetryPolicy,
    normalize_base_url,
    origin_of,
)
from airflow_provider_oneatlas.client.errors import ConfigurationError


def test_defaults_are_the_real_hosts() -> None:
    config = ClientConfig(api_key="k")
    assert config.service_urls == DEFAULT_SERVICE_URLS and set(config.service_urls) == set(SERVICES)
    assert config.url("data", "/api/v1/me") == "https://data.api.oneatlas.airbus.com/api/v1/me"
    assert config.verify is True


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://proxy.example.com/", "https://proxy.example.com"),
        ("127.0.0.1:8765", "http://127.0.0.1:8765"),
        ("oneatlas-proxy.corp", "https://oneatlas-proxy.corp"),
        ("http://localhost:1/base/", "http://localhost:1/base"),
    ],
)
def test_base_urls_are_normalized(url: str, expected: str) -> None:
    assert normalize_base_url(url) == expected


@pytest.mark.parametrize("url", ["http://proxy.example.com", "ftp://x", "https://", "::"])
def test_plain_http_off_loopback_and_non_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="host"):
        normalize_base_url(url)


def test_one_base_url_for_every_service() -> None:
    config = ClientConfig.for_base_url("k", "http://127.0.0.1:8765/")
    assert set(config.service_urls.values()) == {"http://127.0.0.1:8765"}
    assert config.allowed_origins == frozenset({"http://127.0.0.1:8765"})


def test_real_hosts_trust_each_other_and_extra_origins() -> None:
    config = ClientConfig(api_key="k", trusted_origins=frozenset({"https://proxy.corp"}))
    assert "https://access.foundation.api.oneatlas.airbus.com" in config.allowed_origins
    assert "https://proxy.corp" in config.allowed_origins and "https://evil.example" not in config.allowed_origins


def test_origin_of() -> None:
    assert origin_of("HTTPS://Data.API.oneatlas.airbus.com:443/x?y") == "https://data.api.oneatlas.airbus.com"
    assert origin_of("http://127.0.0.1:8765/a") == "http://127.0.0.1:8765"
    assert origin_of("http://[::1]:80/a") == "http://[::1]"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"api_key": " "}, "password field"),
        ({"api_key": "k", "service_urls": {"auth": "https://a"}}, "no base URL for service"),
        ({"api_key": "k", "service_urls": DEFAULT_SERVICE_URLS | {"mail": "https://m"}}, "unknown service"),
        ({"api_key": "k", "ca_bundle": "/no/such/bundle.pem"}, "ca_bundle"),
        ({"api_key": "k", "read_timeout": 0}, "timeout"),
    ],
)
def test_bad_settings_are_explained(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ClientConfig(**kwargs)  # type: ignore[arg-type]


def test_ca_bundle_keeps_verification_on(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert ClientConfig(api_key="k", ca_bundle=str(bundle)).verify == str(bundle)


def test_api_key_is_not_in_repr_nor_in_the_cache_key() -> None:
    config = ClientConfig(api_key="super-secret-key-123")
    assert "super-secret-key-123" not in repr(config) and "super-secret-key-123" not in config.cache_key
    assert config.cache_key != ClientConfig(api_key="another-key").cache_key
    assert config.cache_key == config.with_overrides(read_timeout=5).cache_key


def test_retry_policy_checks() -> None:
    assert RetryPolicy().max_attempts == 5 and 503 in RetryPolicy().retry_statuses
    with pytest.raises(ConfigurationError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ConfigurationError, match="backoff"):
        RetryPolicy(backoff_initial=-1)
