"""Our domain objects in Cumulocity's JSON shapes. Vendor field names live here and nowhere else."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from admittance.devices import ExternalId, IssuedCredentials, ManagedObject, RegistrationRequest
from admittance.devices.inventory_model import AssetReference
from admittance.http.links import segment
from admittance.http.paging import offset_page
from admittance.http.times import utc_millis
from admittance.kernel.paging import Page
from admittance.kernel.principal import Principal

T = TypeVar("T")
_RELATIONS = ("childDevices", "childAssets", "childAdditions", "deviceParents", "assetParents", "additionParents")


def new_device_request(request: RegistrationRequest, base: str) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": request.id,
        "self": f"{base}/devicecontrol/newDeviceRequests/{segment(request.id)}",
        "status": request.status.value,
        "owner": request.owner,
        "tenantId": request.tenant_id,
        "creationTime": utc_millis(request.created_at),
        "customProperties": request.custom_properties,
    }
    if request.group_id is not None:
        document["groupId"] = request.group_id
    if request.type is not None:
        document["type"] = request.type
    if request.security_token_digest is not None:
        document["securityTokenPresent"] = True  # the token itself is write-only
    return document


def collection(
    page: Page[T], base: str, path: str, query: Mapping[str, str], key: str, item: Callable[[T], dict[str, Any]]
) -> dict[str, Any]:
    """A paged collection: `self`, the items under `key`, `statistics` (totals when asked for), and
    `next`/`prev` links that keep the query's filters."""
    size = page.request.size

    def totals(total: int) -> dict[str, int]:
        shown: dict[str, int] = {}
        if query.get("withTotalPages", "").lower() == "true":
            shown["totalPages"] = (total + size - 1) // size
        if query.get("withTotalElements", "").lower() == "true":
            shown["totalElements"] = total
        return shown

    return offset_page(page, f"{base}{path}", key, [item(entry) for entry in page.items], keep=query, totals=totals)


def device_credentials(credentials: IssuedCredentials, base: str) -> dict[str, str]:
    return {
        "id": credentials.device_id,
        "tenantId": credentials.tenant_id,
        "username": credentials.username,
        "password": credentials.password,
        "self": f"{base}/devicecontrol/deviceCredentials/{segment(credentials.device_id)}",
    }


def managed_object_link(base: str, mo_id: int) -> str:
    return f"{base}/inventory/managedObjects/{mo_id}"


def _reference(base: str, target: AssetReference, link: str) -> dict[str, Any]:
    managed: dict[str, Any] = {"id": str(target.id), "self": managed_object_link(base, target.id)}
    if target.name is not None:
        managed["name"] = target.name
    return {"managedObject": managed, "self": link}


def child_asset(base: str, parent_id: int, child: AssetReference) -> dict[str, Any]:
    """The reference from a parent to one of its child assets."""
    return _reference(base, child, f"{managed_object_link(base, parent_id)}/childAssets/{child.id}")


def managed_object(mo: ManagedObject, base: str) -> dict[str, Any]:
    self_link = managed_object_link(base, mo.id)
    document: dict[str, Any] = dict(mo.fragments)
    document.update(
        {
            "id": str(mo.id),
            "self": self_link,
            "owner": mo.owner,
            "creationTime": utc_millis(mo.created_at),
            "lastUpdated": utc_millis(mo.updated_at),
        }
    )
    if mo.name is not None:
        document["name"] = mo.name
    if mo.type is not None:
        document["type"] = mo.type
    references = {
        "childAssets": [child_asset(base, mo.id, child) for child in mo.relations.child_assets],
        "assetParents": [
            _reference(base, parent, f"{managed_object_link(base, parent.id)}/childAssets/{mo.id}")
            for parent in mo.relations.asset_parents
        ],
    }
    for relation in _RELATIONS:
        document[relation] = {"self": f"{self_link}/{relation}", "references": references.get(relation, [])}
    return document


def external_id(external: ExternalId, base: str) -> dict[str, Any]:
    return {
        "externalId": external.value,
        "type": external.type,
        "self": f"{base}/identity/externalIds/{segment(external.type)}/{segment(external.value)}",
        "managedObject": {
            "id": str(external.managed_object_id),
            "self": managed_object_link(base, external.managed_object_id),
        },
    }


def external_ids(mo_id: int, found: list[ExternalId], base: str) -> dict[str, Any]:
    return {
        "self": f"{base}/identity/globalIds/{mo_id}/externalIds",
        "externalIds": [external_id(external, base) for external in found],
    }


def current_user(principal: Principal, base: str) -> dict[str, Any]:
    roles = [{"id": role, "name": role, "self": f"{base}/user/roles/{role}"} for role in sorted(principal.roles)]
    return {
        "id": principal.username,
        "self": f"{base}/user/currentUser",
        "userName": principal.username,
        "tenantId": principal.tenant_id,
        "enabled": True,
        "shouldResetPassword": False,
        "effectiveRoles": roles,
    }
