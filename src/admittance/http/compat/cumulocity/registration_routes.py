"""/devicecontrol: new device requests (operators) and device credentials (devices)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from admittance.devices import NewRegistration, NotYet, RegistrationStatus
from admittance.devices.registration import ENTITY
from admittance.http.basic_auth import BasicAuthenticator
from admittance.http.body import path_text, read_json_object
from admittance.http.compat.cumulocity import media
from admittance.http.compat.cumulocity import representations as rep
from admittance.http.compat.cumulocity.errors import not_found
from admittance.http.paging import page_request
from admittance.http.state import AppState
from admittance.kernel.errors import AdmittanceError, InvalidInput

COLLECTION_PATH = "/devicecontrol/newDeviceRequests"
_WRITABLE_STATUSES = {RegistrationStatus.ACCEPTED.value, RegistrationStatus.BLOCKED.value}


def _mandatory_id(body: dict[str, Any]) -> str:
    value = body.get("id")
    if value is None:
        raise InvalidInput("Following mandatory fields should be included: id", field="id")
    if not isinstance(value, str):
        raise InvalidInput("id must be a string", field="id")
    return value


def _optional_text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string", field=name)
    return value


Handler = Callable[[Request], Awaitable[Response]]
CREDENTIALS_PATH = "/devicecontrol/deviceCredentials"


def device_credentials_handler(state: AppState, auth: BasicAuthenticator) -> Handler:
    """POST /devicecontrol/deviceCredentials: the device polling path (see http/app.py's fast lane)."""

    async def device_credentials(request: Request) -> Response:
        settings = state.services.settings
        max_bytes, public_url = settings.max_body_bytes, settings.public_url
        presented = await auth.presented_or_reject(request)
        try:
            body = await read_json_object(request, max_bytes)
            device_id = _mandatory_id(body)
            token = _optional_text(body, "securityToken")
        except AdmittanceError:
            # Unauthenticated callers learn nothing about their body: credentials are checked first.
            # (A valid poll checks them together with its lookup, in one round trip.)
            await state.services.identity.authenticate(presented)
            raise
        issued = await state.services.registrations.poll(presented, device_id, token)
        if isinstance(issued, NotYet):  # the answer to almost every poll: rendered without raising
            return not_found(request, issued.message, ENTITY)
        return media.json_response(
            rep.device_credentials(issued, media.base_url(request, public_url)), 201, media.DEVICE_CREDENTIALS
        )

    return device_credentials


def routes(state: AppState, auth: BasicAuthenticator) -> list[Route]:
    def settings_of() -> tuple[int, str]:
        settings = state.services.settings
        return settings.max_body_bytes, settings.public_url

    async def create(request: Request) -> Response:
        max_bytes, public_url = settings_of()
        principal = await auth.principal(request)
        body = await read_json_object(request, max_bytes)
        custom = body.get("customProperties")
        if custom is not None and not isinstance(custom, dict):
            raise InvalidInput("customProperties must be an object", field="customProperties")
        new = NewRegistration(
            id=_mandatory_id(body),
            tenant_id=_optional_text(body, "tenantId"),
            group_id=_optional_text(body, "groupId"),
            type=_optional_text(body, "type"),
            custom_properties=custom,
            enrollment_token=_optional_text(body, "enrollmentToken"),
        )
        created = await state.services.registrations.create(principal, new)
        document = rep.new_device_request(created, media.base_url(request, public_url))
        return media.created_or_updated(
            request, document, 201, media.NEW_DEVICE_REQUEST, {"location": document["self"]}
        )

    async def list_requests(request: Request) -> Response:
        _, public_url = settings_of()
        principal = await auth.principal(request)
        query = dict(request.query_params)
        status = query.get("status")
        if status is not None and status not in RegistrationStatus.__members__:
            raise InvalidInput(f"Unknown status {status}", field="status")
        page = await state.services.registrations.list_requests(
            principal, page_request(request), RegistrationStatus(status) if status else None
        )
        base = media.base_url(request, public_url)
        document = rep.collection(
            page, base, COLLECTION_PATH, query, "newDeviceRequests", partial(rep.new_device_request, base=base)
        )
        return media.json_response(document, 200, media.NEW_DEVICE_REQUEST_COLLECTION)

    async def get_one(request: Request) -> Response:
        _, public_url = settings_of()
        principal = await auth.principal(request)
        found = await state.services.registrations.get(principal, path_text(request, "id"))
        return media.json_response(
            rep.new_device_request(found, media.base_url(request, public_url)), 200, media.NEW_DEVICE_REQUEST
        )

    async def update(request: Request) -> Response:
        max_bytes, public_url = settings_of()
        principal = await auth.principal(request)
        body = await read_json_object(request, max_bytes)
        status = body.get("status")
        if status is None:
            raise InvalidInput("Following mandatory fields should be included: status", field="status")
        if not isinstance(status, str) or status not in RegistrationStatus.__members__:
            raise InvalidInput(f"Unknown status {status!r}", field="status")
        if status not in _WRITABLE_STATUSES:
            raise InvalidInput("The status of a request can only be set to ACCEPTED or BLOCKED", field="status")
        registrations = state.services.registrations
        request_id = path_text(request, "id")
        if status == RegistrationStatus.ACCEPTED.value:
            updated = await registrations.accept(principal, request_id, _optional_text(body, "securityToken"))
        else:
            updated = await registrations.block(principal, request_id)
        document = rep.new_device_request(updated, media.base_url(request, public_url))
        return media.created_or_updated(request, document, 200, media.NEW_DEVICE_REQUEST)

    async def delete(request: Request) -> Response:
        principal = await auth.principal(request)
        await state.services.registrations.delete(principal, path_text(request, "id"))
        return Response(status_code=204)

    async def accept_all(request: Request) -> Response:
        principal = await auth.principal(request)
        results = await state.services.registrations.accept_all(principal)
        document = [
            {"id": r.id, "successful": r.successful, **({"error": r.error} if r.error else {})} for r in results
        ]
        return media.json_response(document, 200, media.JSON)

    async def limit(request: Request) -> Response:
        principal = await auth.principal(request)
        found = await state.services.registrations.limit(principal)
        document: dict[str, Any] = {"isReached": found.is_reached, "deviceCount": found.device_count}
        if found.limit is not None:
            document["limit"] = found.limit
        return media.json_response(document, 200, media.JSON)

    return [
        Route(CREDENTIALS_PATH, device_credentials_handler(state, auth), methods=["POST"]),
        Route(f"{COLLECTION_PATH}/limit", limit, methods=["GET"]),
        Route(f"{COLLECTION_PATH}/acceptAll", accept_all, methods=["POST"]),
        Route(COLLECTION_PATH, create, methods=["POST"]),
        Route(COLLECTION_PATH, list_requests, methods=["GET"]),
        Route(COLLECTION_PATH + "/{id:path}", get_one, methods=["GET"]),
        Route(COLLECTION_PATH + "/{id:path}", update, methods=["PUT"]),
        Route(COLLECTION_PATH + "/{id:path}", delete, methods=["DELETE"]),
    ]
