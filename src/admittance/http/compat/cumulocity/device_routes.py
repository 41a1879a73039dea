"""What a device calls right after bootstrap: currentUser, external id lookup, managed objects."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from admittance.http.basic_auth import BasicAuthenticator
from admittance.http.body import path_text, read_json_object
from admittance.http.compat.cumulocity import media
from admittance.http.compat.cumulocity import representations as rep
from admittance.http.state import AppState
from admittance.kernel.errors import InvalidInput


def routes(state: AppState, auth: BasicAuthenticator) -> list[Route]:
    def base(request: Request) -> str:
        return media.base_url(request, state.services.settings.public_url)

    async def current_user(request: Request) -> Response:
        principal = await auth.principal(request)
        return media.json_response(rep.current_user(principal, base(request)), 200, media.CURRENT_USER)

    async def find_external_id(request: Request) -> Response:
        principal = await auth.principal(request)
        found = await state.services.inventory.find_external_id(
            principal, path_text(request, "type"), path_text(request, "value")
        )
        return media.json_response(rep.external_id(found, base(request)), 200, media.EXTERNAL_ID)

    async def add_external_id(request: Request) -> Response:
        principal = await auth.principal(request)
        body = await read_json_object(request, state.services.settings.max_body_bytes)
        id_type, value = body.get("type"), body.get("externalId")
        if id_type is None or value is None:
            raise InvalidInput("Following mandatory fields should be included: type, externalId", field="externalId")
        if not isinstance(id_type, str) or not isinstance(value, str):
            raise InvalidInput("type and externalId must be strings", field="externalId")
        created = await state.services.inventory.add_external_id(principal, path_text(request, "id"), id_type, value)
        document = rep.external_id(created, base(request))
        return media.created_or_updated(request, document, 201, media.EXTERNAL_ID, {"location": document["self"]})

    async def create_managed_object(request: Request) -> Response:
        principal = await auth.principal(request)
        body = await read_json_object(request, state.services.settings.max_body_bytes)
        created = await state.services.inventory.create_managed_object(principal, body)
        document = rep.managed_object(created, base(request))
        return media.created_or_updated(request, document, 201, media.MANAGED_OBJECT, {"location": document["self"]})

    async def get_managed_object(request: Request) -> Response:
        principal = await auth.principal(request)
        found = await state.services.inventory.get_managed_object(principal, path_text(request, "id"))
        return media.json_response(rep.managed_object(found, base(request)), 200, media.MANAGED_OBJECT)

    return [
        Route("/user/currentUser", current_user, methods=["GET"]),
        Route("/identity/externalIds/{type}/{value:path}", find_external_id, methods=["GET"]),
        Route("/identity/globalIds/{id}/externalIds", add_external_id, methods=["POST"]),
        Route("/inventory/managedObjects", create_managed_object, methods=["POST"]),
        Route("/inventory/managedObjects/{id}", get_managed_object, methods=["GET"]),
    ]
