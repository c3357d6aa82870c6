"""A signed-in HTTP session on a sandbox, shared by the search and view tests."""

from __future__ import annotations

import requests

from airflow_provider_oneatlas.client.api import TOKEN_PATH
from airflow_provider_oneatlas.sandbox.catalog import Catalog
from airflow_provider_oneatlas.sandbox.server import SandboxServer
from tests.conftest import SANDBOX_KEY

#: The keys of every sandbox error document.
ERROR_KEYS = {"correlationId", "hint", "internalCode", "message", "timestamp"}


class SandboxSession:
    """A ``requests`` session holding a sandbox token, and the live catalogue for ground truth."""

    def __init__(self, server: SandboxServer) -> None:
        self.server = server
        self.base = server.base_url
        self.session = requests.Session()
        self.session.trust_env = False
        answer = self.session.post(
            self.base + TOKEN_PATH, data={"apikey": SANDBOX_KEY, "grant_type": "api_key", "client_id": "IDP"}
        )
        answer.raise_for_status()
        self.session.headers["Authorization"] = "Bearer " + answer.json()["access_token"]

    @property
    def catalog(self) -> Catalog:
        catalog: Catalog = self.server.state.catalog
        return catalog
