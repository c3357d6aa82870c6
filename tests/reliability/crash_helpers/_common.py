"""What the crash helpers share: a task-instance stand-in, and the line protocol with the test."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TaskInstanceStandIn:
    """The few task-instance attributes the operators read (as in ``tests/operators/conftest.py``)."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int = -1
    xcoms: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def say(tag: str, payload: Any = None) -> None:
    """One line to the test: ``<TAG> <json>``, flushed at once (the test may kill us any time)."""
    sys.stdout.write(f"{tag} {json.dumps(payload, default=str)}\n")
    sys.stdout.flush()


def read_spec() -> dict[str, Any]:
    """Announce READY (imports done), then read the step's JSON spec from one stdin line."""
    say("READY")
    line = sys.stdin.readline()
    if not line:
        raise SystemExit("no spec on stdin")
    spec: dict[str, Any] = json.loads(line)
    return spec
