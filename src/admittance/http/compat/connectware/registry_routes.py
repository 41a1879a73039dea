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

from admittance.http.basic_auth import BasicAuthenticator, client_address
from admittance.http.body import parse_json_object, read_body, read_json_object, require_json_media_type
from admittance.http.compat.connectware import inputs
from admittance.http.compat.connectware import representations as rep
from admittance.http.compat.connectware.errors import render
from admittance.http.compat.connectware.spec import GUARDED, NO_CONTENT, operation, path_id, query_parameter
from admittance.http.errors import Problem
from admittance.http.openapi import (
    BOOLEAN,
    NULLABLE_STRING,
    STRING,
    WireObject,
    array,
    described,
    json_answer,
    many,
    member,
    out,
    ref,
)
from admittance.http.params import has_header, header, path_text, query
from admittance.http.responses import json_response, no_content
from admittance.http.surface import Row, guarded, public
from admittance.http.times import utc_millis
from admittance.kernel.errors import InvalidInput, MalformedInput
from admittance.kernel.principal import Principal
from admittance.registry.model import ClientRegistration, Confirmation, Outcome, RegisterResult, RegistrationRequest
from admittance.registry.service import ClientRegistryService

PREFIX = "/api/client-registry"
REGISTER = PREFIX + "/register"
LOCKED_MESSAGE = "The client registry is locked: an operator must open it (POST /api/client-registry/open)"


def routes(registry: Registry) -> list[Row]:
    """Registering is public (a device asks); everything else is the operators'."""
    return [
        guarded("GET", PREFIX, registry.entries),
        public("POST", REGISTER, registry.register),
        guarded("POST", PREFIX + "/open", registry.open),
        guarded("POST", PREFIX + "/close", registry.close),
        guarded("GET", PREFIX + "/status", registry.status),
        guarded("POST", PREFIX + "/confirm", registry.confirm),
        guarded("DELETE", PREFIX + "/{username}", registry.remove),
    ]


ASKED_PERMISSION = WireObject(None, rep.EFFECTIVE_PERMISSION.fields)
ENTRY = WireObject[ClientRegistration](
    "RegistryEntry",
    [
        out("id", STRING, lambda e: e.id),
        out("timestamp", described(STRING, "The first request"), lambda e: utc_millis(e.created_at)),
        out("username", STRING, lambda e: e.username),
        out(
            "credentialType", {"type": "string", "enum": ["password", "certificate"]}, lambda e: e.credential_type.value
        ),
        out("roles", array(STRING), lambda e: list(e.roles)),
        out("context", STRING, lambda e: e.context),
        many("permissions", ASKED_PERMISSION, lambda e: e.permissions),
        out("granted", BOOLEAN, lambda e: e.granted),
        out("pairingCode", STRING, lambda e: e.pairing_code),
        out("tenant", STRING, lambda e: e.tenant_id),
        out("lastSeen", described(STRING, "The latest matching request"), lambda e: utc_millis(e.updated_at)),
    ],
)
STATUS = WireObject[Any](
    "RegistryStatus",
    [
        member("locked", BOOLEAN, required=True),
        member("openUntil", described(NULLABLE_STRING, "null while locked"), required=True),
    ],
)
GRANTED = WireObject[Any](
    "RegistryGranted",
    [
        member(
            "certificate", described(STRING, "Base64 of the issued certificate's PEM (only when the request had a CSR)")
        )
    ],
)
PENDING = WireObject[Any](
    "RegistryPending",
    [
        member("status", {"type": "string", "enum": ["pending"]}, required=True),
        member("pairingCode", described(STRING, "Six hex digits, for the operator to compare"), required=True),
    ],
)
REQUEST = WireObject[Any](
    "RegistryRequest",
    [
        member(
            "username",
            {
                "type": "string",
                "pattern": "^(?:[a-z][a-z0-9-]{0,62}/)?[a-zA-Z0-9][a-zA-Z0-9_.]{2,253}$",
                "description": "The account asked for, optionally as `tenant/username` (else the tenant of "
                "the Host's first label, else the default tenant): Connectware's username rule, "
                "`device_...` reserved for devices (a breach is a 400)",
            },
            required=True,
        ),
        member(
            "password", described(inputs.PASSWORD, "The password policy (a breach is a 400); the device polls with it")
        ),
        member(
            "csr",
            described(
                STRING,
                "A certificate signing request: base64 of its PEM (the seed), PEM, or base64 of DER; exactly one "
                "CN, equal to the username; an EC P-256/P-384 or RSA 2048-8192 key",
            ),
        ),
        member(
            "roles",
            array(
                {"type": "string", "minLength": 1, "maxLength": 200},
                maxItems=50,
                description="Role names the device asks for (shown to the operator)",
            ),
        ),
        member("permissions", array(ref("PermissionInput"), maxItems=100)),
        member("context", {"type": "string", "maxLength": 1000, "description": "Free text for the operator"}),
    ],
    description="`password` or `csr` (or both) is required as well",
    extra={"anyOf": [{"required": ["password"]}, {"required": ["csr"]}]},
)
OPEN = WireObject[Any](
    "RegistryOpen",
    [
        member(
            "duration",
            {
                "type": "integer",
                "minimum": 1000,
                "maximum": 86_400_000,
                "description": "Milliseconds; 30000 when absent",
            },
        )
    ],
)
CONFIRM = WireObject[Any](
    "RegistryConfirm",
    [
        member("username", described(STRING, "A pending request's username"), required=True),
        member("tenant", described(STRING, "Admittance: the request's tenant (management callers)")),
        member("mqttPublishPrefix", NULLABLE_STRING),
        member(
            "grantTypes",
            described(array(ref("GrantTypeInput")), "Absent: password and/or certificate, as the request came"),
        ),
        member(
            "initialPermissions",
            described(array(ref("PermissionInput")), "Absent: the permissions the device asked for"),
        ),
        member("roles", described(array(STRING), "Role ids; absent: the roles the device asked for")),
    ],
)
WIRE_OBJECTS = (REQUEST, GRANTED, PENDING, OPEN, STATUS, ENTRY, CONFIRM)

