"""/inventory/managedObjects: the device registry (devices and groups, their fragments and child assets)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from starlette.requests import Request
from starlette.responses import Response

from admittance.devices.inventory import InventoryService
from admittance.devices.inventory_model import InventoryFilter, parse_id, parse_id_list
from admittance.http.body import read_json_object
from admittance.http.compat.cumulocity import media
from admittance.http.compat.cumulocity import representations as rep
from admittance.http.links import Links, segment
from admittance.http.paging import page_request
from admittance.http.params import path_text, query_flag, query_items
from admittance.http.surface import Row, guarded
from admittance.kernel.errors import InvalidInput
from admittance.kernel.principal import Principal

COLLECTION_PATH = "/inventory/managedObjects"
ITEM_PATH = COLLECTION_PATH + "/{id}"


def routes(objects: ManagedObjects) -> list[Row]:
    return [
        guarded("GET", COLLECTION_PATH, objects.list),
        guarded("POST", COLLECTION_PATH, objects.create),
        guarded("GET", ITEM_PATH, objects.get),
        guarded("PUT", ITEM_PATH, objects.update),
        guarded("DELETE", ITEM_PATH, objects.delete),
        guarded("GET", ITEM_PATH + "/childAssets", objects.list_child_assets),
        guarded("POST", ITEM_PATH + "/childAssets", objects.assign_child_asset),
        guarded("DELETE", ITEM_PATH + "/childAssets/{child_id}", objects.unassign_child_asset),
    ]


_QUERY_LANGUAGE = ("query", "q")


def _text(raw: str) -> str:
    """c8y-api sends a text with a space as an OData string literal: 'a b', with '' for a quote inside."""
    if len(raw) >= 2 and raw[0] == raw[-1] == "'":
        return raw[1:-1].replace("''", "'")
    return raw


def inventory_filter(query: Mapping[str, str]) -> InventoryFilter:
    """The simple filters; an empty value is no filter. The query language is refused rather than ignored:
    ignoring it would answer objects the caller did not ask for."""
    for name in _QUERY_LANGUAGE:
        if query.get(name):
            raise InvalidInput(
                f"The {name} parameter (query language) is not supported; "
                "filter with type, fragmentType, text, owner or ids",
                field=name,
            )

    def value(name: str) -> str | None:
        return query.get(name) or None

    text, ids = value("text"), value("ids")
    return InventoryFilter(
        type=value("type"),
        fragment_type=value("fragmentType"),
        text=_text(text) if text is not None else None,
        owner=value("owner"),
        ids=parse_id_list(ids) if ids is not None else None,
    )


class ManagedObjects:
    """The device registry: devices and groups, their fragments and their child assets."""

    def __init__(self, inventory: InventoryService, links: Links, max_body_bytes: int) -> None:
        self._inventory = inventory
        self._links = links
        self._max_body_bytes = max_body_bytes

    async def list(self, request: Request, principal: Principal) -> Response:
        query = query_items(request)
        page = await self._inventory.list_managed_objects(
            principal,
            inventory_filter(query),
            page_request(request),
            with_children=_flag(request, "withChildren", True),
        )
        url = self._links.base(request)
        document = rep.collection(
            page, url, COLLECTION_PATH, query, "managedObjects", partial(rep.managed_object, base=url)
        )
        return media.json_response(document, 200, media.MANAGED_OBJECT_COLLECTION)

    async def create(self, request: Request, principal: Principal) -> Response:
        body = await read_json_object(request, self._max_body_bytes)
        created = await self._inventory.create_managed_object(principal, body)
        document = rep.managed_object(created, self._links.base(request))
        return media.created_or_updated(request, document, 201, media.MANAGED_OBJECT, {"location": document["self"]})

    async def get(self, request: Request, principal: Principal) -> Response:
        with_children = _flag(request, "withChildren", True)
        found = await self._inventory.get_managed_object(
            principal, path_text(request, "id"), with_children=with_children
        )
        return media.json_response(rep.managed_object(found, self._links.base(request)), 200, media.MANAGED_OBJECT)

    async def update(self, request: Request, principal: Principal) -> Response:
        body = await read_json_object(request, self._max_body_bytes)
        updated = await self._inventory.update_managed_object(principal, path_text(request, "id"), body)
        document = rep.managed_object(updated, self._links.base(request))
        return media.created_or_updated(request, document, 200, media.MANAGED_OBJECT)

    async def delete(self, request: Request, principal: Principal) -> Response:
        await self._inventory.delete_managed_object(
            principal,
            path_text(request, "id"),
            cascade=_flag(request, "cascade", False) or _flag(request, "forceCascade", False),
            with_device_user=_flag(request, "withDeviceUser", False),
        )
        return Response(status_code=204)

    async def list_child_assets(self, request: Request, principal: Principal) -> Response:
        mo_id = path_text(request, "id")
        page = await self._inventory.list_child_assets(principal, mo_id, page_request(request))
        url = self._links.base(request)
        path = f"{COLLECTION_PATH}/{segment(mo_id)}/childAssets"
        item = partial(rep.child_asset, url, parse_id(mo_id))
        document = rep.collection(page, url, path, query_items(request), "references", item)
        return media.json_response(document, 200, media.MANAGED_OBJECT_REFERENCE_COLLECTION)

    async def assign_child_asset(self, request: Request, principal: Principal) -> Response:
        body = await read_json_object(request, self._max_body_bytes)
        target = body.get("managedObject")
        child_id = target.get("id") if isinstance(target, dict) else None
        if isinstance(child_id, int) and not isinstance(child_id, bool):
            child_id = str(child_id)
        if not isinstance(child_id, str):
            raise InvalidInput("Following mandatory fields should be included: managedObject.id", field="managedObject")
        mo_id = path_text(request, "id")
        child = await self._inventory.assign_child_asset(principal, mo_id, child_id)
        document = rep.child_asset(self._links.base(request), parse_id(mo_id), child)
        headers = {"location": document["self"]}
        return media.created_or_updated(request, document, 201, media.MANAGED_OBJECT_REFERENCE, headers)

    async def unassign_child_asset(self, request: Request, principal: Principal) -> Response:
        await self._inventory.unassign_child_asset(principal, path_text(request, "id"), path_text(request, "child_id"))
        return Response(status_code=204)


def _flag(request: Request, name: str, default: bool) -> bool:
    """true or false in any case; absent or empty is the default."""
    found = query_flag(request, name, default=default, refuse=lambda _value: _not_a_flag(name))
    return default if found is None else found


def _not_a_flag(name: str) -> InvalidInput:
    return InvalidInput(f"{name} must be true or false", field=name)
