"""The approval step: the Airflow version it needs (checked when a DAG is parsed), and the body a
person reads before deciding."""

from __future__ import annotations

from datetime import timedelta

import pytest

from airflow_provider_oneatlas.operators.approval import (
    HITL_MIN_AIRFLOW,
    OneAtlasApprovalOperator,
    hitl_missing,
    quote_markdown,
)

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


@pytest.mark.parametrize("version", ["3.0.6", "2.10.5", "3.0.0rc1"])
def test_older_airflow_gets_a_message_naming_the_version_needed(version: str) -> None:
    message = hitl_missing(version)
    assert message is not None and HITL_MIN_AIRFLOW in message and version in message
    assert "approval_above" in message  # and the way out


@pytest.mark.parametrize("version", ["3.1.0", "3.1.8", "3.2.0.dev0"])
def test_airflow_3_1_and_later_can_ask(version: str) -> None:
    assert hitl_missing(version) is None


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
    from airflow import __version__

    if hitl_missing(__version__) is not None:  # Airflow 3.0: building the task is the parse-time error
        with pytest.raises(RuntimeError, match=HITL_MIN_AIRFLOW):
            OneAtlasApprovalOperator(task_id="approve", quote={}, approval_above=100)
        return
    approve = OneAtlasApprovalOperator(task_id="approve", quote={}, approval_above=100, response_timeout=timedelta(1))
    assert approve.defaults == ["Reject"] and approve.options == ["Approve", "Reject"]
    with pytest.raises(ValueError, match="approval_above"):
        OneAtlasApprovalOperator(task_id="approve2", quote={}, approval_above=-5)
