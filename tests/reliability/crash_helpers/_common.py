"""What the crash helpers share: the line protocol with the test."""

from __future__ import annotations

import json
import sys
from typing import Any


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
