"""Test-side Airflow compatibility: the internals the test harness uses moved between 3.0 and 3.3.

The package's own moved names live in ``airflow_provider_oneatlas.version_compat``; these are the
metadata-DB and DAG-bag internals only tests touch (``DagBag`` moved to ``airflow.dag_processing`` in
3.2 and warns at its old home; ``BundleDagBag`` and ``sync_bag_to_db`` appeared in 3.1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow_provider_oneatlas.version_compat import AIRFLOW_V_3_1_PLUS, AIRFLOW_V_3_2_PLUS


def bundle_dag_bag(dag_folder: Path | str, bundle_path: Path) -> Any:
    """The DAGs of ``dag_folder`` parsed as the DAG processor parses a bundle's files."""
    if AIRFLOW_V_3_2_PLUS:
        from airflow.dag_processing.dagbag import BundleDagBag

        return BundleDagBag(dag_folder=str(dag_folder), bundle_path=bundle_path)
    if AIRFLOW_V_3_1_PLUS:
        from airflow.models.dagbag import BundleDagBag

        return BundleDagBag(dag_folder=str(dag_folder), bundle_path=bundle_path)
    import sys

    from airflow.models.dagbag import DagBag

    # 3.0's DAG processor puts the bundle on sys.path itself; BundleDagBag (3.1) does it here.
    if str(bundle_path) not in sys.path:
        sys.path.append(str(bundle_path))
    return DagBag(dag_folder=str(dag_folder), include_examples=False, bundle_path=bundle_path)


def sync_bag_to_db(bag: Any, bundle_name: str, bundle_version: str | None) -> None:
    """Serialize a DAG bag's DAGs into the metadata DB (what the DAG processor does after parsing)."""
    if AIRFLOW_V_3_2_PLUS:
        from airflow.dag_processing.dagbag import sync_bag_to_db as sync
    elif AIRFLOW_V_3_1_PLUS:
        from airflow.models.dagbag import sync_bag_to_db as sync
    else:
        bag.sync_to_db(bundle_name, bundle_version)
        return
    sync(bag, bundle_name, bundle_version)


def dag_test_run_factory() -> tuple[Any, str]:
    """(module, name) of the function ``dag.test()`` creates its run with, for tests that wrap it."""
    if AIRFLOW_V_3_1_PLUS:
        import airflow.models.dagrun as dagrun_module

        return dagrun_module, "get_or_create_dagrun"
    import airflow.models.dag as dag_module  # 3.0: imported by name inside dag.test() at each call

    return dag_module, "_get_or_create_dagrun"


def redact(value: Any) -> Any:
    """The task SDK's secrets masker ``redact`` (moved to ``airflow.sdk._shared`` in 3.1)."""
    if AIRFLOW_V_3_1_PLUS:
        from airflow.sdk._shared.secrets_masker import redact as sdk_redact
    else:
        from airflow.sdk.execution_time.secrets_masker import redact as sdk_redact
    return sdk_redact(value)
