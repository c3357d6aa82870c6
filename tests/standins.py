"""Stand-ins for Airflow objects, free of pytest: the crash helpers import them in child processes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TaskInstanceStandIn:
    """The few task-instance attributes the operators read; the full path runs in tests/e2e."""

    dag_id: str = "oneatlas_test"
    task_id: str = "order"
    run_id: str = "manual__2024-05-01T00:00:00+00:00"
    map_index: int = -1
    xcoms: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value
