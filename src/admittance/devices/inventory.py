"""Use cases of the device registry seed: what a device does right after it got its credentials."""

from __future__ import annotations

from typing import Any

from admittance.audit import AuditEvent, AuditTag
from admittance.devices.inventory_model import (
    RESERVED_KEYS,
    ExternalId,
    ManagedObject,
    validate_external_id,
    validate_names,
)
from admittance.devices.store import DevicesStorage
from admittance.kernel.clock import Clock
from admittance.kernel.errors import Conflict, NotFound
from admittance.kernel.principal import Principal, Role


class InventoryService:
    def __init__(self, storage: DevicesStorage, clock: Clock) -> None:
        self._storage = storage
        self._clock = clock

    async def create_managed_object(self, principal: Principal, body: dict[str, Any]) -> ManagedObject:
        principal.require(Role.INVENTORY_ADMIN, Role.DEVICE)
        name, mo_type = body.get("name"), body.get("type")
        validate_names(name, mo_type)
        fragments = {key: value for key, value in body.items() if key not in RESERVED_KEYS}
        now = self._clock.now()
        async with self._storage.transaction() as tx:
            created = await tx.inventory.create_managed_object(
                principal.tenant_id, principal.username, name, mo_type, fragments, now
            )
            await tx.audit.record(
                AuditEvent(
                    AuditTag.MANAGED_OBJECT_CREATED, principal.tenant_id, principal.username, str(created.id), now
                )
            )
        return created

    async def get_managed_object(self, principal: Principal, mo_id: str) -> ManagedObject:
        principal.require(Role.INVENTORY_READ, Role.INVENTORY_ADMIN, Role.DEVICE)
        found = await self._storage.get_managed_object(principal.tenant_id, _parse_id(mo_id))
        if found is None or not _may_read(principal, found):
            raise NotFound(
                f"Finding device data from database failed : No managedObject for id '{mo_id}'!",
                entity="managed_object",
            )
        return found

    async def find_external_id(self, principal: Principal, id_type: str, value: str) -> ExternalId:
        principal.require(Role.IDENTITY_READ, Role.IDENTITY_ADMIN, Role.DEVICE)
        found = await self._storage.find_external_id(principal.tenant_id, id_type, value)
        if found is None:
            raise NotFound(
                f"External id not found; external id = ID [type={id_type}, value={value}]", entity="external_id"
            )
        return found

    async def add_external_id(self, principal: Principal, mo_id: str, id_type: str, value: str) -> ExternalId:
        principal.require(Role.IDENTITY_ADMIN, Role.DEVICE)
        validate_external_id(id_type, value)
        target = _parse_id(mo_id)
        external = ExternalId(principal.tenant_id, id_type, value, target)
        async with self._storage.transaction() as tx:
            found = await tx.inventory.get_managed_object(principal.tenant_id, target)
            if found is None or not _may_write(principal, found):
                raise NotFound(
                    f"Finding device data from database failed : No managedObject for id '{mo_id}'!",
                    entity="managed_object",
                )
            if not await tx.inventory.add_external_id(external):
                raise Conflict(f"External id {id_type}/{value} exists already.", entity="external_id")
            await tx.audit.record(
                AuditEvent(
                    AuditTag.EXTERNAL_ID_CREATED,
                    principal.tenant_id,
                    principal.username,
                    f"{id_type}/{value}",
                    self._clock.now(),
                    {"managedObject": target},
                )
            )
        return external


def _parse_id(mo_id: str) -> int:
    # Unknown and malformed ids are both "not found": a client cannot tell them apart.
    if not mo_id.isdecimal() or len(mo_id) > 18:
        return -1
    return int(mo_id)


def _may_read(principal: Principal, mo: ManagedObject) -> bool:
    return principal.has(Role.INVENTORY_READ) or principal.has(Role.INVENTORY_ADMIN) or mo.owner == principal.username


def _may_write(principal: Principal, mo: ManagedObject) -> bool:
    return principal.has(Role.IDENTITY_ADMIN) or mo.owner == principal.username
