"""The OpenAPI 3.0 document of the Connectware-compatible surface (/api), served at GET /api/openapi.json.

Assembled, not written: the schemas are the wire objects that the responses are rendered from and the
request bodies' field lists beside their parsers; the operations are declared beside each module's
routes table. The property-based fuzz run (tests/http/connectware/test_fuzz.py) checks every answer
against it; docs/compat/connectware/openapi.json is the committed copy (a test fails when they drift;
`python -m admittance.http.compat.connectware.document_file` writes it). Where the server differs from the
seed, docs/compat/connectware/openapi.md says how and why.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from admittance import __version__
from admittance.http.compat.connectware import (
    broker_routes,
    certificate_routes,
    errors,
    inputs,
    maintenance_routes,
    registry_routes,
    representations,
    role_routes,
    session_routes,
    user_routes,
)
from admittance.http.compat.connectware.spec import operation
from admittance.http.openapi import JSON, components, json_answer, paths
from admittance.http.surface import Row, public

PATH = "/api/openapi.json"
_AREAS = (user_routes, role_routes, session_routes, registry_routes, certificate_routes, maintenance_routes)
_TAGS = ("users", "roles", "permissions", "session", "mfa", "broker", "client-registry", "certificates", "maintenance")
_SELF = operation("GET", PATH, "This document", "meta", {200: json_answer("The OpenAPI document", {"type": "object"})},
                  (), public=True)  # fmt: skip
_SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "description": "A token from POST /api/login"},
    "tokenHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "The same token as the whole Authorization header (as the seed sends it)",
    },
    "basicAuth": {"type": "http", "scheme": "basic", "description": "tenant/username:password"},
    "brokerSecret": {
        "type": "apiKey",
        "in": "header",
        "name": "x-admittance-broker-secret",
        "description": "The broker hooks' shared secret (also as Bearer, or as the Basic password)",
    },
}


def routes() -> list[Row]:
    return [public("GET", PATH, _serve)]


@cache
def document() -> dict[str, Any]:
    """The whole document (built once; callers must not change it)."""
    operations = [*(op for area in _AREAS for op in area.OPERATIONS), *broker_routes.OPERATIONS, _SELF]
    path_parameters = {path: found for area in _AREAS for path, found in area.PATH_PARAMETERS.items()}
    wires = (
        errors.ERROR,
        *representations.WIRE_OBJECTS,
        *inputs.WIRE_OBJECTS,
        *session_routes.WIRE_OBJECTS,
        *broker_routes.WIRE_OBJECTS,
        *registry_routes.WIRE_OBJECTS,
        *certificate_routes.WIRE_OBJECTS,
        *maintenance_routes.WIRE_OBJECTS,
    )
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Admittance: Connectware-compatible identity and access API",
            "version": __version__,
            "description": "Users, roles, permissions, sessions, MFA, broker authentication, the client "
            "registry, the trusted CA certificates and database maintenance, as Cybus Connectware's auth server "
            "offers them. Errors are `{statusCode, error, message}`.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}, {"tokenHeader": []}, {"basicAuth": []}],
        "tags": [{"name": name} for name in (*_TAGS, "meta")],
        "paths": paths(operations, path_parameters),
        "components": {
            "schemas": components(wires, certificate_routes.SCHEMAS),
            "securitySchemes": _SECURITY_SCHEMES,
        },
    }


def encoded(*, indent: bool = False) -> bytes:
    """The document as JSON: compact as served, or indented with sorted keys as committed."""
    if indent:
        return orjson.dumps(document(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    return _served()


@cache
def _served() -> bytes:
    return orjson.dumps(document())


async def _serve(_request: Request) -> Response:
    return Response(_served(), media_type=JSON)
