"""The README's main job (``scripts/demo.py``, run by ``bash scripts/dev.sh demo``), end to end.

It migrates its own Airflow home, starts the sandbox, runs the acquisition DAG with ``airflow dags
test`` and checks the zip against the sandbox: what a new user runs first must keep working.
"""

from __future__ import annotations

import datetime
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import md5_file
from tests.e2e.stack import clean_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]


def test_the_main_job_lands_the_imagery_and_says_where(tmp_path: Path) -> None:
    destination = tmp_path / "imagery"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "demo.py"),
            "--airflow-home",
            str(tmp_path / "airflow-home"),
            "--destination",
            str(destination),
        ],
        env=clean_env() | {"NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out[-4000:] + result.stderr[-4000:]
    assert "Demo OK" in out

    # What a data engineer reads: the image chosen, the order and its debit, and where the zip is.
    # The scheduled run of a recent day: an image acquired days (not years) ago, bought once.
    assert re.search(r"the scheduled run of \d{4}-\d\d-\d\d: images published", out), out
    found = re.search(r"Image ordered.*\n\s+id\s+[0-9a-f-]{36}\n\s+acquired\s+(\d{4}-\d\d-\d\d)", out)
    assert found, out
    acquired = datetime.date.fromisoformat(found.group(1))
    assert (datetime.datetime.now(datetime.timezone.utc).date() - acquired).days <= 40, acquired
    assert re.search(r"debited\s+\d+ credits, once \(1 debit\)", out), out
    zips = list(destination.rglob("*.zip"))
    assert len(zips) == 1, zips
    assert re.search(rf"zip\s+{re.escape(str(zips[0]))}\n", out), out
    md5 = md5_file(zips[0])
    assert re.search(rf"md5\s+{md5}\n\s+sandbox md5\s+{md5}\s+matches", out), out
    # The STAC item beside the zip and the run's ItemCollection: what downstream tools read.
    (collection,) = destination.rglob("items.json")
    item = zips[0].with_suffix(".json")
    assert item.is_file()
    assert re.search(rf"item\s+{re.escape(str(item))}\s+\(.*assets: .*names the zip\)", out), out
    assert re.search(rf"run items\s+{re.escape(str(collection))}\s+\(1 item\(s\); lists it\)", out), out
