"""A trigger as the triggerer runs it: rebuilt from its serialized ``(classpath, kwargs)``, then run;
prints ``EVENT <payload>`` for every event it yields."""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import airflow_provider_oneatlas.triggers.oneatlas  # noqa: F401 - imported before READY: no import delay later
from tests.reliability.crash_helpers._common import read_spec, say


async def run(classpath: str, kwargs: dict[str, Any]) -> None:
    module, _, name = classpath.rpartition(".")  # importlib: Airflow's import_string moved in 3.1
    trigger = getattr(importlib.import_module(module), name)(**kwargs)
    say("STARTED")
    async for event in trigger.run():
        say("EVENT", event.payload)


def main() -> None:
    spec = read_spec()
    asyncio.run(run(spec["classpath"], spec["kwargs"]))


if __name__ == "__main__":
    main()
