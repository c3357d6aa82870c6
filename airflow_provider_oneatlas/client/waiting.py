"""How long a wait has lasted, in log lines and in the error that ends a wait the API never answered."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from airflow_provider_oneatlas.client.progress import duration


def waited(started: float, clock: Callable[[], float] = time.monotonic) -> str:
    """``3 min 20 s``: the time since ``started`` (a ``clock`` reading)."""
    return duration(clock() - started)


def wait_gave_up(
    order_ids: Sequence[str],
    started: float,
    failures: int,
    error: BaseException,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """The message of a wait that stopped because the API stayed unreachable: which orders, for how
    long, and the last error (the orders themselves may well be fine: a retry of the task resumes)."""
    which = ", ".join(order_ids)
    noun = "order" if len(order_ids) == 1 else "orders"
    return (
        f"gave up waiting for OneAtlas {noun} {which} after {waited(started, clock)}: the API stayed unreachable "
        f"({failures} polls failed in a row; last: {error}). The {noun} may still be delivered: retry the task "
        "to resume waiting (no new order is placed)"
    )
