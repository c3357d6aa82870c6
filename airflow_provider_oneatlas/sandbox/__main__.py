"""``python -m airflow_provider_oneatlas.sandbox``: same as the ``oneatlas-sandbox`` command."""

from airflow_provider_oneatlas.sandbox.cli import main

raise SystemExit(main())
