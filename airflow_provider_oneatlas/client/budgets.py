"""Budgets that hold across tasks, runs and workers, read from the account's own order history.

A budget is a cap on what the orders carrying one *tag* cost, optionally within a calendar period
(UTC day, ISO week from Monday, month). What was spent is never kept locally: it is the sum of the
prices of the account's orders under that tag created in the period (``createdAt`` of each order,
on OneAtlas' clock), so every worker, every run and every retry sees the same figure. Orders that
ended ``failed``, ``error`` or ``rejected`` do not count (nothing was delivered for them).

Two budgets of the same shape:

- a *period budget* (``{"credits": 20000, "period": "month", "tag": "fieldsnorth"}``): a DAG's or a
  team's spend per day, week or month; the tag is the user's (letters only) or, by default, one
  derived from the DAG id;
- a *run budget*: a total for every order of one DAG run (mapped fields), under a tag derived from
  the DAG id and run id, with no period.

Checking a budget and then ordering is two steps, and the API has no reservation: two callers
checking at once could both see room for the last credits. So the check-and-order must be
serialised among the callers sharing a budget (``place_order``'s ``spend_lock``; in Airflow, a pool
of one slot or ``max_active_tis_per_dagrun=1``; see ``docs/spend.md``). Since the spend is read from
the account inside that critical section, the serialisation is the only thing the callers share.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_oneatlas.client.errors import BudgetExceededError, ValidationError

if TYPE_CHECKING:
    from airflow_provider_oneatlas.client.client import OneAtlasClient
    from airflow_provider_oneatlas.client.models import Order

PERIODS = ("day", "week", "month")
_TAG_RE = re.compile(r"^[A-Za-z]+$")
PERIOD_BUDGET_ACCEPTED = (
    '{"credits": <number >= 0>, "period": "day" | "week" | "month", "tag": <letters only, optional>}'
)


def letters_digest(prefix: str, *parts: str, length: int = 20) -> str:
    """A letters-only tag naming ``parts`` (the API's tags are letters only): ``prefix`` + a digest."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return prefix + "".join(chr(ord("a") + b % 26) for b in digest[:length])


def dag_tag(dag_id: str) -> str:
    """The tag every order of DAG ``dag_id`` carries when a period budget names no tag of its own."""
    return letters_digest("dag", dag_id)


def run_tag(dag_id: str, run_id: str) -> str:
    """The tag every order of one DAG run carries under a run budget."""
    return letters_digest("run", dag_id, run_id)


def period_bounds(period: str, now: datetime) -> tuple[datetime, datetime]:
    """The UTC calendar period holding ``now``: ``[start, end)``; weeks start on Monday (ISO)."""
    now = now.astimezone(timezone.utc) if now.tzinfo else now.replace(tzinfo=timezone.utc)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day, day + timedelta(days=1)
    if period == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    if period == "month":
        start = day.replace(day=1)
        end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
        return start, end
    raise ValidationError("period_budget.period", f"unknown period {period!r}", "day, week or month (UTC)")


def parse_created_at(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class Budget:
    """At most ``credits`` for the orders tagged ``tag`` (within ``period`` when one is given).

    ``label`` says in a refusal which budget it is (``period_budget``, ``run_budget``).
    """

    credits: float
    tag: str
    period: str | None = None
    label: str = "budget"

    def __post_init__(self) -> None:
        if not isinstance(self.credits, (int, float)) or isinstance(self.credits, bool) or self.credits < 0:
            raise ValidationError(
                f"{self.label}.credits", f"{self.credits!r} is not a number >= 0", "credits, e.g. 20000"
            )
        if not isinstance(self.tag, str) or not _TAG_RE.match(self.tag):
            raise ValidationError(f"{self.label}.tag", f"{self.tag!r} is not a tag", "letters only (A-Z, a-z)")
        if self.period is not None and self.period not in PERIODS:
            raise ValidationError(f"{self.label}.period", f"unknown period {self.period!r}", "day, week or month (UTC)")

    def window(self, now: datetime) -> tuple[datetime, datetime] | None:
        return None if self.period is None else period_bounds(self.period, now)

    def describe(self, now: datetime) -> str:
        window = self.window(now)
        if window is None:
            return f"{self.label} of {self.credits:g} credits (tag {self.tag})"
        start, end = window
        return (
            f"{self.label} of {self.credits:g} credits per {self.period} (tag {self.tag}; this {self.period}: "
            f"{start:%Y-%m-%d} to {end:%Y-%m-%d} UTC)"
        )


def check_period_budget(value: Any, *, default_tag: str | None = None, field: str = "period_budget") -> Budget | None:
    """A period budget from what a user writes: ``{"credits", "period", "tag"?}`` (None: no budget).

    Without a ``tag``, ``default_tag`` (the DAG's) is used; neither is an error naming the fix.
    """
    if value is None:
        return None
    if isinstance(value, Budget):
        return value
    if not isinstance(value, Mapping):
        raise ValidationError(field, f"{value!r} is not a mapping", PERIOD_BUDGET_ACCEPTED)
    unknown = sorted(set(value) - {"credits", "period", "tag"})
    if unknown:
        raise ValidationError(field, f"unknown keys {unknown}", PERIOD_BUDGET_ACCEPTED)
    for key in ("credits", "period"):
        if key not in value:
            raise ValidationError(field, f"{key!r} is missing", PERIOD_BUDGET_ACCEPTED)
    credits = value["credits"]
    if isinstance(credits, str):
        try:
            credits = float(credits)
        except ValueError:
            raise ValidationError(f"{field}.credits", f"{credits!r} is not a number", "credits, e.g. 20000") from None
    tag = value.get("tag") or default_tag
    if tag is None:
        raise ValidationError(f"{field}.tag", "missing", "a tag (letters only) naming what the budget covers")
    return Budget(credits=credits, tag=tag, period=value["period"], label=field)


def counted(order: Order, tag: str, window: tuple[datetime, datetime] | None) -> bool:
    """Whether ``order`` spends from the budget of ``tag`` over ``window``."""
    if order.is_failed or tag not in order.tags:
        return False
    if window is None:
        return True
    created = parse_created_at(order.created_at)
    # An order without a date is counted: a budget errs on the side of spending less.
    return created is None or window[0] <= created < window[1]


def spent(client: OneAtlasClient, budget: Budget, now: datetime) -> float:
    """Credits the account's orders under ``budget.tag`` cost (within its period holding ``now``)."""
    window = budget.window(now)
    orders = client.iter_orders(tags=[budget.tag])
    return sum(order.price or 0.0 for order in orders if counted(order, budget.tag, window))


@dataclass(frozen=True)
class BudgetStatus:
    budget: Budget
    spent: float

    @property
    def left(self) -> float:
        return max(0.0, self.budget.credits - self.spent)


def check_budgets(client: OneAtlasClient, budgets: Iterable[Budget], cost: float, now: datetime) -> list[BudgetStatus]:
    """Raise :class:`BudgetExceededError` if ordering for ``cost`` would overspend any of ``budgets``.

    The message says which budget, what was spent under it (in the period), its cap, and the cost.
    """
    statuses = []
    for budget in budgets:
        used = spent(client, budget, now)
        if used + cost > budget.credits:
            period = f" this {budget.period}" if budget.period else ""
            raise BudgetExceededError(
                f"The order would cost {cost:g} credits; {used:g} already spent{period} under the "
                f"{budget.describe(now)}, {max(0.0, budget.credits - used):g} left: not ordered",
                credits=cost,
                limit=budget.credits,
            )
        statuses.append(BudgetStatus(budget, used))
    return statuses


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def budget_statuses(
    client: OneAtlasClient, budgets: Iterable[Budget], now: datetime | None = None
) -> list[BudgetStatus]:
    """What was spent under each budget (in its current period), for a person deciding a purchase."""
    moment = now or utcnow()
    return [BudgetStatus(budget, spent(client, budget, moment)) for budget in budgets]
