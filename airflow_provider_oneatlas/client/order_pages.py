"""A page a person can open for an order (the "OneAtlas order" extra link).

The API's order document (``/api/v1/orders/{id}``) needs a bearer token: a browser gets 401 there.
No public URL of the OneAtlas web application's view of one order is documented (the API guides and
the tutorial give none), so for the real OneAtlas there is no link; the sandbox serves a readable page
of each of its orders at ``/orders/{id}`` on its own host, and that is the link for a connection whose
data service is on this machine (127.0.0.1, localhost: a sandbox).
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from airflow_provider_oneatlas.client.config import ClientConfig

_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def order_page_url(config: ClientConfig, order_id: str) -> str | None:
    """The readable page of ``order_id``, or None where no such page is known (the real OneAtlas)."""
    data = config.service_urls["data"].rstrip("/")
    if (urlsplit(data).hostname or "") not in _LOCAL_HOSTS:
        return None
    return f"{data}/orders/{quote(order_id, safe='')}"
