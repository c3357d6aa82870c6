"""How operator and sensor arguments are read: templated or not, and the ``deferrable`` default."""

from __future__ import annotations

from typing import Any

from airflow.sdk import XComArg


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
    """``[operators] default_deferrable``, as the official providers read it."""
    from airflow.configuration import conf

    return conf.getboolean("operators", "default_deferrable", fallback=False)
