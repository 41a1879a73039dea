"""/inventory/managedObjects: the device registry (devices and groups, their fragments and child assets)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from admittance.devices.inventory_model import InventoryFilter, parse_id, parse_id_list
from admittance.http.basic_auth import BasicAuthenticator
from admittance.http.body import path_text, read_json_object
from admittance.http.compat.cumulocity import media
from admittance.http.compat.cumulocity import representations as rep
from admittance.http.compat.cumulocity.query import flag
from admittance.http.paging import page_request
from admittance.http.state import AppState
from admittance.kernel.errors import InvalidInput

COLLECTION_PATH = "/inventory/managedObjects"
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


def routes(state: AppState, auth: BasicAuthenticator) -> list[Route]:
    def base(request: Request) -> str:
        return media.base_url(request, state.services.settings.public_url)

    async def list_managed_objects(request: Request) -> Response:
        principal = await auth.principal(request)
        query = dict(request.query_params)
        page = await state.services.inventory.list_managed_objects(
            principal, inventory_filter(query), page_request(request), with_children=flag(query, "withChildren", True)
        )
        url = base(request)
        document = rep.collection(
            page, url, COLLECTION_PATH, query, "managedObjects", partial(rep.managed_object, base=url)
        )
        return media.json_response(document, 200, media.MANAGED_OBJECT_COLLECTION)

    async def create_managed_object(request: Request) -> Response:
        principal = await auth.principal(request)
        body = await read_json_object(request, state.services.settings.max_body_bytes)
        created = await state.services.inventory.create_managed_object(principal, body)
        document = rep.managed_object(created, base(request))
        return media.created_or_updated(request, document, 201, media.MANAGED_OBJECT, {"location": document["self"]})

    async def get_managed_object(request: Request) -> Response:
        principal = await auth.principal(request)
        with_children = flag(request.query_params, "withChildren", True)
        found = await state.services.inventory.get_managed_object(
            principal, path_text(request, "id"), with_children=with_children
        )
        return media.json_response(rep.managed_object(found, base(request)), 200, media.MANAGED_OBJECT)

    async def update_managed_object(request: Request) -> Response:
        principal = await auth.principal(request)
        body = await read_json_object(request, state.services.settings.max_body_bytes)
        updated = await state.services.inventory.update_managed_object(principal, path_text(request, "id"), body)
        return media.created_or_updated(request, rep.managed_object(updated, base(request)), 200, media.MANAGED_OBJECT)

    async def delete_managed_object(request: Request) -> Response:
        principal = await auth.principal(request)
        query = request.query_params
        await state.services.inventory.delete_managed_object(
            principal,
            path_text(request, "id"),
            cascade=flag(query, "cascade", False) or flag(query, "forceCascade", False),
            with_device_user=flag(query, "withDeviceUser", False),
        )
        return Response(status_code=204)

    async def list_child_assets(request: Request) -> Response:
        principal = await auth.principal(request)
        query = dict(request.query_params)
        mo_id = path_text(request, "id")
        page = await state.services.inventory.list_child_assets(principal, mo_id, page_request(request))
        url = base(request)
        path = f"{COLLECTION_PATH}/{rep.segment(mo_id)}/childAssets"
        document = rep.collection(page, url, path, query, "references", partial(rep.child_asset, url, parse_id(mo_id)))
        return media.json_response(document, 200, media.MANAGED_OBJECT_REFERENCE_COLLECTION)

    async def assign_child_asset(request: Request) -> Response:
        principal = await auth.principal(request)
        body = await read_json_object(request, state.services.settings.max_body_bytes)
        target = body.get("managedObject")
        child_id = target.get("id") if isinstance(target, dict) else None
        if isinstance(child_id, int) and not isinstance(child_id, bool):
            child_id = str(child_id)
        if not isinstance(child_id, str):
            raise InvalidInput("Following mandatory fields should be included: managedObject.id", field="managedObject")
        mo_id = path_text(request, "id")
        child = await state.services.inventory.assign_child_asset(principal, mo_id, child_id)
        document = rep.child_asset(base(request), parse_id(mo_id), child)
        headers = {"location": document["self"]}
        return media.created_or_updated(request, document, 201, media.MANAGED_OBJECT_REFERENCE, headers)

    async def unassign_child_asset(request: Request) -> Response:
        principal = await auth.principal(request)
        await state.services.inventory.unassign_child_asset(
            principal, path_text(request, "id"), path_text(request, "child_id")
        )
        return Response(status_code=204)

    item = COLLECTION_PATH + "/{id}"
    return [
        Route(COLLECTION_PATH, list_managed_objects, methods=["GET"]),
        Route(COLLECTION_PATH, create_managed_object, methods=["POST"]),
        Route(item, get_managed_object, methods=["GET"]),
        Route(item, update_managed_object, methods=["PUT"]),
        Route(item, delete_managed_object, methods=["DELETE"]),
        Route(item + "/childAssets", list_child_assets, methods=["GET"]),
        Route(item + "/childAssets", assign_child_asset, methods=["POST"]),
        Route(item + "/childAssets/{child_id}", unassign_child_asset, methods=["DELETE"]),
    ]
