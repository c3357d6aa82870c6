"""Values that only exist at run time are checked then, not refused when the DAG file is parsed."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_oneatlas.operators.price import OneAtlasPriceOperator
from airflow_provider_oneatlas.operators.search import OneAtlasSearchOperator
from tests.conftest import TOULOUSE_FIELD


def test_combined_xcom_args_are_left_for_run_time() -> None:
    with DAG("templating", schedule=None, start_date=pendulum.datetime(2024, 1, 1)):
        a = OneAtlasSearchOperator(task_id="a", aoi=TOULOUSE_FIELD)
        b = OneAtlasSearchOperator(task_id="b", aoi=TOULOUSE_FIELD)
        for task_id, ids in (("concat", a.output.concat(b.output)), ("zip", a.output.zip(b.output))):
            price = OneAtlasPriceOperator(task_id=task_id, image_ids=ids, aoi=TOULOUSE_FIELD)
            assert price.image_ids is ids
