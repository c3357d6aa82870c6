"""STAC for OneAtlas: Items from the catalogue, the order and the delivered DIMAP metadata.

Free of Airflow, and cheap to import: ``pystac`` is imported only by the functions that build items,
so a DAG file that imports an operator does not pay for it at parse time.

- :mod:`.dimap` reads the DIMAP V2 metadata (``DIM_*.XML``) of a delivery;
- :mod:`.items` builds ``pystac.Item`` objects (a delivered product, a catalogue search result);
- :mod:`.collections` writes a run's ``ItemCollection`` and each item beside its delivery.
"""
