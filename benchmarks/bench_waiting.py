"""1,000 orders waited on at once in one triggerer event loop.

Shared poll (the provider's ``OneAtlasOrderTrigger``: one listing per 500 orders per cycle) against
the obvious reference (each wait GETs its own order every cycle), same run, same sandbox.
Prints API requests per poll cycle and the triggerer's CPU time per order per cycle, with the
ratio, and PASS/FAIL against the goals: at most one listing request per 500 orders per cycle, and
under 1 ms of CPU per order per cycle.

    .venv/bin/python benchmarks/bench_waiting.py [--orders 1000] [--seconds 10]
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

from bench_download import FIELD, KEY, log_position


def api_log(base: str, first: int, last: int) -> list[dict[str, Any]]:
    """The API requests logged between two positions of the sandbox's request log."""
    answer = requests.get(f"{base}/_sandbox/requests", params={"since": first}, timeout=30).json()
    return [r for r in answer["requests"][: last - first] if not r["path"].startswith("/_sandbox")]


async def next_cycle(poller: Any) -> None:
    start = poller.cycles
    while poller.cycles == start:
        await asyncio.sleep(0.005)


async def shared_poll(order_ids: list[str], seconds: float, interval: float) -> tuple[int, float, tuple[int, int]]:
    from airflow_provider_oneatlas.triggers.oneatlas import OneAtlasOrderTrigger
    from airflow_provider_oneatlas.triggers.poller import OrderPoller

    async def wait(order_id: str) -> None:
        trigger = OneAtlasOrderTrigger(
            [order_id], "oneatlas_default", poll_interval=interval, max_poll_interval=interval
        )
        async for _ in trigger.run():
            return

    tasks = [asyncio.create_task(wait(i)) for i in order_ids]
    # Let every wait register before measuring.
    deadline = time.monotonic() + 120
    while not (OrderPoller._pollers and len(next(iter(OrderPoller._pollers.values())).watches) == len(order_ids)):
        if time.monotonic() > deadline:
            raise RuntimeError("the waits did not all register within 120 s")
        await asyncio.sleep(0.1)
    poller = next(iter(OrderPoller._pollers.values()))
    # Measure whole cycles only: from just after one cycle to just after a later one.
    await next_cycle(poller)
    base = os.environ["SANDBOX_URL"]
    first = await asyncio.to_thread(log_position, base)
    cycles0, cpu0 = poller.cycles, time.process_time()
    await asyncio.sleep(seconds)
    await next_cycle(poller)
    cycles, cpu = poller.cycles - cycles0, time.process_time() - cpu0
    last = await asyncio.to_thread(log_position, base)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return cycles, cpu, (first, last)


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()

    from airflow_provider_oneatlas.client.api import ProductSpec
    from airflow_provider_oneatlas.client.client import OneAtlasClient
    from airflow_provider_oneatlas.client.config import ClientConfig
    from airflow_provider_oneatlas.sandbox.config import SandboxConfig
    from airflow_provider_oneatlas.sandbox.server import SandboxProcess

    # Orders that stay "processing" for the whole benchmark, so every cycle has work.
    config = SandboxConfig(balance=10**12, processing_after=0.0, delivered_after=3600.0)
    with SandboxProcess(config) as sandbox:
        base = sandbox.base_url
        os.environ["SANDBOX_URL"] = base
        os.environ["AIRFLOW_CONN_ONEATLAS_DEFAULT"] = json.dumps(
            {"conn_type": "oneatlas", "host": base, "password": KEY}
        )
        client = OneAtlasClient(ClientConfig.for_base_url(KEY, base))
        image = client.search(aoi=FIELD, processing_level="SENSOR", items_per_page=1).features[0]
        product = ProductSpec(item_id=image.id, aoi=FIELD)
        started = time.monotonic()
        order_ids = [
            client.create_order([product], kind="order.product", customer_ref=f"bench-{i}").id
            for i in range(args.orders)
        ]
        print(f"placed {len(order_ids)} orders in {time.monotonic() - started:.1f}s; measuring {args.seconds:g}s each")

        results = {}
        for name, runner in (("shared poll (provider)", shared_poll), ("own poll (reference)", own_poll)):
            cycles, cpu, (first, last) = asyncio.run(runner(order_ids, args.seconds, args.interval))
            log = api_log(base, first, last)
            listings = sum(1 for r in log if r["method"] == "GET" and r["path"] == "/api/v1/orders")
            singles = sum(1 for r in log if r["method"] == "GET" and r["path"].startswith("/api/v1/orders/"))
            requests_per_cycle = (listings + singles) / max(cycles, 1)
            cpu_ms = 1000 * cpu / max(cycles, 1) / len(order_ids)
            results[name] = (cycles, requests_per_cycle, listings / max(cycles, 1), cpu_ms)
            print(
                f"{name:24s} cycles={cycles:3d} requests/cycle={requests_per_cycle:8.1f} "
                f"(listings {listings}, single reads {singles}) cpu/order/cycle={cpu_ms:.3f} ms"
            )
        shared = results["shared poll (provider)"]
        own = results["own poll (reference)"]
        print(
            f"ratio requests/cycle reference/provider = {own[1] / max(shared[1], 1e-9):.0f}x; "
            f"cpu/order/cycle reference/provider = {own[3] / max(shared[3], 1e-9):.1f}x"
        )
        allowed = math.ceil(len(order_ids) / 500)
        ok_requests = shared[1] <= allowed
        ok_cpu = shared[3] < 1.0
        print(
            f"goal: <= {allowed} listing requests per cycle for {len(order_ids)} orders: "
            f"{'PASS' if ok_requests else 'FAIL'} ({shared[1]:.2f})"
        )
        print(f"goal: < 1 ms CPU per order per cycle: {'PASS' if ok_cpu else 'FAIL'} ({shared[3]:.3f} ms)")
        return 0 if ok_requests and ok_cpu else 1


if __name__ == "__main__":
    sys.exit(main())
