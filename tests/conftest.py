"""Test-wide settings: a private AIRFLOW_HOME, and a fresh token cache for every test."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.standins import TaskInstanceStandIn

# Before anything imports Airflow: a throwaway home, no example DAGs.
if "AIRFLOW_HOME" not in os.environ:
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="oneatlas-airflow-home-")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
# dag.test()'s in-process Execution API signs task tokens; Airflow 3.2 fails (its app has no services)
# when a fresh home has no JWT secret yet, instead of generating one as 3.3 does.
os.environ.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", "tests-only-jwt-secret-0123456789abcdef")

FIXTURES = Path(__file__).parent / "fixtures"
SANDBOX_KEY = "oneatlas-sandbox-key"


def tutorial(name: str) -> Any:
    path = FIXTURES / "tutorial" / name
    return path.read_text() if path.suffix == ".xml" else json.loads(path.read_text())


@pytest.fixture(autouse=True)
def _fresh_token_cache() -> None:
    from airflow_provider_oneatlas.client.transport import TOKEN_CACHE

    TOKEN_CACHE.clear()


@pytest.fixture
def sandbox_config() -> dict[str, Any]:
    """Override in a test module (or parametrize) to configure the sandbox of ``sandbox``."""
    return {}


@pytest.fixture
def sandbox(sandbox_config: dict[str, Any]) -> Any:
    """A real OneAtlas sandbox over HTTP on 127.0.0.1, with fast order delays."""
    from airflow_provider_oneatlas.sandbox.config import SandboxConfig
    from airflow_provider_oneatlas.sandbox.server import SandboxServer

    settings = {"processing_after": 0.2, "delivered_after": 0.6, "download_size": 256 * 1024} | sandbox_config
    with SandboxServer(SandboxConfig(**settings)) as server:
        yield server


@pytest.fixture
def context() -> dict[str, Any]:
    """A task context with a task-instance stand-in, for operators run outside Airflow."""
    return {"ti": TaskInstanceStandIn()}


#: Quick retries: a sandbox answers at once, and a fault should cost the tests little time.
QUICK_RETRIES = {"backoff_initial": 0.05, "backoff_max": 0.5}


def connection_json(base_url: str, extra: dict[str, Any] | None = None) -> str:
    """A connection to the sandbox as Airflow users give one: ``AIRFLOW_CONN_...`` JSON."""
    return json.dumps(
        {
            "conn_type": "oneatlas",
            "host": base_url,
            "password": SANDBOX_KEY,
            "extra": QUICK_RETRIES if extra is None else extra,
        }
    )


@pytest.fixture
def oneatlas_conn(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """``oneatlas_default`` pointing at the sandbox, given as Airflow users do: an env connection."""
    monkeypatch.setenv("AIRFLOW_CONN_ONEATLAS_DEFAULT", connection_json(sandbox.base_url))
    return "oneatlas_default"


#: The tutorial's price/order AOI (Toulouse), as GeoJSON [lon, lat].
TUTORIAL_AOI = {
    "type": "Polygon",
    "coordinates": [
        [
            [1.240702761700962, 43.71466198202646],
            [1.567967301703224, 43.70248156062971],
            [1.568833709452247, 43.470228154858],
            [1.239288081223572, 43.48647760616458],
            [1.240702761700962, 43.71466198202646],
        ]
    ],
}

TOULOUSE_FIELD = {
    "type": "Polygon",
    "coordinates": [[[1.30, 43.55], [1.40, 43.55], [1.40, 43.62], [1.30, 43.62], [1.30, 43.55]]],
}

#: The tutorial's search AOI (Cavtat, Croatia), as GeoJSON [lon, lat].
TUTORIAL_SEARCH_AOI = {
    "type": "Polygon",
    "coordinates": [
        [
            [18.19021469803709, 42.65838625971582],
            [18.44677413880892, 42.65077884078982],
            [18.44409024457931, 42.4205262624631],
            [18.19013378078468, 42.42607365097246],
            [18.19021469803709, 42.65838625971582],
        ]
    ],
}


#: Airflow's own deprecation warning classes: errors in every test (the classes that exist in this Airflow).
AIRFLOW_DEPRECATIONS = (
    "airflow.exceptions.RemovedInAirflow4Warning",
    "airflow.exceptions.AirflowProviderDeprecationWarning",
    "airflow.utils.deprecation_tools.DeprecatedImportWarning",  # Airflow 3.1+
)

#: Deprecations raised inside Airflow's own providers, whatever DAG uses them: not ours to fix.
#: apache-airflow-providers-common-compat (1.23) maps BaseBranchOperator to the deprecated
#: airflow.operators.branch before the standard provider on Airflow < 3.2; any @task DAG triggers it.
#: Airflow 3.2's own API server (HookMetaService) still reads ProvidersManager.hooks, which 3.2 deprecates.
AIRFLOW_OWN_DEPRECATIONS = (
    "The `airflow.operators.branch.BaseBranchOperator`",
    # The same provider's HITL operators (our approval step) import BranchMixIn that way on 3.1.
    "The `airflow.operators.branch.BranchMixIn`",
    "ProvidersManager.hooks is deprecated",
)


def pytest_configure(config: pytest.Config) -> None:
    """Make Airflow's deprecation warnings errors: added here, once ``AIRFLOW_HOME`` is set, because
    naming the classes in pyproject would import Airflow before this file runs."""
    import importlib

    for dotted in AIRFLOW_DEPRECATIONS:
        module, _, name = dotted.rpartition(".")
        try:
            getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue  # not in this Airflow version
        config.addinivalue_line("filterwarnings", f"error::{dotted}")
    for message in AIRFLOW_OWN_DEPRECATIONS:
        config.addinivalue_line("filterwarnings", f"ignore:{message}")


#: Tests that start Airflow components live in tests/e2e: all marked ``e2e``.
E2E_DIR = "e2e"
#: Tests that run a DAG with dag.test() (the tier the Airflow version matrix runs besides unit and sandbox).
DAG_TEST_FIXTURES = {"run_dag", "example_dags"}
#: Slow tests outside tests/e2e, by file (relative to tests/) and test name, with or without its
#: parameters (``*``: the whole file).
#: The fast tier, ``pytest -m "not e2e and not slow"`` (``bash scripts/dev.sh test-fast``), leaves them out.
SLOW_TESTS: dict[str, set[str]] = {
    "reliability/test_crashes.py": {"*"},  # workers and triggerers killed with SIGKILL, in subprocesses
    "test_docs.py": {"test_docs_build_strict"},  # a full mkdocs build
    "test_packaging.py": {"*"},  # builds the wheel and installs it in a fresh venv
    "test_example_dags.py": {"test_parsing_imports_no_geometry_library_nor_the_sandbox"},  # a fresh interpreter
    "unit/test_get_provider_info.py": {"test_airflow_lists_the_provider_and_its_connection_type"},  # Airflow's CLI
    # The slowest of the rest (--durations): what they show is also shown faster elsewhere.
    "sandbox/test_view.py": {"test_quicklook_width[4096]"},  # a 4096-px PNG drawn in Python: ~20 s
    # 20 calls through 30% faults with Retry-After waits; retries: tests/unit/client/test_transport.py
    "unit/hooks/test_oneatlas.py": {"test_faults_are_retried_transparently"},
    # A worker process (Airflow imported) SIGKILLed mid-upload: ~20 s; the sweep alone is in the fast tier.
    "unit/storage/test_s3.py": {"test_a_killed_worker_leaves_an_orphan_the_next_try_aborts"},
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark by place: everything under tests/e2e is ``e2e``; the tests listed in SLOW_TESTS are ``slow``."""
    tests_dir = Path(__file__).parent
    seen: dict[str, set[str]] = {}
    for item in items:
        try:
            relative = item.path.relative_to(tests_dir).as_posix()
        except ValueError:
            continue
        if relative.split("/", 1)[0] == E2E_DIR:
            item.add_marker(pytest.mark.e2e)
        names = SLOW_TESTS.get(relative, set())
        seen.setdefault(relative, set()).update((item.originalname, item.name))
        if "*" in names or item.originalname in names or item.name in names:
            item.add_marker(pytest.mark.slow)
        if set(getattr(item, "fixturenames", ())) & DAG_TEST_FIXTURES:
            item.add_marker(pytest.mark.dag_test)
    # A renamed test must not silently fall out of the slow tier: every entry of a collected file matches.
    stale = [
        f"{path}::{name}"
        for path, names in SLOW_TESTS.items()
        if path in seen
        for name in names - {"*"}
        if name not in seen[path]
    ]
    whole_files = not any("::" in str(arg) for arg in config.args)
    if stale and whole_files and not config.getoption("keyword") and not config.getoption("deselect"):
        raise pytest.UsageError(f"SLOW_TESTS names tests that do not exist: {stale}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test item (``item.rep_call``), for fixtures that save evidence."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
