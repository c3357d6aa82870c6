"""Apache Airflow provider for Airbus OneAtlas (Living Library: search, price, order, download)."""

__version__ = "0.1.0"
