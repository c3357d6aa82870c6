"""Budgets over time and for a whole run, read from the account's order history on a live sandbox.

The period cap is exercised across simulated days with the sandbox's clock (orders are dated on it);
the run budget by N threads ordering at once through the client workflow under one total.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_oneatlas.client.budgets import (
    Budget,
    check_period_budget,
    dag_tag,
    period_bounds,
    run_tag,
    spent,
)
from airflow_provider_oneatlas.client.errors import BudgetExceededError, ValidationError
from tests.unit.client.helpers import client_for, clock, ledger, order_posts, products

UTC = timezone.utc


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("period", "now", "start", "end"),
    [
        ("day", "2025-03-12T23:59:59", "2025-03-12T00:00:00", "2025-03-13T00:00:00"),
        ("week", "2025-03-12T10:00:00", "2025-03-10T00:00:00", "2025-03-17T00:00:00"),  # Wednesday -> Monday
        ("week", "2025-03-16T23:00:00", "2025-03-10T00:00:00", "2025-03-17T00:00:00"),  # Sunday
        ("month", "2025-12-31T12:00:00", "2025-12-01T00:00:00", "2026-01-01T00:00:00"),
        ("month", "2024-02-29T00:00:00", "2024-02-01T00:00:00", "2024-03-01T00:00:00"),
    ],
)
def test_periods_are_utc_calendar_periods(period: str, now: str, start: str, end: str) -> None:
    assert period_bounds(period, at(now)) == (at(start), at(end))


def test_period_of_a_non_utc_moment_is_taken_in_utc() -> None:
    from datetime import timedelta

    paris = timezone(timedelta(hours=1))
    # 00:30 in Paris on the 1st is still the last day of the previous month in UTC.
    moment = datetime(2025, 4, 1, 0, 30, tzinfo=paris)
    assert period_bounds("month", moment)[0] == at("2025-03-01T00:00:00")


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"credits": 10, "period": "year", "tag": "abc"}, "period_budget.period"),
        ({"credits": -1, "period": "day", "tag": "abc"}, "period_budget.credits"),
        ({"credits": "lots", "period": "day", "tag": "abc"}, "period_budget.credits"),
        ({"credits": 10, "period": "day", "tag": "field-north"}, "period_budget.tag"),
        ({"credits": 10, "tag": "abc"}, "period_budget"),
        ({"credits": 10, "period": "day", "cap": 3}, "period_budget"),
        ([10, "day"], "period_budget"),
    ],
)
def test_bad_period_budgets_name_the_field(value: Any, field: str) -> None:
    with pytest.raises(ValidationError) as error:
        check_period_budget(value, default_tag="dagabc")
    assert error.value.field == field
    assert error.value.accepted


def test_a_period_budget_without_tag_is_the_dags() -> None:
    budget = check_period_budget({"credits": "500", "period": "week"}, default_tag=dag_tag("fields"))
    assert budget == Budget(credits=500.0, tag=dag_tag("fields"), period="week", label="period_budget")
    assert dag_tag("fields").isalpha() and run_tag("fields", "r1").isalpha()
    assert run_tag("fields", "r1") != run_tag("fields", "r2") != run_tag("other", "r1")


@pytest.fixture
def sandbox_config() -> dict[str, Any]:
    # A stopped clock on a Wednesday morning: only the test moves it.
    return {"clock_start": "2025-03-12T08:00:00Z", "clock_speed": 0, "catalog_size": 300}


def test_a_daily_cap_holds_across_simulated_days(sandbox: Any) -> None:
    client = client_for(sandbox)
    items = products(client, 5)
    prices = [client.get_price([p]).credits for p in items]
    cap = prices[0] + prices[1]  # room for two orders a day
    budget = Budget(credits=cap, tag="fieldsnorth", period="day", label="period_budget")

    def order(index: int, ref: str) -> Any:
        return client.place_order([items[index]], customer_ref=ref, budgets=[budget], now=lambda: clock(sandbox))

    day1 = clock(sandbox)
    assert order(0, "d1a").order is not None
    clock(sandbox, advance=3600)
    assert order(1, "d1b").order is not None
    posts_before = len(order_posts(sandbox))
    debits_before = len(ledger(sandbox)["debits"])
    with pytest.raises(BudgetExceededError) as refused:
        order(2, "d1c")
    message = str(refused.value)
    # What was spent in the period, the cap, and what the order would cost.
    assert f"would cost {prices[2]:g} credits" in message
    assert f"{cap:g} already spent this day" in message
    assert f"period_budget of {cap:g} credits per day (tag fieldsnorth" in message
    assert f"{day1:%Y-%m-%d}" in message
    assert refused.value.credits == prices[2] and refused.value.limit == cap
    assert len(order_posts(sandbox)) == posts_before and len(ledger(sandbox)["debits"]) == debits_before

    # Midnight on the sandbox clock: a new day, a new allowance.
    clock(sandbox, advance=16 * 3600)
    assert clock(sandbox).date() > day1.date()
    placed = order(2, "d2a")
    assert placed.order is not None and "fieldsnorth" in placed.order.tags
    assert placed.budgets[0].spent == 0

    # Orders of another tag do not spend from this budget; this day's order of this tag does.
    assert client.place_order([items[3]], customer_ref="other", tags=["otherteam"]).order is not None
    assert spent(client, budget, clock(sandbox)) == prices[2]

    state = ledger(sandbox)
    tagged = [o for o in state["orders"] if "fieldsnorth" in o["tags"]]
    assert [o["createdAt"][:10] for o in tagged] == [f"{day1:%Y-%m-%d}"] * 2 + [f"{clock(sandbox):%Y-%m-%d}"]


def test_a_monthly_cap_counts_every_day_of_the_month_and_not_the_last(sandbox: Any) -> None:
    client = client_for(sandbox)
    items = products(client, 3)
    prices = [client.get_price([p]).credits for p in items]
    budget = Budget(credits=prices[0] + prices[1], tag="monthly", period="month", label="period_budget")
    clock(sandbox, now="2025-03-30T12:00:00Z")
    now = lambda: clock(sandbox)  # noqa: E731
    client.place_order([items[0]], customer_ref="m1", budgets=[budget], now=now)
    clock(sandbox, advance=86_400)  # the 31st: same month, the first order still counts
    client.place_order([items[1]], customer_ref="m2", budgets=[budget], now=now)
    with pytest.raises(BudgetExceededError, match="this month"):
        client.place_order([items[2]], customer_ref="m3", budgets=[budget], now=now)
    clock(sandbox, advance=86_400)  # April
    assert client.place_order([items[2]], customer_ref="m3", budgets=[budget], now=now).order is not None


@pytest.mark.parametrize("workers", [6])
def test_concurrent_orders_never_overspend_one_run_budget(sandbox: Any, workers: int) -> None:
    """N callers of the client workflow race for one total; the check-and-order is serialised by
    the lock they share (in Airflow, a pool of one slot), so the total spent never exceeds it."""
    client = client_for(sandbox)
    items = products(client, workers)
    prices = [client.get_price([p]).credits for p in items]
    total = sum(sorted(prices)[:2]) + min(prices) / 2  # room for two orders, not three
    budget = Budget(credits=total, tag=run_tag("fields", "run1"), label="run_budget")
    lock = threading.Lock()
    start = threading.Barrier(workers)
    outcomes: list[Any] = [None] * workers

    def field(index: int) -> None:
        own = client_for(sandbox)  # one client per worker, as separate tasks would have
        start.wait()
        try:
            outcomes[index] = own.place_order(
                [items[index]], customer_ref=f"run1:{index}", budgets=[budget], spend_lock=lock
            )
        except BudgetExceededError as exc:
            outcomes[index] = exc

    threads = [threading.Thread(target=field, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    placed = [o for o in outcomes if not isinstance(o, BudgetExceededError)]
    refused = [o for o in outcomes if isinstance(o, BudgetExceededError)]
    assert len(placed) + len(refused) == workers
    state = ledger(sandbox)
    assert sum(o["price"] for o in state["orders"] if budget.tag in o["tags"]) <= total
    assert len(state["orders"]) == len(placed)
    assert len(placed) >= 1 and len(refused) >= workers - 2
    assert all("run_budget of" in str(r) for r in refused)
