"""What every OneAtlas operator shares: the connection id, a lazy hook, and template checks."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.sdk import XComArg

from airflow_provider_oneatlas.hooks.oneatlas import OneAtlasHook
from airflow_provider_oneatlas.version_compat import BaseOperator


def is_templated(value: Any) -> bool:
    """True for a value that Jinja will still render: validate it at run time, not at parse time."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, (list, tuple)):
        return any(is_templated(v) for v in value)
    if isinstance(value, dict):
        return any(is_templated(v) for v in value.values())
    # Every XComArg (plain, map, zip, concat) resolves at run time; _MapResult is a mapped upstream's value.
    return isinstance(value, XComArg) or type(value).__name__ == "_MapResult"


def default_deferrable() -> bool:
    from airflow.configuration import conf

    return conf.getboolean("operators", "default_deferrable", fallback=False)


class OneAtlasBaseOperator(BaseOperator):
    """Base of the OneAtlas operators.

    :param oneatlas_conn_id: the OneAtlas connection (type ``oneatlas``; templated, so a DAG Param can
        choose it).
    """

    def __init__(self, *, oneatlas_conn_id: str = OneAtlasHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.oneatlas_conn_id = oneatlas_conn_id

    @cached_property
    def hook(self) -> OneAtlasHook:
        return OneAtlasHook(oneatlas_conn_id=self.oneatlas_conn_id)
