"""``version_compat``: the moved names resolve on this Airflow without a warning; gating names versions."""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings

import airflow
import pytest

from airflow_provider_oneatlas import version_compat
from airflow_provider_oneatlas.version_compat import AIRFLOW_VERSION, AirflowVersionError, require_airflow


def test_the_version_flags_match_the_running_airflow() -> None:
    major, minor = (int(p) for p in airflow.__version__.split(".")[:2])
    assert AIRFLOW_VERSION[:2] == (major, minor)
    assert ((major, minor) >= (3, 1)) == version_compat.AIRFLOW_V_3_1_PLUS
    assert ((major, minor) >= (3, 2)) == version_compat.AIRFLOW_V_3_2_PLUS
    assert ((major, minor) >= (3, 3)) == version_compat.AIRFLOW_V_3_3_PLUS
    assert version_compat.MIN_AIRFLOW_VERSION <= AIRFLOW_VERSION


def test_the_moved_names_are_the_ones_airflow_raises_and_uses() -> None:
    # What the task runner catches must be what the operators raise: same classes, not look-alikes.
    from airflow.sdk import BaseOperator

    assert version_compat.BaseOperator is BaseOperator
    assert issubclass(version_compat.AirflowSkipException, Exception)
    assert version_compat.BaseHook.get_connection is not None
    if version_compat.AIRFLOW_V_3_2_PLUS:
        import airflow.sdk.exceptions as sdk_exceptions

        assert version_compat.AirflowFailException is sdk_exceptions.AirflowFailException


def test_importing_every_module_warns_nothing() -> None:
    """In a fresh interpreter: a deprecation raised by our imports fails, whatever its class."""
    modules = [
        "airflow_provider_oneatlas.version_compat",
        "airflow_provider_oneatlas.hooks.oneatlas",
        "airflow_provider_oneatlas.operators.search",
        "airflow_provider_oneatlas.operators.order",
        "airflow_provider_oneatlas.operators.download",
        "airflow_provider_oneatlas.sensors.oneatlas",
        "airflow_provider_oneatlas.triggers.oneatlas",
        "airflow_provider_oneatlas.links",
        "airflow_provider_oneatlas.operators.approval",
        "airflow_provider_oneatlas.taskgroups.acquisition",
    ]
    script = (
        "import warnings, importlib, airflow.sdk\n"
        "warnings.simplefilter('error')\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]


def test_a_feature_needing_a_newer_airflow_is_refused_naming_both_versions() -> None:
    with pytest.raises(AirflowVersionError) as raised:
        require_airflow((9, 1, 0), "the time machine")
    message = str(raised.value)
    assert "the time machine needs Apache Airflow 9.1.0 or newer" in message
    assert f"this is Airflow {'.'.join(map(str, AIRFLOW_VERSION))}" in message
    assert "apache-airflow>=9.1.0" in message


def test_a_feature_the_running_airflow_has_passes() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        require_airflow((3, 0, 0), "anything")
    importlib.reload(version_compat)  # computed at import: stays consistent when reloaded
