"""What a device calls right after bootstrap: currentUser and external ids (managed objects: inventory_routes)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from admittance.devices.inventory import InventoryService
from admittance.devices.inventory_model import parse_id
from admittance.http.body import read_json_object
from admittance.http.compat.cumulocity import media
from admittance.http.compat.cumulocity import representations as rep
from admittance.http.links import Links
from admittance.http.params import path_text
from admittance.http.surface import Row, guarded
from admittance.kernel.errors import InvalidInput
from admittance.kernel.principal import Principal

EXTERNAL_ID = "/identity/externalIds/{type}/{value:path}"
EXTERNAL_IDS = "/identity/globalIds/{id}/externalIds"


def routes(identity: Identities) -> list[Row]:
    return [
        guarded("GET", "/user/currentUser", identity.current_user),
        guarded("GET", EXTERNAL_ID, identity.find_external_id),
        guarded("DELETE", EXTERNAL_ID, identity.delete_external_id),
        guarded("GET", EXTERNAL_IDS, identity.list_external_ids),
        guarded("POST", EXTERNAL_IDS, identity.add_external_id),
    ]


class Identities:
    """The caller's user and the external ids of managed objects."""

    def __init__(self, inventory: InventoryService, links: Links, max_body_bytes: int) -> None:
        self._inventory = inventory
        self._links = links
        self._max_body_bytes = max_body_bytes

    async def current_user(self, request: Request, principal: Principal) -> Response:
        return media.json_response(rep.current_user(principal, self._links.base(request)), 200, media.CURRENT_USER)

    async def find_external_id(self, request: Request, principal: Principal) -> Response:
        found = await self._inventory.find_external_id(
            principal, path_text(request, "type"), path_text(request, "value")
        )
        return media.json_response(rep.external_id(found, self._links.base(request)), 200, media.EXTERNAL_ID)

    async def add_external_id(self, request: Request, principal: Principal) -> Response:
        body = await read_json_object(request, self._max_body_bytes)
        id_type, value = body.get("type"), body.get("externalId")
        if id_type is None or value is None:
            raise InvalidInput("Following mandatory fields should be included: type, externalId", field="externalId")
        if not isinstance(id_type, str) or not isinstance(value, str):
            raise InvalidInput("type and externalId must be strings", field="externalId")
        created = await self._inventory.add_external_id(principal, path_text(request, "id"), id_type, value)
        document = rep.external_id(created, self._links.base(request))
        return media.created_or_updated(request, document, 201, media.EXTERNAL_ID, {"location": document["self"]})

    async def list_external_ids(self, request: Request, principal: Principal) -> Response:
        mo_id = path_text(request, "id")
        found = await self._inventory.external_ids_of(principal, mo_id)
        document = rep.external_ids(parse_id(mo_id), found, self._links.base(request))
        return media.json_response(document, 200, media.EXTERNAL_ID_COLLECTION)

    async def delete_external_id(self, request: Request, principal: Principal) -> Response:
        await self._inventory.delete_external_id(principal, path_text(request, "type"), path_text(request, "value"))
        return Response(status_code=204)
