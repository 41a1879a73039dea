"""The OpenAPI document is assembled from the wire objects, and the committed copy does not drift."""

from __future__ import annotations

from pathlib import Path

from admittance.http.compat.connectware import openapi
from admittance.http.compat.connectware import representations as rep
from tests.support.connectware import PAGINATION_KEYS, USER_KEYS

COMMITTED = Path(__file__).parents[3] / "docs" / "compat" / "connectware" / "openapi.json"


def test_the_committed_document_is_the_one_the_server_serves() -> None:
    expected = openapi.encoded(indent=True)
    assert COMMITTED.read_bytes() == expected, (
        "docs/compat/connectware/openapi.json is out of date: write it with "
        "`.venv/bin/python -m admittance.http.compat.connectware.document_file > docs/compat/connectware/openapi.json`"
    )


def test_a_wire_objects_schema_lists_exactly_the_fields_its_responses_carry() -> None:
    schemas = openapi.document()["components"]["schemas"]
    for wire in rep.WIRE_OBJECTS:
        assert wire.name is not None
        assert list(schemas[wire.name]["properties"]) == list(wire.names)
    assert set(schemas["User"]["properties"]) == USER_KEYS == set(schemas["User"]["required"])
    assert set(schemas["Pagination"]["properties"]) == PAGINATION_KEYS


def test_every_reference_names_a_schema_of_the_document() -> None:
    document = openapi.document()
    names = set(document["components"]["schemas"])

    def references(node: object) -> set[str]:
        if isinstance(node, dict):
            found = {node["$ref"].rsplit("/", 1)[1]} if "$ref" in node else set()
            return found.union(*(references(value) for value in node.values()))
        if isinstance(node, list):
            return set().union(*(references(value) for value in node))
        return set()

    assert references(document) - names == set()
