"""What Airflow 3's API server tells the UI about the ``oneatlas`` connection form (no browser).

The browser test (``tests/e2e/test_ui.py``) checks the rendered form; this pins the metadata it is
rendered from, the way the API server builds it (wtforms and flask-appbuilder stood in for).
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_oneatlas.hooks.oneatlas import CONNECTION_EXTRAS
from airflow_provider_oneatlas.version_compat import AIRFLOW_V_3_1_PLUS


def _airflow_renders_provider_forms() -> bool:
    """Airflow 3.1+ always does; 3.0 only with wtforms installed (``apache-airflow-providers-fab``):
    without it, 3.0's providers manager drops the hook's whole form, labels included."""
    import importlib.util

    return AIRFLOW_V_3_1_PLUS or importlib.util.find_spec("wtforms") is not None


def test_airflow_3_0_without_fab_shows_the_generic_form() -> None:
    """What docs/deploying.md tells 3.0 users (install the FAB provider for the form), checked."""
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    (meta,) = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "oneatlas"]
    if _airflow_renders_provider_forms():
        assert meta.standard_fields is not None and meta.extra_fields
    else:
        assert meta.standard_fields is None and not meta.extra_fields


@pytest.fixture(scope="module")
def form() -> Any:
    if not _airflow_renders_provider_forms():
        pytest.skip("Airflow 3.0 without wtforms renders no provider form (checked just above)")
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    found = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "oneatlas"]
    assert len(found) == 1, "the api-server does not know the oneatlas connection type"
    return found[0]


def test_standard_fields_are_cut_to_what_the_provider_uses(form: Any) -> None:
    assert form.hook_name == "Airbus OneAtlas"
    assert form.hook_class_name == "airflow_provider_oneatlas.hooks.oneatlas.OneAtlasHook"
    fields = form.standard_fields
    assert fields.login.hidden and fields.port.hidden and fields.url_schema.hidden
    assert fields.password.title == "API key" and not fields.password.hidden
    assert fields.host.title == "Base URL (host, optional)" and "8765" in fields.host.placeholder


def test_extra_fields_are_the_settings_with_their_help(form: Any) -> None:
    extra = form.extra_fields
    assert list(extra) == [
        "auth_url",
        "data_url",
        "search_url",
        "view_url",
        "download_url",
        "connect_timeout",
        "read_timeout",
        "max_attempts",
        "ca_bundle",
    ]
    assert set(extra) <= set(CONNECTION_EXTRAS), "a form field the connection parser would refuse"
    for key, param in extra.items():
        assert param["value"] is None, f"{key} must default to empty (the client's default applies)"
        assert param["description"].lower() == CONNECTION_EXTRAS[key].lower()
        assert "null" in param["schema"]["type"], f"{key} must be optional"
    assert extra["max_attempts"]["schema"]["type"] == ["integer", "null"]
    assert extra["read_timeout"]["schema"]["title"] == "Read timeout (s)"
