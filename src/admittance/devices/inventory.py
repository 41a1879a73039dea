"""Use cases of the device registry: managed objects, their external ids and group membership, shared
by every front door."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from admittance.audit import AuditEvent, AuditTag
from admittance.devices.inventory_model import (
    ENTITY,
    MAX_EMBEDDED_REFERENCES,
    AssetReference,
    DeviceCredentials,
    ExternalId,
    InventoryFilter,
    ManagedObject,
    apply_update,
    fragments_of,
    may_read,
    may_update,
    not_found,
    parse_id,
    validate_external_id,
    validate_names,
)
from admittance.devices.model import DEVICE_USERNAME_PREFIX
from admittance.devices.store import DevicesStorage, DevicesTransaction
from admittance.identity.model import UserKind
from admittance.kernel.clock import Clock
from admittance.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from admittance.kernel.paging import Page, PageRequest
from admittance.kernel.principal import Principal, Role
from admittance.kernel.secrets import Pepper, random_password

_READERS = (Role.INVENTORY_READ, Role.INVENTORY_ADMIN, Role.DEVICE)
_WRITERS = (Role.INVENTORY_ADMIN, Role.DEVICE)


class InventoryService:
    def __init__(self, storage: DevicesStorage, clock: Clock, pepper: Pepper) -> None:
        self._storage = storage
        self._clock = clock
        self._pepper = pepper

    # --- managed objects -----------------------------------------------------------------------

    async def create_managed_object(self, principal: Principal, body: dict[str, Any]) -> ManagedObject:
        principal.require(*_WRITERS)
        name, mo_type = body.get("name"), body.get("type")
        validate_names(name, mo_type)
        now = self._clock.now()
        async with self._storage.transaction() as tx:
            created = await tx.inventory.create_managed_object(
                principal.tenant_id, principal.username, name, mo_type, fragments_of(body), now
            )
            await self._record(tx, AuditTag.MANAGED_OBJECT_CREATED, principal, str(created.id))
        return created

    async def get_managed_object(
        self, principal: Principal, mo_id: str, *, with_children: bool = True
    ) -> ManagedObject:
        principal.require(*_READERS)
        async with self._storage.read() as tx:
            found = await tx.inventory.get_managed_object(principal.tenant_id, parse_id(mo_id))
            if found is None or not may_read(principal, found):
                raise not_found(mo_id)
            return (await self._with_relations(tx, [found], with_children))[0]

    async def list_managed_objects(
        self, principal: Principal, filters: InventoryFilter, page: PageRequest, *, with_children: bool = True
    ) -> Page[ManagedObject]:
        """A device (without an inventory role) sees only the objects it owns."""
        principal.require(*_READERS)
        if not (principal.has(Role.INVENTORY_READ) or principal.has(Role.INVENTORY_ADMIN)):
            if filters.owner not in (None, principal.username):
                return Page([], page, 0 if page.with_total else None)
            filters = replace(filters, owner=principal.username)
        async with self._storage.read() as tx:
            found = await tx.inventory.page_managed_objects(principal.tenant_id, filters, page)
            return replace(found, items=await self._with_relations(tx, found.items, with_children))

    async def update_managed_object(self, principal: Principal, mo_id: str, body: dict[str, Any]) -> ManagedObject:
        """Cumulocity's PUT (see inventory_model.apply_update); the owning device or an inventory admin."""
        principal.require(*_WRITERS)
        async with self._storage.transaction() as tx:
            found = await self._writable(tx, principal, mo_id)
            updated = apply_update(found, body, self._clock.now())
            if not await tx.inventory.update_managed_object(updated):
                raise not_found(mo_id)
            changed = sorted(key for key in ("name", "type") if key in body) + sorted(fragments_of(body))
            await self._record(tx, AuditTag.MANAGED_OBJECT_UPDATED, principal, str(found.id), changed=changed)
            return (await self._with_relations(tx, [updated], True))[0]

    async def delete_managed_object(
        self, principal: Principal, mo_id: str, *, cascade: bool = False, with_device_user: bool = False
    ) -> None:
        """Deletes the object with its external ids and memberships; `cascade` also deletes every child asset
        below it, `with_device_user` the device users that owned what was deleted. A device may delete only
        its own object, and only that."""
        principal.require(*_WRITERS)
        async with self._storage.transaction() as tx:
            found = await self._writable(tx, principal, mo_id)
            if (cascade or with_device_user) and not principal.has(Role.INVENTORY_ADMIN):
                raise PermissionDenied("Only an inventory admin can delete child assets or device users")
            if cascade:
                await tx.inventory.lock_hierarchy(principal.tenant_id)
            deleted = await tx.inventory.delete_managed_objects(principal.tenant_id, found.id, cascade=cascade)
            for mo in deleted:
                detail = {} if mo.id == found.id else {"cascadeFrom": found.id}
                await self._record(tx, AuditTag.MANAGED_OBJECT_DELETED, principal, str(mo.id), **detail)
            if not with_device_user:
                return
            for owner in dict.fromkeys(mo.owner for mo in deleted):
                if owner.startswith(DEVICE_USERNAME_PREFIX) and await tx.inventory.delete_device_user(
                    principal.tenant_id, owner
                ):
                    await self._record(tx, AuditTag.USER_DELETED, principal, owner, managedObject=found.id)

    # --- group membership ----------------------------------------------------------------------

    async def list_child_assets(self, principal: Principal, mo_id: str, page: PageRequest) -> Page[AssetReference]:
        principal.require(*_READERS)
        async with self._storage.read() as tx:
            parent = await tx.inventory.get_managed_object(principal.tenant_id, parse_id(mo_id))
            if parent is None or not may_read(principal, parent):
                raise not_found(mo_id)
            return await tx.inventory.page_child_assets(principal.tenant_id, parent.id, page)

    async def assign_child_asset(self, principal: Principal, parent_id: str, child_id: str) -> AssetReference:
        """Idempotent. A group cannot become its own descendant."""
        principal.require(Role.INVENTORY_ADMIN)
        tenant = principal.tenant_id
        async with self._storage.transaction() as tx:
            await tx.inventory.lock_hierarchy(tenant)  # no concurrent assignment can close a cycle
            parent = await self._existing(tx, tenant, parent_id)
            child = await self._existing(tx, tenant, child_id)
            if await tx.inventory.in_subtree(tenant, child.id, parent.id):
                raise InvalidInput(
                    f"The managed object {child.id} cannot become a child asset of {parent.id}: "
                    "a group cannot become its own descendant",
                    entity=ENTITY,
                    field="managedObject",
                )
            if await tx.inventory.add_child_asset(tenant, parent.id, child.id):
                await self._record(tx, AuditTag.CHILD_ASSET_ASSIGNED, principal, str(parent.id), child=child.id)
        return AssetReference(child.id, child.name)

    async def unassign_child_asset(self, principal: Principal, parent_id: str, child_id: str) -> None:
        principal.require(Role.INVENTORY_ADMIN)
        child = parse_id(child_id)
        async with self._storage.transaction() as tx:
            parent = await self._existing(tx, principal.tenant_id, parent_id)
            if not await tx.inventory.remove_child_asset(principal.tenant_id, parent.id, child):
                raise NotFound(f"The managed object {parent_id} has no child asset {child_id}", entity=ENTITY)
            await self._record(tx, AuditTag.CHILD_ASSET_UNASSIGNED, principal, str(parent.id), child=child)

    # --- external ids --------------------------------------------------------------------------

    async def find_external_id(self, principal: Principal, id_type: str, value: str) -> ExternalId:
        principal.require(Role.IDENTITY_READ, Role.IDENTITY_ADMIN, Role.DEVICE)
        found = await self._storage.find_external_id(principal.tenant_id, id_type, value)
        if found is None:
            raise _external_id_not_found(id_type, value)
        return found

    async def external_ids_of(self, principal: Principal, mo_id: str) -> list[ExternalId]:
        """Those of an object the caller may see: identity readers see every object, a device its own."""
        principal.require(Role.IDENTITY_READ, Role.IDENTITY_ADMIN, Role.DEVICE)
        async with self._storage.read() as tx:
            found = await tx.inventory.get_managed_object(principal.tenant_id, parse_id(mo_id))
            readers = principal.has(Role.IDENTITY_READ) or principal.has(Role.IDENTITY_ADMIN)
            if found is None or not (readers or found.owner == principal.username):
                raise not_found(mo_id)
            return await tx.inventory.external_ids_of(principal.tenant_id, found.id)

    async def add_external_id(self, principal: Principal, mo_id: str, id_type: str, value: str) -> ExternalId:
        principal.require(Role.IDENTITY_ADMIN, Role.DEVICE)
        validate_external_id(id_type, value)
        target = parse_id(mo_id)
        external = ExternalId(principal.tenant_id, id_type, value, target)
        async with self._storage.transaction() as tx:
            found = await tx.inventory.get_managed_object(principal.tenant_id, target)
            if found is None or not _may_manage_identity(principal, found):
                raise not_found(mo_id)
            if not await tx.inventory.add_external_id(external):
                raise Conflict(f"External id {id_type}/{value} exists already.", entity="external_id")
            await self._record(tx, AuditTag.EXTERNAL_ID_CREATED, principal, f"{id_type}/{value}", managedObject=target)
        return external

    async def delete_external_id(self, principal: Principal, id_type: str, value: str) -> None:
        """An identity admin, or the device owning the object the id names."""
        principal.require(Role.IDENTITY_ADMIN, Role.DEVICE)
        async with self._storage.transaction() as tx:
            found = await tx.inventory.find_external_id(principal.tenant_id, id_type, value)
            if found is None:
                raise _external_id_not_found(id_type, value)
            target = await tx.inventory.get_managed_object(principal.tenant_id, found.managed_object_id)
            if target is None or not _may_manage_identity(principal, target):
                raise PermissionDenied("Only an identity admin or the owner can delete this external id")
            await tx.inventory.delete_external_id(principal.tenant_id, id_type, value)
            await self._record(
                tx, AuditTag.EXTERNAL_ID_DELETED, principal, f"{id_type}/{value}", managedObject=target.id
            )

    # --- a device's own user and its history ---------------------------------------------------

    async def device_credentials(self, principal: Principal, mo_id: str) -> DeviceCredentials:
        """The state of the device user that owns the object (for an inventory reader)."""
        principal.require(Role.INVENTORY_READ, Role.INVENTORY_ADMIN)
        async with self._storage.read() as tx:
            found = await tx.inventory.get_managed_object(principal.tenant_id, parse_id(mo_id))
            if found is None:
                raise not_found(mo_id)
            if not found.owner.startswith(DEVICE_USERNAME_PREFIX):
                return DeviceCredentials(None)
            user = await tx.users.get(principal.tenant_id, found.owner)
        if user is None or user.kind is not UserKind.DEVICE:
            return DeviceCredentials(found.owner)
        return DeviceCredentials(found.owner, exists=True, enabled=user.enabled)

    async def rotate_device_password(self, principal: Principal, mo_id: str) -> tuple[str, str]:
        """Give the device user that owns the object a new random password, in one transaction with
        its audit event: (username, password), the password shown once. The old password stops
        working at once (the verified-credential cache is keyed by the stored hash, which changed).
        Needs both an inventory admin and a user admin."""
        principal.require(Role.INVENTORY_ADMIN)
        principal.require(Role.USER_MANAGEMENT_ADMIN)
        password = random_password(32)
        password_hash = self._pepper.password_hash(password)
        async with self._storage.transaction() as tx:
            found = await tx.inventory.get_managed_object(principal.tenant_id, parse_id(mo_id))
            if found is None:
                raise not_found(mo_id)
            username = found.owner
            user = (
                await tx.users.get(principal.tenant_id, username)
                if username.startswith(DEVICE_USERNAME_PREFIX)
                else None
            )
            if user is None or user.kind is not UserKind.DEVICE:
                raise Conflict(
                    f"The managed object {found.id} has no device user to give a new password.", entity="user"
                )
            if not await tx.users.set_password_hash(principal.tenant_id, username, password_hash):
                raise NotFound(f"There is no user {principal.tenant_id}/{username}", entity="user")
            await self._record(
                tx, AuditTag.USER_PASSWORD_CHANGED, principal, username, managedObject=found.id, rotated=True
            )
        return username, password

    async def history(self, principal: Principal, mo_id: str, limit: int = 50) -> list[AuditEvent]:
        """The newest audit events about the object: its id, its external ids, its device user and
        the device id that user is named after (registration, credentials, certificates)."""
        principal.require(Role.INVENTORY_READ, Role.INVENTORY_ADMIN)
        async with self._storage.read() as tx:
            found = await tx.inventory.get_managed_object(principal.tenant_id, parse_id(mo_id))
            if found is None:
                raise not_found(mo_id)
            subjects = [str(found.id)]
            subjects += [
                f"{e.type}/{e.value}" for e in await tx.inventory.external_ids_of(principal.tenant_id, found.id)
            ]
            if found.owner.startswith(DEVICE_USERNAME_PREFIX):
                subjects += [found.owner, found.owner[len(DEVICE_USERNAME_PREFIX) :]]
            return await tx.audit.recent_for_subjects(principal.tenant_id, subjects, limit)

    # --- shared steps --------------------------------------------------------------------------

    async def _with_relations(
        self, tx: DevicesTransaction, objects: list[ManagedObject], with_children: bool
    ) -> list[ManagedObject]:
        """Fill the relations of all objects with one query."""
        if not with_children or not objects:
            return objects
        tenant = objects[0].tenant_id
        found = await tx.inventory.relations(tenant, [mo.id for mo in objects], MAX_EMBEDDED_REFERENCES)
        return [replace(mo, relations=found[mo.id]) if mo.id in found else mo for mo in objects]

    async def _writable(self, tx: DevicesTransaction, principal: Principal, mo_id: str) -> ManagedObject:
        found = await tx.inventory.get_managed_object(principal.tenant_id, parse_id(mo_id), for_update=True)
        if found is None or not may_read(principal, found):
            raise not_found(mo_id)
        if not may_update(principal, found):
            raise PermissionDenied("Only an inventory admin or the owner can change this managed object")
        return found

    async def _existing(self, tx: DevicesTransaction, tenant_id: str, mo_id: str) -> ManagedObject:
        found = await tx.inventory.get_managed_object(tenant_id, parse_id(mo_id))
        if found is None:
            raise not_found(mo_id)
        return found

    async def _record(
        self, tx: DevicesTransaction, tag: AuditTag, principal: Principal, subject: str, **detail: Any
    ) -> None:
        await tx.audit.record(
            AuditEvent(tag, principal.tenant_id, principal.username, subject, self._clock.now(), detail)
        )


def _may_manage_identity(principal: Principal, mo: ManagedObject) -> bool:
    return principal.has(Role.IDENTITY_ADMIN) or mo.owner == principal.username


def _external_id_not_found(id_type: str, value: str) -> NotFound:
    return NotFound(f"External id not found; external id = ID [type={id_type}, value={value}]", entity="external_id")
