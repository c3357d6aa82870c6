"""``OneAtlasDownloadOperator.execute`` as a worker runs it: prints ``RESULT <json>`` when it returns."""

from __future__ import annotations

from airflow_provider_oneatlas.operators.download import OneAtlasDownloadOperator
from tests.reliability.crash_helpers._common import read_spec, say


def main() -> None:
    spec = read_spec()
    operator = OneAtlasDownloadOperator(
        task_id="download",
        order_id=spec["order_id"],
        destination=spec["destination"],
        connections=spec.get("connections", 8),
    )
    say("STARTED")
    result = operator.execute({})
    say("RESULT", result)


if __name__ == "__main__":
    main()
