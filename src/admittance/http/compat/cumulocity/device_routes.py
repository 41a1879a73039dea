"""What a device calls right after bootstrap: currentUser and external ids (managed objects: inventory_routes)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from admittance.devices.inventory_model import parse_id
from admittance.http.basic_auth import BasicAuthenticator
from admittance.http.body import path_text, read_json_object
from admittance.http.compat.cumulocity import inventory_routes, media
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

    async def list_external_ids(request: Request) -> Response:
        principal = await auth.principal(request)
        mo_id = path_text(request, "id")
        found = await state.services.inventory.external_ids_of(principal, mo_id)
        document = rep.external_ids(parse_id(mo_id), found, base(request))
        return media.json_response(document, 200, media.EXTERNAL_ID_COLLECTION)

    async def delete_external_id(request: Request) -> Response:
        principal = await auth.principal(request)
        await state.services.inventory.delete_external_id(
            principal, path_text(request, "type"), path_text(request, "value")
        )
        return Response(status_code=204)

    return [
        Route("/user/currentUser", current_user, methods=["GET"]),
        Route("/identity/externalIds/{type}/{value:path}", find_external_id, methods=["GET"]),
        Route("/identity/externalIds/{type}/{value:path}", delete_external_id, methods=["DELETE"]),
        Route("/identity/globalIds/{id}/externalIds", list_external_ids, methods=["GET"]),
        Route("/identity/globalIds/{id}/externalIds", add_external_id, methods=["POST"]),
        *inventory_routes.routes(state, auth),
    ]
