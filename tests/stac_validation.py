"""STAC validation with no network: core schemas from pystac-core, extension schemas from tests/stac_schemas/.

pystac's validator fetches any schema it does not hold over HTTP; this one refuses instead, so a test
passing here proves every schema came from disk (see tests/stac_schemas/README.md for their origin).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pystac
import pystac.validation
from pystac.validation.stac_validator import JsonSchemaSTACValidator

SCHEMA_DIR = Path(__file__).parent / "stac_schemas"
ITEM_SCHEMA = f"https://schemas.stacspec.org/v{pystac.get_stac_version()}/item-spec/json-schema/item.json"


class SchemaNotOffline(AssertionError):
    pass


class OfflineValidator(JsonSchemaSTACValidator):
    def __init__(self) -> None:
        super().__init__()  # the schema cache starts with pystac-core's bundled core schemas
        for path in sorted(SCHEMA_DIR.glob("*.json")):
            schema = json.loads(path.read_text())
            if "$id" in schema:
                self.schema_cache[schema["$id"]] = schema
        self.fetched: list[str] = []

    def _get_schema(self, schema_uri: str) -> dict[str, Any]:
        if schema_uri not in self.schema_cache:
            self.fetched.append(schema_uri)
            raise SchemaNotOffline(f"schema {schema_uri} is not available offline")
        return self.schema_cache[schema_uri]


_VALIDATOR = OfflineValidator()


def validate_item(doc: dict[str, Any]) -> list[str]:
    """Validate a STAC Item against the core schema and each of its extensions; the schema URIs used."""
    used = pystac.validation.validate_dict(doc, validator=_VALIDATOR)
    assert used[0] == ITEM_SCHEMA, used
    missing = set(doc.get("stac_extensions", [])) - set(used)
    assert not missing, f"extensions not validated: {missing}"
    return used


def validate_item_collection(doc: dict[str, Any]) -> list[str]:
    """Validate an ItemCollection document and every item in it; the schema URIs used."""
    schema = json.loads((SCHEMA_DIR / "item-collection.json").read_text())
    jsonschema.Draft7Validator(schema).validate(doc)
    used: set[str] = set()
    for feature in doc["features"]:
        used.update(validate_item(feature))
    return sorted(used)
