"""utils/arguments.py: values that only exist at run time are checked then, not refused when the DAG
file is parsed; and the ``deferrable`` default read as the official providers read it."""

from __future__ import annotations

from typing import Any

import pendulum
import pytest
from airflow.sdk import DAG, XComArg

from airflow_provider_oneatlas.operators.price import OneAtlasPriceOperator
from airflow_provider_oneatlas.operators.search import OneAtlasSearchOperator
from airflow_provider_oneatlas.utils.arguments import default_deferrable, is_templated
from tests.conftest import TOULOUSE_FIELD


def test_combined_xcom_args_are_left_for_run_time() -> None:
    with DAG("templating", schedule=None, start_date=pendulum.datetime(2024, 1, 1)):
        a = OneAtlasSearchOperator(task_id="a", aoi=TOULOUSE_FIELD)
        b = OneAtlasSearchOperator(task_id="b", aoi=TOULOUSE_FIELD)
        for task_id, ids in (("concat", a.output.concat(b.output)), ("zip", a.output.zip(b.output))):
            price = OneAtlasPriceOperator(task_id=task_id, image_ids=ids, aoi=TOULOUSE_FIELD)
            assert price.image_ids is ids


@pytest.mark.parametrize(
    "value",
    [
        "{{ params.aoi }}",
        "{% if x %}a{% endif %}",
        ["abc-123", "{{ ti.xcom_pull('search') }}"],
        ("{{ ds }}", None),
        {"type": "Polygon", "coordinates": "{{ params.coords }}"},
    ],
)
def test_templates_are_templated(value: Any) -> None:
    assert is_templated(value) is True


@pytest.mark.parametrize(
    "value", ["abc-123", "{ not jinja }", ["a", "b"], {"k": 1}, 42, None, 1.5, ("2024-05-01", None)]
)
def test_plain_values_are_not(value: Any) -> None:
    assert is_templated(value) is False


def test_every_xcom_arg_is_templated() -> None:
    with DAG("arguments", schedule=None, start_date=pendulum.datetime(2024, 1, 1)):
        search = OneAtlasSearchOperator(task_id="s", aoi=TOULOUSE_FIELD)
        out = search.output
        for value in (out, out["id"], out.map(lambda x: x), out.zip(out), out.concat(out)):
            assert isinstance(value, XComArg) and is_templated(value)


@pytest.mark.parametrize(("setting", "expected"), [("True", True), ("False", False)])
def test_default_deferrable_reads_the_config(monkeypatch: pytest.MonkeyPatch, setting: str, expected: bool) -> None:
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", setting)
    assert default_deferrable() is expected