_TAG = "client-registry"
OPERATIONS = (
    operation("POST", REGISTER, "A device asks for an account (password and/or CSR) and polls with the same request",
              _TAG, {201: json_answer("Granted: with a CSR, the certificate (on every matching poll)", GRANTED.use()),
                     202: json_answer("Pending: the operator has not granted it yet", PENDING.use())},
              (401, 409, 423, 429), body=REQUEST.use(), public=True,
              # Connectware answers 400 for a request that breaks a rule (no 422 here).
              never=(422,),
              notes={400: "Not JSON, a wrong JSON type, or a rule broken: username, password policy, CSR "
                     "(signature, CN, key), neither password nor csr, too many roles or permissions",
                     401: "A granted registration polled with other credentials",
                     409: "The username belongs to a user, or a pending registration has other credentials",
                     429: "Too many failed polls, or too many new registrations from this address"}),
    operation("POST", PREFIX + "/open", "Open the caller's tenant's registry window (or set a new deadline)", _TAG,
              NO_CONTENT, GUARDED, body=OPEN.use(), body_required=False,
              notes={400: "Not JSON, not an object, or duration not a whole number",
                     422: "duration outside 1000 to 86400000"}),
    operation("POST", PREFIX + "/close", "Lock the caller's tenant's registry at once", _TAG, NO_CONTENT, GUARDED),
    operation("GET", PREFIX + "/status", "Whether the caller's tenant's registry is open, and until when", _TAG,
              {200: json_answer("The window", STATUS.use())}, GUARDED),
    operation("GET", PREFIX,
              "The registrations, pending and granted, oldest first (every tenant's for management callers)", _TAG,
              {200: json_answer("The registrations", array(ENTRY.use()))}, GUARDED),
    operation("POST", PREFIX + "/confirm", "Grant a pending registration: create its user (and issue its certificate)",
              _TAG, {200: json_answer("The created user", ref("User"))}, (*GUARDED, 404, 409), body=CONFIRM.use(),
              notes={403: "Not permitted, or the roles and permissions granted exceed the caller's own",
                     404: "No registration for that username (in that tenant)",
                     409: "Granted already, or the username is taken",
                     422: "A value breaks a rule (e.g. the password grant type for a CSR-only request)"}),
    operation("DELETE", PREFIX + "/{username}",
              "Reject a pending registration or forget a granted one (its user stays)", _TAG, NO_CONTENT,
              (*GUARDED, 404),
              parameters=[query_parameter("tenant", STRING, "The registration's tenant (management callers)")],
              notes={404: "No registration for that username (in that tenant)"}),
)  # fmt: skip
PATH_PARAMETERS = {PREFIX + "/{username}": [path_id("username", "The registration's username")]}


