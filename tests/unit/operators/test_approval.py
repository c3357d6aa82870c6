"""The approval step: the Airflow version it needs (checked when a DAG is parsed), and the body a
person reads before deciding."""

from __future__ import annotations

import warnings
from datetime import timedelta

import pytest

from airflow_provider_oneatlas import version_compat
from airflow_provider_oneatlas.operators.approval import OneAtlasApprovalOperator, quote_markdown
from airflow_provider_oneatlas.version_compat import AIRFLOW_V_3_1_PLUS
from tests.conftest import AIRFLOW_OWN_DEPRECATIONS

QUOTE = {
    "image_ids": ["img-1"],
    "credits": 630.0,
    "area_km2": 62.9,
    "balance": 100000.0,
    "budgets": [
        {"name": "run_budget", "tag": "runabc", "period": None, "credits": 2000, "spent": 500, "left": 1500},
        {"name": "period_budget", "tag": "fields", "period": "month", "credits": 9000, "spent": 0, "left": 9000},
    ],
    "images": [
        {
            "id": "img-1",
            "acquisition_date": "2024-05-02T10:31:00Z",
            "cloud_cover": 3.5,
            "coverage": 0.97,
            "constellation": "SPOT",
            "quicklook": "file:///data/quicklooks/img-1_quicklook.jpg",
        }
    ],
}


@pytest.mark.parametrize("version", [(3, 0, 6), (3, 0, 0)])
def test_older_airflow_gets_a_parse_time_error_naming_the_version_needed(
    monkeypatch: pytest.MonkeyPatch, version: tuple[int, int, int]
) -> None:
    # The gate reads the running version when the task is built: an older one is simulated here, so
    # that the message is checked on every Airflow (on a real 3.0 the last test sees it too).
    # (version_compat.AirflowVersionError is looked up when raised: test_version_compat reloads the module.)
    monkeypatch.setattr(version_compat, "AIRFLOW_VERSION", version)
    with pytest.raises(version_compat.AirflowVersionError) as raised:
        OneAtlasApprovalOperator(task_id="approve", quote={}, approval_above=100)
    message = str(raised.value)
    assert "needs Apache Airflow 3.1.0 or newer" in message
    assert f"this is Airflow {'.'.join(map(str, version))}" in message
    assert "approval_above" in message  # and the way out: leave it unset


def test_the_body_shows_what_a_person_needs() -> None:
    body = quote_markdown(QUOTE)
    for text in (
        "**Price: 630 credits**",
        "Balance: 100000 credits; after this order: 99370",
        "Budget run_budget (runabc): 2000, spent 500, left 1500; after this order: 870",
        "Budget period_budget (fields): 9000 per month",
        "| img-1 | 2024-05-02T10:31:00Z | 3.5 % | 97 % | [file:///data/quicklooks/img-1_quicklook.jpg]",
    ):
        assert text in body, text


def test_a_timeout_rejects_and_the_threshold_is_checked_early() -> None:
    if not AIRFLOW_V_3_1_PLUS:  # Airflow 3.0: building the task is the parse-time error
        with pytest.raises(version_compat.AirflowVersionError, match=r"3\.1\.0 or newer"):
            OneAtlasApprovalOperator(task_id="approve", quote={}, approval_above=100)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no deprecation from the HITL operators' home on this Airflow
        for message in AIRFLOW_OWN_DEPRECATIONS:  # but the standard provider's own, on Airflow 3.1
            warnings.filterwarnings("ignore", message=message)
        approve = OneAtlasApprovalOperator(
            task_id="approve", quote={}, approval_above=100, response_timeout=timedelta(1)
        )
    assert approve.defaults == ["Reject"] and approve.options == ["Approve", "Reject"]
    with pytest.raises(ValueError, match="approval_above"):
        OneAtlasApprovalOperator(task_id="approve2", quote={}, approval_above=-5)
