"""What the docs say about behaviour is checked against the behaviour, so a stale sentence fails."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

from airflow_provider_oneatlas.client.query import SearchQuery
from airflow_provider_oneatlas.operators.order import OneAtlasOrderOperator
from airflow_provider_oneatlas.sensors.oneatlas import OneAtlasOrderSensor
from airflow_provider_oneatlas.version_compat import AIRFLOW_V_3_1_PLUS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def all_docs() -> str:
    return "\n".join(p.read_text() for p in sorted(DOCS.rglob("*.md"))) + (ROOT / "README.md").read_text()


def test_a_tag_string_is_one_tag_as_the_docs_say() -> None:
    op = OneAtlasOrderOperator(
        task_id="o", image_ids=["abc-123"], aoi={"type": "Point", "coordinates": [1, 43]}, tags="flood"
    )
    assert op.tags == ["flood"]
    text = all_docs()
    assert "split into characters" not in text and "list of its\n    characters" not in text
    assert '`tags="flood"` is one tag' in (DOCS / "operators" / "order.md").read_text()


def test_a_template_inside_cloud_cover_needs_no_native_rendering() -> None:
    # What "{{ params.max_cloud }}" renders to without native rendering: a string.
    assert SearchQuery(cloud_cover=(0, "20"), processing_level="SENSOR").to_body()["cloudCover"] == "[0,20]"
    search = (DOCS / "operators" / "search.md").read_text()
    assert "a template inside\n  `cloud_cover` works without native rendering" in search
    assert not re.search(r"cloud_cover`? works only\s+with `render_template_as_native_obj", all_docs())


def test_the_order_task_retries_as_the_example_dags_page_says() -> None:
    from tests.airflow_compat import bundle_dag_bag

    folder = ROOT / "example_dags"
    bag = bundle_dag_bag(folder, folder)
    # On Airflow 3.0 the approval DAG is refused when parsed (tests/test_example_dags.py checks how).
    errors = {f: e for f, e in bag.import_errors.items() if AIRFLOW_V_3_1_PLUS or not f.endswith("oneatlas_fields.py")}
    assert not errors, errors
    retries = bag.dags["oneatlas_acquisition"].get_task("order").retries
    row = next(line for line in (DOCS / "example_dags.md").read_text().splitlines() if line.startswith("| `order` |"))
    assert f"`retries={retries}`" in row, row
    assert "retries=0" not in row


def test_the_sensor_page_says_what_parse_time_checks() -> None:
    OneAtlasOrderSensor(task_id="w", order_id="my-order")  # parses: only the form is checked
    page = (DOCS / "sensors" / "order_sensor.md").read_text()
    assert '`"my-order"` parses and fails then' in page
    assert "a plain id is checked when the DAG is parsed" not in page


def test_the_python_versions_said_match_the_package_and_the_lock() -> None:
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    minimum = re.fullmatch(r">=(3\.\d+)", requires)
    assert minimum, requires
    lock = (ROOT / "requirements" / "lock.txt").read_text()
    locked = re.search(r"--python-version (3\.\d+)", lock)
    assert locked
    for page in (ROOT / "README.md", DOCS / "index.md", DOCS / "quickstart.md"):
        text = " ".join(page.read_text().split())
        assert f"Python {locked.group(1)}" in text, page  # what the commands install for
        assert f"{minimum.group(1)} or later" in text, page  # what the package supports
        assert "pins every version" in text, page  # and why the two differ
