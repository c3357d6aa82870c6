"""Sandbox settings (``airflow_provider_oneatlas.sandbox.config``) from the environment, flags and at run time."""

from __future__ import annotations

import pytest

from airflow_provider_oneatlas.sandbox import cli
from airflow_provider_oneatlas.sandbox.config import ConfigError, SandboxConfig


def test_config_from_env_and_flags() -> None:
    env = {"ONEATLAS_SANDBOX_ERROR_RATE": "0.1", "ONEATLAS_SANDBOX_RANGES": "false", "ONEATLAS_SANDBOX_API_KEYS": "a,b"}
    config = SandboxConfig.from_env(env)
    assert config.error_rate == 0.1 and config.ranges is False and config.api_keys == ("a", "b")
    args = cli.build_parser().parse_args(["--error-rate", "0.3", "--bandwidth", "1000", "--ranges"])
    from_args = SandboxConfig.from_args(args, env)
    assert from_args.error_rate == 0.3 and from_args.bandwidth == 1000.0 and from_args.ranges is True
    assert from_args.api_keys == ("a", "b")
    rebuilt = SandboxConfig.from_args(cli.build_parser().parse_args(from_args.to_cli_args()), {})
    assert rebuilt == from_args
    with pytest.raises(ConfigError, match="drop_rate"):
        SandboxConfig(drop_rate=1.5)
    with pytest.raises(ConfigError, match="unknown"):
        SandboxConfig.from_env({}).replace({"colour": "red"})


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"error_rate": -0.1}, "error_rate"),
        ({"latency": -1}, "latency"),
        ({"token_lifetime": 0}, "token_lifetime"),
        ({"bandwidth": 0}, "bandwidth"),
        ({"order_outcome": "lost"}, "order_outcome"),
        ({"consumption_mode": "bytes"}, "consumption_mode"),
        ({"download_size": 10}, "download_size"),
        ({"api_keys": ""}, "api_keys"),
        ({"catalog_start": "2020-13-01"}, "catalog_start"),
        ({"catalog_start": "2020-01-02", "catalog_end": "2020-01-01"}, "catalog_end"),
        ({"catalog_size": 1.5}, "catalog_size"),
        ({"ranges": "maybe"}, "ranges"),
    ],
)
def test_impossible_values_name_the_setting(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        SandboxConfig().replace(changes)
    assert str(caught.value).startswith(field), caught.value


def test_every_setting_round_trips_through_env_flags_and_json() -> None:
    config = SandboxConfig(
        seed=3,
        api_keys=("k1", "k2"),
        bandwidth=5000.0,
        ranges=False,
        clock_start="2024-05-01T00:00:00Z",
        clock_speed=60.0,
        live_stream=False,
        live_history_days=3,
        cache_dir="/tmp/somewhere",
    )
    env = {f"ONEATLAS_SANDBOX_{name.upper()}": str(value) for name, value in config.to_dict().items()}
    env["ONEATLAS_SANDBOX_API_KEYS"] = "k1,k2"
    assert SandboxConfig.from_env(env) == config
    assert SandboxConfig.from_args(cli.build_parser().parse_args(config.to_cli_args()), {}) == config
    assert SandboxConfig().replace(config.to_dict()) == config
