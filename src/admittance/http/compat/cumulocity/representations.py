"""Our domain objects in Cumulocity's JSON shapes. Vendor field names live here and nowhere else."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from admittance.devices import ExternalId, IssuedCredentials, ManagedObject, RegistrationRequest
from admittance.kernel.paging import Page
from admittance.kernel.principal import Principal


def timestamp(moment: datetime) -> str:
    """ISO-8601 with milliseconds in UTC, e.g. 2026-11-22T03:48:25.123Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def segment(value: str) -> str:
    return quote(value, safe="")


def new_device_request(request: RegistrationRequest, base: str) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": request.id,
        "self": f"{base}/devicecontrol/newDeviceRequests/{segment(request.id)}",
        "status": request.status.value,
        "owner": request.owner,
        "tenantId": request.tenant_id,
        "creationTime": timestamp(request.created_at),
        "customProperties": request.custom_properties,
    }
    if request.group_id is not None:
        document["groupId"] = request.group_id
    if request.type is not None:
        document["type"] = request.type
    if request.security_token_digest is not None:
        document["securityTokenPresent"] = True  # the token itself is write-only
    return document


def collection(page: Page[RegistrationRequest], base: str, path: str, query: dict[str, str]) -> dict[str, Any]:
    size, current = page.request.size, page.request.page

    def link(number: int) -> str:
        return f"{base}{path}?{urlencode({**query, 'pageSize': size, 'currentPage': number})}"

    statistics: dict[str, Any] = {"currentPage": current, "pageSize": size}
    if page.total is not None:
        if query.get("withTotalPages", "").lower() == "true":
            statistics["totalPages"] = (page.total + size - 1) // size
        if query.get("withTotalElements", "").lower() == "true":
            statistics["totalElements"] = page.total
    document: dict[str, Any] = {
        "self": link(current),
        "newDeviceRequests": [new_device_request(item, base) for item in page.items],
        "statistics": statistics,
    }
    if page.has_more:
        document["next"] = link(current + 1)
    if current > 1:
        document["prev"] = link(current - 1)
    return document


def device_credentials(credentials: IssuedCredentials, base: str) -> dict[str, str]:
    return {
        "id": credentials.device_id,
        "tenantId": credentials.tenant_id,
        "username": credentials.username,
        "password": credentials.password,
        "self": f"{base}/devicecontrol/deviceCredentials/{segment(credentials.device_id)}",
    }


def managed_object(mo: ManagedObject, base: str) -> dict[str, Any]:
    self_link = f"{base}/inventory/managedObjects/{mo.id}"
    document: dict[str, Any] = dict(mo.fragments)
    document.update(
        {
            "id": str(mo.id),
            "self": self_link,
            "owner": mo.owner,
            "creationTime": timestamp(mo.created_at),
            "lastUpdated": timestamp(mo.updated_at),
        }
    )
    if mo.name is not None:
        document["name"] = mo.name
    if mo.type is not None:
        document["type"] = mo.type
    for relation in ("childDevices", "childAssets", "childAdditions", "deviceParents", "assetParents"):
        document.setdefault(relation, {"self": f"{self_link}/{relation}", "references": []})
    return document


def external_id(external: ExternalId, base: str) -> dict[str, Any]:
    return {
        "externalId": external.value,
        "type": external.type,
        "self": f"{base}/identity/externalIds/{segment(external.type)}/{segment(external.value)}",
        "managedObject": {
            "id": str(external.managed_object_id),
            "self": f"{base}/inventory/managedObjects/{external.managed_object_id}",
        },
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
