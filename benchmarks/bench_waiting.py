"""Order waits on an account with a long history: requests per poll cycle and triggerer CPU.

The sandbox holds ``--history`` past orders (default 10,000, all delivered) and lists orders OLDEST
first (the API documents no sort order; newest first would flatter any poll that pages until it has
seen its orders). The provider's ``OneAtlasOrderTrigger`` waits share one poll per connection, which
lists only the pending orders (``status=ordered,processing``, 500 a page) and reads with one GET each
watched order that left them. Measured, in one run:

1. one wait: requests per cycle while the order is pending, and in the cycle it is delivered
   (goal: at most 2);
2. ``--orders`` waits (default 1,000) in one event loop: requests per cycle while all are pending,
   then while one order is delivered per cycle (goal: at most 3), and triggerer CPU per order per
   cycle (goal: under 1 ms); then, for information, a burst: many orders delivered in one cycle
   cost one GET each, once;
3. the reference, same sandbox, same orders: each wait GETs its own order every cycle.

Requests are counted per cycle at the client (each HTTP request sent, retries included) and the
totals checked against the sandbox's request log.

    .venv/bin/python benchmarks/bench_waiting.py [--orders 1000] [--history 10000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_download import FIELD, KEY, load_line, log_position, verdict

PAGE = 500


def api_log(base: str, first: int, last: int) -> list[dict[str, Any]]:
    """The API requests logged between two positions of the sandbox's request log."""
    answer = requests.get(f"{base}/_sandbox/requests", params={"since": first}, timeout=30).json()
    return [r for r in answer["requests"][: last - first] if not r["path"].startswith("/_sandbox")]


def deliver(base: str, order_ids: list[str]) -> None:
    with requests.Session() as session:
        for order_id in order_ids:
            session.post(
                f"{base}/_sandbox/orders/{order_id}/status", json={"status": "delivered"}, timeout=30
            ).raise_for_status()


class Counted:
    """Counts the HTTP requests the async client sends, and the poll's cycles with their requests."""

    def __init__(self) -> None:
        from airflow_provider_oneatlas.client.aio import AsyncOneAtlasClient
        from airflow_provider_oneatlas.triggers.poller import OrderPoller

        self.sent = 0
        self.cycles: list[int] = []  # requests of each poll cycle
        real_send = AsyncOneAtlasClient._send_with_retries
        real_poll = OrderPoller._poll
        counter = self

        async def send(client: Any, *args: Any, **kwargs: Any) -> Any:
            counter.sent += 1
            return await real_send(client, *args, **kwargs)

        async def poll(poller: Any, client: Any, ids: set[str]) -> Any:
            before = counter.sent
            try:
                return await real_poll(poller, client, ids)
            finally:
                counter.cycles.append(counter.sent - before)

        AsyncOneAtlasClient._send_with_retries = send  # type: ignore[method-assign]
        OrderPoller._poll = poll  # type: ignore[method-assign]

    async def next_cycle(self, timeout: float = 30.0) -> None:
        """Until a poll cycle ends (or ``timeout``: a poll with no wait left stops)."""
        start, deadline = len(self.cycles), time.monotonic() + timeout
        while len(self.cycles) == start and time.monotonic() < deadline:
            await asyncio.sleep(0.002)


