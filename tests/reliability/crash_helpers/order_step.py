"""``OneAtlasOrderOperator.execute`` as a worker runs it: prints ``RESULT <json>`` when it returns."""

from __future__ import annotations

from airflow_provider_oneatlas.operators.order import OneAtlasOrderOperator
from tests.reliability.crash_helpers._common import read_spec, say
from tests.standins import TaskInstanceStandIn


def main() -> None:
    spec = read_spec()
    ti = TaskInstanceStandIn(dag_id=spec["dag_id"], task_id=spec["task_id"], run_id=spec["run_id"])
    operator = OneAtlasOrderOperator(
        task_id=spec["task_id"],
        image_ids=spec["image_ids"],
        aoi=spec["aoi"],
        max_credits=spec.get("max_credits"),
        wait_for_completion=False,
    )
    say("STARTED")
    result = operator.execute({"ti": ti})  # type: ignore[typeddict-item]
    say("RESULT", {"result": result, "xcoms": ti.xcoms})


if __name__ == "__main__":
    main()
