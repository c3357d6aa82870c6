"""Helpers shared by operators, sensors and triggers: how their arguments are read, and how client
errors become Airflow's. They import nothing from ``operators/``, ``sensors/`` or ``triggers/``."""