async def shared_poll(counted: Counted, base: str, order_ids: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """The provider's waits; returns the figures of each phase."""
    from airflow_provider_oneatlas.triggers.oneatlas import OneAtlasOrderTrigger
    from airflow_provider_oneatlas.triggers.poller import OrderPoller

    interval = args.interval

    async def wait(order_id: str) -> None:
        trigger = OneAtlasOrderTrigger(
            [order_id], "oneatlas_default", poll_interval=interval, max_poll_interval=interval
        )
        async for _ in trigger.run():
            return

    tasks = [asyncio.create_task(wait(i)) for i in order_ids]
    deadline = time.monotonic() + 120
    while not (OrderPoller._pollers and len(next(iter(OrderPoller._pollers.values())).watches) == len(order_ids)):
        if time.monotonic() > deadline:
            raise RuntimeError("the waits did not all register within 120 s")
        await asyncio.sleep(0.05)
    figures: dict[str, Any] = {}
    await counted.next_cycle()

    # Phase: all pending.
    first = await asyncio.to_thread(log_position, base)
    start_cycle, cpu0 = len(counted.cycles), time.process_time()
    await asyncio.sleep(args.seconds)
    await counted.next_cycle()
    cpu = time.process_time() - cpu0
    steady = counted.cycles[start_cycle:]
    last = await asyncio.to_thread(log_position, base)
    figures["steady"] = (steady, cpu, api_log(base, first, last))

    # Phase: one order delivered before each cycle.
    first = await asyncio.to_thread(log_position, base)
    start_cycle = len(counted.cycles)
    finished = 0
    for order_id in order_ids[: args.finishing_cycles]:
        await asyncio.to_thread(deliver, base, [order_id])
        finished += 1
        await counted.next_cycle()
    await counted.next_cycle(3 * interval + 2)  # and the cycle after, if any wait is left: nothing read again
    last = await asyncio.to_thread(log_position, base)
    figures["one_per_cycle"] = (counted.cycles[start_cycle:], finished, api_log(base, first, last))

    # Phase (information): a burst delivered between two cycles.
    burst = order_ids[args.finishing_cycles : args.finishing_cycles + args.burst]
    if burst:
        await asyncio.to_thread(deliver, base, burst)
        first = await asyncio.to_thread(log_position, base)
        start_cycle = len(counted.cycles)
        await counted.next_cycle()
        await counted.next_cycle()
        last = await asyncio.to_thread(log_position, base)
        figures["burst"] = (counted.cycles[start_cycle:], len(burst), api_log(base, first, last))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return figures


async def own_poll(order_ids: list[str], seconds: float, interval: float) -> tuple[int, float, tuple[int, int]]:
    """The reference: every wait polls its own order each cycle (one shared HTTP client, at most
    50 requests in flight, as a connection pool would allow)."""
    from airflow_provider_oneatlas.client.aio import AsyncOneAtlasClient
    from airflow_provider_oneatlas.client.config import ClientConfig

    config = ClientConfig.for_base_url(KEY, os.environ["SANDBOX_URL"])
    cycles = 0
    limit = asyncio.Semaphore(50)

    async def read(client: Any, order_id: str) -> None:
        async with limit:
            await client.get_order(order_id)

    async with AsyncOneAtlasClient(config) as client:
        await client.token()
        first = await asyncio.to_thread(log_position, os.environ["SANDBOX_URL"])
        cpu0 = time.process_time()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline or cycles < 2:
            await asyncio.gather(*(read(client, i) for i in order_ids))
            cycles += 1
            await asyncio.sleep(interval)
        cpu = time.process_time() - cpu0
        last = await asyncio.to_thread(log_position, os.environ["SANDBOX_URL"])
        return cycles, cpu, (first, last)


def kinds(log: list[dict[str, Any]]) -> tuple[int, int]:
    listings = sum(1 for r in log if r["method"] == "GET" and r["path"] == "/api/v1/orders")
    singles = sum(1 for r in log if r["method"] == "GET" and r["path"].startswith("/api/v1/orders/"))
    return listings, singles


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--history", type=int, default=10000, help="past (delivered) orders on the account")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--finishing-cycles", type=int, default=5, help="cycles with one order delivered before each")
    parser.add_argument("--burst", type=int, default=100, help="orders delivered at once, for information")
    args = parser.parse_args()

    from airflow_provider_oneatlas.client.api import ProductSpec
    from airflow_provider_oneatlas.client.client import OneAtlasClient
    from airflow_provider_oneatlas.client.config import ClientConfig
    from airflow_provider_oneatlas.sandbox.config import SandboxConfig
    from airflow_provider_oneatlas.sandbox.server import SandboxProcess

    failures = 0
    print(load_line("start"), flush=True)
    # Orders stay "processing" until the benchmark delivers them; the history listed oldest first.
    config = SandboxConfig(
        balance=10**12,
        processing_after=0.0,
        delivered_after=3600.0,
        order_history=args.history,
        order_list_order="oldest",
    )
    with SandboxProcess(config) as sandbox:
        base = sandbox.base_url
        os.environ["SANDBOX_URL"] = base
        os.environ["AIRFLOW_CONN_ONEATLAS_DEFAULT"] = json.dumps(
            {"conn_type": "oneatlas", "host": base, "password": KEY}
        )
        client = OneAtlasClient(ClientConfig.for_base_url(KEY, base))
        image = client.search(aoi=FIELD, processing_level="SENSOR", items_per_page=1).features[0]
        product = ProductSpec(item_id=image.id, aoi=FIELD)

        def place(count: int, ref: str) -> list[str]:
            return [
                client.create_order([product], kind="order.product", customer_ref=f"{ref}-{i}").id for i in range(count)
            ]

        history = client.list_orders(page=1, items_per_page=1).total_results
        print(f"account: {history} past orders, listed oldest first", flush=True)
        counted = Counted()

        # 1. One wait.
        single = place(1, "one")
        one_args = argparse.Namespace(
            **{**vars(args), "seconds": min(args.seconds, 5.0), "finishing_cycles": 1, "burst": 0}
        )
        one = asyncio.run(shared_poll(counted, base, single, one_args))
        steady, _, steady_log = one["steady"]
        done_cycles, _, done_log = one["one_per_cycle"]
        worst = max(steady + done_cycles[:1])
        ok_one = worst <= 2 and sum(steady) + sum(done_cycles) == sum(kinds(steady_log)) + sum(kinds(done_log))
        failures += not ok_one
        print(
            f"one wait: requests per cycle while pending {sorted(set(steady))}, in the cycle it is delivered "
            f"{done_cycles[0]}, after {done_cycles[1:]} (listings+GETs in the sandbox log: "
            f"{kinds(steady_log)} then {kinds(done_log)}) -> at most {worst} (goal <= 2): {verdict(ok_one)}",
            flush=True,
        )

        # 2. Many waits.
        started = time.monotonic()
        order_ids = place(args.orders, "bench")
        print(
            f"placed {len(order_ids)} orders in {time.monotonic() - started:.1f}s; measuring {args.seconds:g}s",
            flush=True,
        )
        many = asyncio.run(shared_poll(counted, base, order_ids, args))
        steady, cpu, steady_log = many["steady"]
        cpu_ms = 1000 * cpu / max(len(steady), 1) / len(order_ids)
        pages = math.ceil(len(order_ids) / PAGE)
        listings, singles = kinds(steady_log)
        print(
            f"{len(order_ids)} waits, all pending: {len(steady)} cycles, requests per cycle {sorted(set(steady))} "
            f"(sandbox log: {listings} listings, {singles} GETs; {pages} pages of {PAGE} pending orders), "
            f"CPU {cpu_ms:.3f} ms per order per cycle",
            flush=True,
        )
        finishing, finished, finishing_log = many["one_per_cycle"]
        listings, singles = kinds(finishing_log)
        print(
            f"{len(order_ids)} waits, one order delivered before each cycle: requests per cycle {finishing} "
            f"(sandbox log: {listings} listings, {singles} GETs for {finished} delivered orders)",
            flush=True,
        )
        worst = max(steady + finishing)
        ok_many = worst <= 3 and singles == finished
        ok_cpu = cpu_ms < 1.0
        failures += not ok_many
        failures += not ok_cpu
        print(
            f"goal: <= 3 requests per cycle for {len(order_ids)} waits on {history} past orders: at most {worst}: "
            f"{verdict(ok_many)}",
            flush=True,
        )
        print(f"goal: < 1 ms CPU per order per cycle: {cpu_ms:.3f} ms: {verdict(ok_cpu)}", flush=True)
        if "burst" in many:
            burst_cycles, burst, burst_log = many["burst"]
            listings, singles = kinds(burst_log)
            print(
                f"    information: {burst} orders delivered between two cycles: requests of the next cycles "
                f"{burst_cycles} (sandbox log: {listings} listings, {singles} GETs): one GET per delivered order, once",
                flush=True,
            )

        # 3. The reference, on the orders still pending.
        pending = order_ids[args.finishing_cycles + args.burst :]
        cycles, cpu, (first, last) = asyncio.run(own_poll(pending, args.seconds, args.interval))
        listings, singles = kinds(api_log(base, first, last))
        own_cpu = 1000 * cpu / max(cycles, 1) / len(pending)
        print(
            f"reference, each of {len(pending)} waits GETs its order: {(listings + singles) / max(cycles, 1):.0f} "
            f"requests per cycle, CPU {own_cpu:.3f} ms per order per cycle "
            f"(provider: {own_cpu / max(cpu_ms, 1e-9):.0f}x less CPU)",
            flush=True,
        )
    print(load_line("end"), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