def result_response(request: Request, result: RegisterResult) -> Response:
    if result.outcome is Outcome.LOCKED:
        return render(request, Problem(423, None, LOCKED_MESSAGE))
    if result.outcome is Outcome.PENDING:
        return json_response({"status": "pending", "pairingCode": result.pairing_code}, 202)
    body: dict[str, Any] = {}
    if result.certificate_pem is not None:
        body["certificate"] = base64.encodebytes(result.certificate_pem.encode("ascii")).decode("ascii")
    return json_response(body, 201)


def registration_request(body: dict[str, Any], tenant_id: str, username: str, source: str) -> RegistrationRequest:
    fields = inputs.FIELDS
    return RegistrationRequest(
        tenant_id=tenant_id,
        username=username,
        password=fields.text(body, "password"),
        csr=fields.text(body, "csr"),
        roles=tuple(fields.strings(body, "roles") or ()),
        permissions=inputs.permissions(body, "permissions") or (),
        context=fields.text(body, "context") or "",
        source=source,
    )


def confirmation(body: dict[str, Any]) -> Confirmation:
    fields = inputs.FIELDS
    username = fields.required_text(body, "username")
    roles = fields.strings(body, "roles")
    return Confirmation(
        username=username,
        tenant_id=fields.text(body, "tenant"),
        mqtt_publish_prefix=fields.text(body, "mqttPublishPrefix"),
        grant_types=inputs.grant_types(body),
        permissions=inputs.permissions(body, "initialPermissions"),
        roles=None if roles is None else tuple(roles),
    )


async def optional_json_object(request: Request, max_bytes: int) -> dict[str, Any]:
    """A JSON object, or {} when there is no body at all."""
    if (header(request, "content-length") or "0") == "0" and not has_header(request, "transfer-encoding"):
        return {}
    require_json_media_type(request)
    raw = await read_body(request, max_bytes)
    if not raw.strip():
        return {}
    return parse_json_object(raw)


class Registry:
    def __init__(self, registry: ClientRegistryService, auth: BasicAuthenticator, max_body_bytes: int) -> None:
        self._registry = registry
        self._auth = auth
        self._max_body_bytes = max_body_bytes

    async def register(self, request: Request) -> Response:
        source = client_address(request)
        try:
            body = await read_json_object(request, self._max_body_bytes)
            user = inputs.FIELDS.required_text(body, "username")
            tenant_id, username = await self._auth.account_of(request, user)
            result = await self._registry.register(registration_request(body, tenant_id, username, source))
        except InvalidInput as exc:
            if type(exc) is not InvalidInput:  # malformed, too large, wrong media type: as they are
                raise
            # Connectware rejects a request that breaks a rule with 400 (a CN that is not the username,
            # an invalid CSR, a username or password against the rules).
            raise MalformedInput(exc.message, entity=exc.entity, field=exc.field) from exc
        return result_response(request, result)

    async def open(self, request: Request, principal: Principal) -> Response:
        body = await optional_json_object(request, self._max_body_bytes)
        await self._registry.open(principal, body.get("duration"))
        return no_content()

    async def close(self, _request: Request, principal: Principal) -> Response:
        await self._registry.close(principal)
        return no_content()

    async def status(self, _request: Request, principal: Principal) -> Response:
        until = await self._registry.open_until(principal.tenant_id)
        return json_response({"locked": until is None, "openUntil": utc_millis(until) if until else None})

    async def entries(self, _request: Request, principal: Principal) -> Response:
        return json_response([ENTRY.render(entry) for entry in await self._registry.entries(principal)])

    async def confirm(self, request: Request, principal: Principal) -> Response:
        body = await read_json_object(request, self._max_body_bytes)
        created = await self._registry.confirm(principal, confirmation(body))
        return json_response(rep.user(created))

    async def remove(self, request: Request, principal: Principal) -> Response:
        tenant = query(request, "tenant") or None
        await self._registry.remove(principal, path_text(request, "username"), tenant)
        return no_content()
