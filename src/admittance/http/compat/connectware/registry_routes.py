"""Connectware's client registry on the /api surface (docs/compat/connectware/client-registry.md):
POST /api/client-registry/register (public), and, for operators (the one permission policy on method and
path): POST /api/client-registry/open and /close, GET /api/client-registry (entries) and
/api/client-registry/status (the window), POST /api/client-registry/confirm, DELETE
/api/client-registry/{username}.
"""

from __future__ import annotations

import base64
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admittance.http.basic_auth import client_address
from admittance.http.body import (
    parse_json_object,
    path_text,
    read_body,
    read_json_object,
    require_json_media_type,
)
from admittance.http.compat.connectware import representations as rep
from admittance.http.compat.connectware.errors import render
from admittance.http.errors import Problem
from admittance.http.guard import Guard
from admittance.http.state import AppState
from admittance.kernel.errors import InvalidInput, MalformedInput
from admittance.registry.model import ClientRegistration, Confirmation, Outcome, RegisterResult, RegistrationRequest
from admittance.registry.service import ClientRegistryService

LOCKED_MESSAGE = "The client registry is locked: an operator must open it (POST /api/client-registry/open)"


def entry_json(entry: ClientRegistration) -> dict[str, Any]:
    return {
        "id": entry.id,
        "timestamp": rep.iso(entry.created_at),
        "username": entry.username,
        "credentialType": entry.credential_type.value,
        "roles": list(entry.roles),
        "context": entry.context,
        "permissions": [
            {"resource": grant.resource, "operation": grant.operation.value, "context": grant.context.value}
            for grant in entry.permissions
        ],
        "granted": entry.granted,
        "pairingCode": entry.pairing_code,
        "tenant": entry.tenant_id,
        "lastSeen": rep.iso(entry.updated_at),
    }


def result_response(request: Request, result: RegisterResult) -> Response:
    if result.outcome is Outcome.LOCKED:
        return render(request, Problem(423, None, LOCKED_MESSAGE))
    if result.outcome is Outcome.PENDING:
        return rep.json_response({"status": "pending", "pairingCode": result.pairing_code}, 202)
    body: dict[str, Any] = {}
    if result.certificate_pem is not None:
        body["certificate"] = base64.encodebytes(result.certificate_pem.encode("ascii")).decode("ascii")
    return rep.json_response(body, 201)


def registration_request(body: dict[str, Any], tenant_id: str, username: str, source: str) -> RegistrationRequest:
    return RegistrationRequest(
        tenant_id=tenant_id,
        username=username,
        password=rep.text(body, "password"),
        csr=rep.text(body, "csr"),
        roles=tuple(rep.strings(body, "roles") or ()),
        permissions=rep.permissions(body, "permissions") or (),
        context=rep.text(body, "context") or "",
        source=source,
    )


def confirmation(body: dict[str, Any]) -> Confirmation:
    username = rep.text(body, "username", required=True)
    assert username is not None
    roles = rep.strings(body, "roles")
    return Confirmation(
        username=username,
        tenant_id=rep.text(body, "tenant"),
        mqtt_publish_prefix=rep.text(body, "mqttPublishPrefix"),
        grant_types=rep.grant_types(body),
        permissions=rep.permissions(body, "initialPermissions"),
        roles=None if roles is None else tuple(roles),
    )


async def optional_json_object(request: Request, max_bytes: int) -> dict[str, Any]:
    """A JSON object, or {} when there is no body at all."""
    if request.headers.get("content-length", "0") == "0" and "transfer-encoding" not in request.headers:
        return {}
    require_json_media_type(request)
    raw = await read_body(request, max_bytes)
    if not raw.strip():
        return {}
    return parse_json_object(raw)


def routes(state: AppState, guard: Guard) -> list[BaseRoute]:
    def registry() -> ClientRegistryService:
        return state.services.client_registry

    def max_bytes() -> int:
        return state.services.settings.max_body_bytes

    async def register(request: Request) -> Response:
        source = client_address(request)
        try:
            body = await read_json_object(request, max_bytes())
            user = rep.text(body, "username", required=True)
            assert user is not None
            tenant_id, username = await guard.auth.account_of(request, user)
            result = await registry().register(registration_request(body, tenant_id, username, source))
        except InvalidInput as exc:
            if type(exc) is not InvalidInput:  # malformed, too large, wrong media type: as they are
                raise
            # Connectware rejects a request that breaks a rule with 400 (a CN that is not the username,
            # an invalid CSR, a username or password against the rules).
            raise MalformedInput(exc.message, entity=exc.entity, field=exc.field) from exc
        return result_response(request, result)

    async def open_window(request: Request) -> Response:
        principal = await guard.permitted(request)
        body = await optional_json_object(request, max_bytes())
        await registry().open(principal, body.get("duration"))
        return rep.no_content()

    async def close_window(request: Request) -> Response:
        principal = await guard.permitted(request)
        await registry().close(principal)
        return rep.no_content()

    async def window_status(request: Request) -> Response:
        principal = await guard.permitted(request)
        until = await registry().open_until(principal.tenant_id)
        return rep.json_response({"locked": until is None, "openUntil": rep.iso(until) if until else None})

    async def list_entries(request: Request) -> Response:
        principal = await guard.permitted(request)
        return rep.json_response([entry_json(entry) for entry in await registry().entries(principal)])

    async def confirm(request: Request) -> Response:
        principal = await guard.permitted(request)
        body = await read_json_object(request, max_bytes())
        created = await registry().confirm(principal, confirmation(body))
        return rep.json_response(rep.user(created))

    async def remove(request: Request) -> Response:
        principal = await guard.permitted(request)
        tenant = request.query_params.get("tenant") or None
        await registry().remove(principal, path_text(request, "username"), tenant)
        return rep.no_content()

    return [
        Route("/api/client-registry", list_entries, methods=["GET"]),
        Route("/api/client-registry/register", register, methods=["POST"]),
        Route("/api/client-registry/open", open_window, methods=["POST"]),
        Route("/api/client-registry/close", close_window, methods=["POST"]),
        Route("/api/client-registry/status", window_status, methods=["GET"]),
        Route("/api/client-registry/confirm", confirm, methods=["POST"]),
        Route("/api/client-registry/{username}", remove, methods=["DELETE"]),
    ]
