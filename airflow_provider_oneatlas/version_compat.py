"""What moved between the Airflow versions this provider supports (3.0 to 3.3), in one place.

The official providers keep a ``version_compat`` module like this one: version flags computed once,
and every name whose home changed imported here, so the rest of the package imports it from here and
works, without a deprecation warning, on every supported Airflow.

- ``BaseHook`` is in the task SDK (``airflow.sdk``) from 3.1; 3.0 has it in ``airflow.hooks.base``.
- ``AirflowFailException``, ``AirflowSkipException``, ``AirflowNotFoundException`` and ``TaskDeferred``
  are in ``airflow.sdk.exceptions`` from 3.2; importing them from ``airflow.exceptions`` warns there.

A feature that needs a newer Airflow than the oldest supported one calls :func:`require_airflow` where
the DAG is defined, so the DAG fails to parse with an error naming the version needed (never silently
at run time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

# The task SDK has BaseOperator from 3.0 on: re-exported so every moved or moving name has one home.
from airflow.sdk import BaseOperator


def get_base_airflow_version_tuple() -> tuple[int, int, int]:
    from airflow import __version__
    from packaging.version import Version

    airflow_version = Version(__version__)
    return airflow_version.major, airflow_version.minor, airflow_version.micro


AIRFLOW_VERSION = get_base_airflow_version_tuple()
AIRFLOW_V_3_1_PLUS: bool = AIRFLOW_VERSION >= (3, 1, 0)
AIRFLOW_V_3_2_PLUS: bool = AIRFLOW_VERSION >= (3, 2, 0)
AIRFLOW_V_3_3_PLUS: bool = AIRFLOW_VERSION >= (3, 3, 0)

#: The oldest Airflow this package supports (pyproject's lower bound; the CI matrix's oldest entry).
MIN_AIRFLOW_VERSION = (3, 0, 0)

if TYPE_CHECKING or AIRFLOW_V_3_1_PLUS:
    from airflow.sdk import BaseHook
else:  # Airflow 3.0
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef]

if TYPE_CHECKING or AIRFLOW_V_3_2_PLUS:
    from airflow.sdk.exceptions import (
        AirflowFailException,
        AirflowNotFoundException,
        AirflowSkipException,
        TaskDeferred,
    )
else:  # Airflow 3.0, 3.1
    from airflow.exceptions import (  # type: ignore[no-redef]
        AirflowFailException,
        AirflowNotFoundException,
        AirflowSkipException,
        TaskDeferred,
    )


class AirflowVersionError(RuntimeError):
    """A feature was used on an Airflow older than the one it needs."""


def require_airflow(version: tuple[int, int, int], feature: str) -> None:
    """Refuse ``feature`` on an Airflow older than ``version``, naming both versions and the fix.

    Called at DAG parse time (in an operator's ``__init__``), so the DAG shows an import error in the
    UI instead of a task failing later.
    """
    if version > AIRFLOW_VERSION:
        needed = ".".join(str(part) for part in version)
        running = ".".join(str(part) for part in AIRFLOW_VERSION)
        raise AirflowVersionError(
            f"{feature} needs Apache Airflow {needed} or newer; this is Airflow {running}. "
            f"Upgrade Airflow (pip install 'apache-airflow>={needed}') or do without {feature}."
        )


__all__ = [
    "AIRFLOW_VERSION",
    "AIRFLOW_V_3_1_PLUS",
    "AIRFLOW_V_3_2_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "MIN_AIRFLOW_VERSION",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSkipException",
    "AirflowVersionError",
    "BaseHook",
    "BaseOperator",
    "TaskDeferred",
    "require_airflow",
]
