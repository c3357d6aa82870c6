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
