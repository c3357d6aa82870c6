"""The OneAtlas client: no Airflow imports, so it is cheap to import and easy to test alone."""
