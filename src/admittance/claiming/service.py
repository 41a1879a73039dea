"""Claimed devices: claim by attestation token (JSON, CSV, dry run), list, get, unclaim, block,
unblock, tags; and the tenants' tag definitions (docs/compat/nrfcloud/claiming.md).

Every state change runs in one transaction with its audit event; the token is verified (and its
nonce consumed) in the same transaction, so a failed claim consumes nothing."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Protocol

from admittance.audit import AuditEvent, AuditTag
from admittance.claiming.model import (
    DEVICE_ID_TYPE,
    DEVICE_MO_TYPE,
    MAX_CSV_ROWS,
    OWNERSHIP_IDENTIFIED,
    ClaimedDevice,
    CsvClaimResult,
    DeviceFilter,
    DevicePage,
    DeviceStatus,
    Tag,
    TagKind,
    normalize_tags,
    validate_tag,
)
from admittance.claiming.store import ClaimingTransaction
from admittance.claiming.token import parse_claim_token
from admittance.devices.inventory_model import ExternalId
from admittance.kernel.clock import Clock
from admittance.kernel.errors import AdmittanceError, Conflict, InvalidInput, MalformedInput, NotFound
from admittance.kernel.principal import Principal, Role
from admittance.kernel.storage import Storage

ALREADY_CLAIMED = "This device is already claimed"


class _Token(Protocol):
    @property
    def device_uuid(self) -> str: ...

    @property
    def device_type(self) -> int: ...

    @property
    def firmware_uuid(self) -> str: ...


class _Verified(Protocol):
    @property
    def token(self) -> _Token: ...

    @property
    def identity_key_pem(self) -> str | None: ...


class Verifier(Protocol):
    """claiming/verification.py ClaimVerifier."""

    async def verify_in(self, tx: Any, tenant_id: str, token_text: str, *, consume: bool) -> Any: ...


class ProvisioningHook(Protocol):
    """claiming/provisioning.py ProvisioningService: queues the commands of matching active rules."""

    async def on_device_tags_in(self, tx: Any, tenant_id: str, device_id: str, tags: Sequence[str]) -> None: ...


def sees_restricted(principal: Principal) -> bool:
    """Admins and owners (and whoever holds their permissions) see devices that admins claimed."""
    return principal.has(Role.NRF_ADMIN)


def device_not_found(device_id: str) -> NotFound:
    return NotFound(f"Claimed device {device_id} not found", entity="claimed_device")


def parse_csv_rows(data: bytes) -> list[tuple[int, str, str]]:
    """(row index from 0, token, tags field) per non-blank row of `"<token>","<tags>"` CSV."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MalformedInput("The CSV body is not UTF-8 text") from None
    try:
        parsed = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise MalformedInput(f"The CSV body does not parse: {exc}") from None
    rows: list[tuple[int, str, str]] = []
    for index, fields in enumerate(parsed):
        if not fields or not any(field.strip() for field in fields):
            continue
        if index == 0 and fields[0].strip().lower() in ("claimtoken", "token"):
            continue  # a header row
        if len(fields) > 2:
            raise InvalidInput(f"CSV row {index}: expected 1 or 2 fields (token, tags), got {len(fields)}")
        rows.append((index, fields[0].strip(), fields[1] if len(fields) > 1 else ""))
    if len(rows) > MAX_CSV_ROWS:
        raise InvalidInput(f"At most {MAX_CSV_ROWS} rows per request")
    if not rows:
        raise InvalidInput("The CSV body has no rows")
    return rows


