"""utils/errors.py: a client error no retry can mend fails the task at once; anything else is raised
as it is, so the task's retries apply."""

from __future__ import annotations

import pytest

from airflow_provider_oneatlas.client import errors
from airflow_provider_oneatlas.utils.errors import FINAL_ERRORS, airflow_errors
from airflow_provider_oneatlas.version_compat import AirflowFailException


@pytest.mark.parametrize(
    "exc",
    [
        errors.BudgetExceededError("would cost 377 credits, over the budget max_credits=100", credits=377, limit=100),
        errors.NotOrderableError("not orderable"),
        errors.OrderFailedError("order-1", "rejected", "image no longer available"),
        errors.OrderWaitTimeoutError("not delivered after 60s"),
    ],
)
def test_final_errors_fail_the_task_without_retries(exc: Exception) -> None:
    with pytest.raises(AirflowFailException) as raised, airflow_errors():
        raise exc
    assert str(raised.value) == str(exc) and raised.value.__cause__ is exc


@pytest.mark.parametrize(
    "exc",
    [
        errors.ServerError(503, "busy"),
        errors.TransportError("refused"),
        errors.ValidationError("limit", "0 is out of range"),
        RuntimeError("a bug"),
    ],
)
def test_other_errors_pass_unchanged(exc: Exception) -> None:
    with pytest.raises(type(exc)) as raised, airflow_errors():
        raise exc
    assert raised.value is exc


def test_nothing_raised_nothing_changed() -> None:
    with airflow_errors():
        result = 1 + 1
    assert result == 2
    assert all(issubclass(e, errors.OneAtlasError) for e in FINAL_ERRORS)
