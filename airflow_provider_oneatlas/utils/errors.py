"""Client errors as Airflow task outcomes.

An error that no retry can mend (over budget, not orderable, the order failed, the wait timed out)
fails the task at once, without retries; everything else (the API unreachable, a 5xx) is raised as it
is, so the task's retries apply.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from airflow_provider_oneatlas.client.errors import (
    BudgetExceededError,
    NotOrderableError,
    OrderFailedError,
    OrderWaitTimeoutError,
)
from airflow_provider_oneatlas.version_compat import AirflowFailException

#: Outcomes that a retry would only repeat: the task fails without retrying.
FINAL_ERRORS = (BudgetExceededError, NotOrderableError, OrderFailedError, OrderWaitTimeoutError)


@contextlib.contextmanager
def airflow_errors() -> Iterator[None]:
    """Run a hook call; a final client error becomes ``AirflowFailException`` with the same message."""
    try:
        yield
    except FINAL_ERRORS as exc:
        raise AirflowFailException(str(exc)) from exc