class ClaimingService:
    def __init__(
        self,
        storage: Storage[ClaimingTransaction],
        verifier: Verifier,
        clock: Clock,
        provisioning: ProvisioningHook | None = None,
    ) -> None:
        self._storage = storage
        self._verifier = verifier
        self._clock = clock
        self.provisioning = provisioning

    # --- claiming --------------------------------------------------------------------------------

    async def claim(self, principal: Principal, token_text: object, tags: object = None) -> ClaimedDevice:
        if not isinstance(token_text, str) or not token_text:
            raise InvalidInput("'claimToken' must be a non-empty string", field="claimToken")
        wanted = normalize_tags(tags)
        async with self._storage.transaction() as tx:
            return await self._claim_in(tx, principal, token_text, wanted)

    async def dry_run(self, principal: Principal, token_text: object) -> None:
        """Could this token claim its device? Raises what a claim would raise; consumes nothing."""
        if not isinstance(token_text, str) or not token_text:
            raise InvalidInput("'claimToken' must be a non-empty string", field="claimToken")
        async with self._storage.read() as tx:
            verified: _Verified = await self._verifier.verify_in(tx, principal.tenant_id, token_text, consume=False)
            if await tx.claimed_devices.get(verified.token.device_uuid) is not None:
                raise Conflict(ALREADY_CLAIMED, entity="claimed_device")

    async def claim_csv(self, principal: Principal, data: bytes) -> CsvClaimResult:
        """Each row in its own transaction: the good rows are claimed, the others reported."""
        claimed: list[str] = []
        failed: list[dict[str, str]] = []
        for index, token_text, tags in parse_csv_rows(data):
            device_id, error = await self.claim_row(principal, token_text, tags)
            if error is None:
                claimed.append(device_id)
            else:
                failed.append({"row": str(index), "deviceId": device_id, "message": error})
        return CsvClaimResult(claimed, failed)

    async def claim_row(self, principal: Principal, token_text: str, tags: str) -> tuple[str, str | None]:
        """(device id or "", None on success else the error message) for one CSV row."""
        device_id = _device_id_of(token_text)
        try:
            device = await self.claim(principal, token_text, [tags] if tags else None)
        except AdmittanceError as exc:
            return device_id, exc.message
        return device.id, None

    async def _claim_in(
        self, tx: ClaimingTransaction, principal: Principal, token_text: str, tags: tuple[str, ...]
    ) -> ClaimedDevice:
        tenant_id = principal.tenant_id
        verified: _Verified = await self._verifier.verify_in(tx, tenant_id, token_text, consume=True)
        token = verified.token
        if await tx.claimed_devices.get(token.device_uuid, for_update=True) is not None:
            raise Conflict(ALREADY_CLAIMED, entity="claimed_device")
        now = self._clock.now()
        mo_id = await self._registry_entry(tx, principal, token.device_uuid, token.device_type, token.firmware_uuid)
        device = ClaimedDevice(
            id=token.device_uuid,
            tenant_id=tenant_id,
            device_type=token.device_type,
            firmware_id=token.firmware_uuid,
            imei=None,
            ownership_status=OWNERSHIP_IDENTIFIED,
            status=DeviceStatus.READY,
            claimed_by=principal.username,
            restricted=sees_restricted(principal),
            identity_key_pem=verified.identity_key_pem,
            managed_object_id=mo_id,
            claimed_at=now,
            updated_at=now,
            tags=tags,
        )
        if not await tx.claimed_devices.insert(device):
            raise Conflict(ALREADY_CLAIMED, entity="claimed_device")
        await self._record(tx, AuditTag.NRF_DEVICE_CLAIMED, principal, device.id, tags=list(tags))
        if self.provisioning is not None:
            await self.provisioning.on_device_tags_in(tx, tenant_id, device.id, tags)
        return device

    async def _registry_entry(
        self, tx: ClaimingTransaction, principal: Principal, device_uuid: str, device_type: int, firmware: str
    ) -> int:
        """The device's managed object in the registry: found by its external id, or created."""
        tenant_id = principal.tenant_id
        found = await tx.inventory.find_external_id(tenant_id, DEVICE_ID_TYPE, device_uuid)
        if found is not None:
            return found.managed_object_id
        fragments = {"c8y_IsDevice": {}, "nrf_ClaimedDevice": {"deviceType": device_type, "firmwareId": firmware}}
        mo = await tx.inventory.create_managed_object(
            tenant_id, principal.username, device_uuid, DEVICE_MO_TYPE, fragments, self._clock.now()
        )
        await tx.inventory.add_external_id(ExternalId(tenant_id, DEVICE_ID_TYPE, device_uuid, mo.id))
        return mo.id

    # --- claimed devices -------------------------------------------------------------------------

    async def list_devices(
        self, principal: Principal, filters: DeviceFilter, after: tuple[int, str] | None, limit: int
    ) -> DevicePage:
        filters = replace(filters, include_restricted=sees_restricted(principal))
        async with self._storage.read() as tx:
            return await tx.claimed_devices.page(principal.tenant_id, filters, after, limit)

    async def get_device(self, principal: Principal, device_id: str) -> ClaimedDevice:
        async with self._storage.read() as tx:
            return await self._visible(tx, principal, device_id)

    async def unclaim(self, principal: Principal, device_id: str) -> None:
        async with self._storage.transaction() as tx:
            device = await self._visible(tx, principal, device_id, for_update=True)
            await tx.inventory.delete_external_id(device.tenant_id, DEVICE_ID_TYPE, device.id)
            if device.managed_object_id is not None:
                await tx.inventory.delete_managed_objects(device.tenant_id, device.managed_object_id, cascade=False)
            await tx.claimed_devices.delete(device.tenant_id, device.id)
            await self._record(tx, AuditTag.NRF_DEVICE_UNCLAIMED, principal, device.id)

    async def set_blocked(self, principal: Principal, device_id: str, *, blocked: bool) -> ClaimedDevice:
        status = DeviceStatus.BLOCKED if blocked else DeviceStatus.READY
        tag = AuditTag.NRF_DEVICE_BLOCKED if blocked else AuditTag.NRF_DEVICE_UNBLOCKED
        async with self._storage.transaction() as tx:
            device = await self._visible(tx, principal, device_id, for_update=True)
            now = self._clock.now()
            if device.status is not status:
                await tx.claimed_devices.set_status(device.tenant_id, device.id, status, now)
                await self._record(tx, tag, principal, device.id)
                device = replace(device, status=status, updated_at=now)
            return device

    async def set_tags(self, principal: Principal, device_id: str, tags: object) -> ClaimedDevice:
        wanted = normalize_tags(tags)
        async with self._storage.transaction() as tx:
            device = await self._visible(tx, principal, device_id, for_update=True)
            now = self._clock.now()
            await tx.claimed_devices.set_tags(device.tenant_id, device.id, wanted, now)
            await self._record(tx, AuditTag.NRF_DEVICE_TAGS_SET, principal, device.id, tags=list(wanted))
            if self.provisioning is not None:
                await self.provisioning.on_device_tags_in(tx, device.tenant_id, device.id, wanted)
            return replace(device, tags=wanted, updated_at=now)

    async def _visible(
        self, tx: ClaimingTransaction, principal: Principal, device_id: str, *, for_update: bool = False
    ) -> ClaimedDevice:
        device = await tx.claimed_devices.get(device_id.lower(), for_update=for_update)
        if (
            device is None
            or device.tenant_id != principal.tenant_id
            or (device.restricted and not sees_restricted(principal))
        ):
            raise device_not_found(device_id)
        return device

    # --- tag definitions -------------------------------------------------------------------------

    async def create_tag(self, principal: Principal, kind: TagKind, tag: object, description: object) -> Tag:
        name = validate_tag(tag).strip()
        text = _description(description)
        created = Tag(str(uuid.uuid4()), principal.tenant_id, kind, name, text, self._clock.now())
        async with self._storage.transaction() as tx:
            if not await tx.claimed_devices.insert_tag(created):
                raise Conflict(f"The tag {name} exists already", entity="tag")
            await self._record(tx, AuditTag.NRF_TAG_CREATED, principal, created.id, name=name, kind=kind.value)
        return created

    async def list_tags(self, principal: Principal, kind: TagKind) -> list[Tag]:
        async with self._storage.read() as tx:
            return await tx.claimed_devices.list_tags(principal.tenant_id, kind)

    async def get_tag(self, principal: Principal, kind: TagKind, tag_id: str) -> Tag:
        async with self._storage.read() as tx:
            return await self._tag(tx, principal, kind, tag_id)

    async def update_tag(self, principal: Principal, kind: TagKind, tag_id: str, body: dict[str, Any]) -> Tag:
        async with self._storage.transaction() as tx:
            found = await self._tag(tx, principal, kind, tag_id)
            name = validate_tag(body["tag"]).strip() if "tag" in body else found.tag
            text = _description(body["description"]) if "description" in body else found.description
            updated = replace(found, tag=name, description=text)
            if not await tx.claimed_devices.update_tag(updated, found.tag, on_devices=kind is TagKind.CLAIMED):
                raise Conflict(f"The tag {name} exists already", entity="tag")
            await self._record(tx, AuditTag.NRF_TAG_UPDATED, principal, tag_id, name=name, kind=kind.value)
            return updated

    async def delete_tag(self, principal: Principal, kind: TagKind, tag_id: str) -> None:
        async with self._storage.transaction() as tx:
            found = await self._tag(tx, principal, kind, tag_id)
            devices = await tx.claimed_devices.delete_tag(found, on_devices=kind is TagKind.CLAIMED)
            await self._record(
                tx, AuditTag.NRF_TAG_DELETED, principal, tag_id, name=found.tag, kind=kind.value, devices=len(devices)
            )

    async def _tag(self, tx: ClaimingTransaction, principal: Principal, kind: TagKind, tag_id: str) -> Tag:
        found = await tx.claimed_devices.get_tag(principal.tenant_id, kind, tag_id)
        if found is None:
            raise NotFound(f"Tag {tag_id} not found", entity="tag")
        return found

    async def _record(
        self, tx: ClaimingTransaction, tag: AuditTag, principal: Principal, subject: str, **detail: Any
    ) -> None:
        await tx.audit.record(
            AuditEvent(tag, principal.tenant_id, principal.username, subject, self._clock.now(), detail)
        )


def _description(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > 1000:
        raise InvalidInput("'description' must be a string of at most 1000 characters", field="description")
    return value


def _device_id_of(token_text: str) -> str:
    """The device UUID of a token that parses, else "" (for reporting a failed CSV row)."""
    try:
        return parse_claim_token(token_text).device_uuid
    except AdmittanceError:
        return ""
