"""What claiming needs from storage: claimed devices and tags, claim tokens (identity keys, seen nonces,
challenges, the tenant's verification mode), provisioning commands and rules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from admittance.audit import AuditStore
from admittance.claiming.model import (
    Challenge,
    ClaimedDevice,
    DeviceFilter,
    DevicePage,
    DeviceStatus,
    IdentityKey,
    Tag,
    TagKind,
)
from admittance.claiming.provisioning_model import (
    ClaimedDeviceRef,
    CommandStatus,
    ProvisioningCommand,
    ProvisioningRule,
)
from admittance.devices.store import InventoryStore
from admittance.pki.store import CertificateStore


class ClaimedDeviceStore(Protocol):
    async def insert(self, device: ClaimedDevice) -> bool:
        """False when the device UUID is claimed already (by any tenant)."""
        ...

    async def get(self, device_id: str, *, for_update: bool = False) -> ClaimedDevice | None:
        """Whoever claimed it; the caller checks the tenant."""
        ...

    async def page(
        self, tenant_id: str, filters: DeviceFilter, after: tuple[int, str] | None, limit: int
    ) -> DevicePage: ...

    async def delete(self, tenant_id: str, device_id: str) -> bool: ...

    async def set_status(self, tenant_id: str, device_id: str, status: DeviceStatus, now: datetime) -> bool: ...

    async def set_tags(self, tenant_id: str, device_id: str, tags: Sequence[str], now: datetime) -> None: ...

    async def insert_tag(self, tag: Tag) -> bool:
        """False when the tenant has this tag (of this kind) already."""
        ...

    async def get_tag(self, tenant_id: str, kind: TagKind, tag_id: str) -> Tag | None: ...

    async def list_tags(self, tenant_id: str, kind: TagKind) -> list[Tag]: ...

    async def update_tag(self, tag: Tag, old_name: str, *, on_devices: bool) -> bool:
        """False when the new name is taken; with on_devices, renames on every device of the tenant."""
        ...

    async def delete_tag(self, tag: Tag, *, on_devices: bool) -> list[str]:
        """Deletes the definition; with on_devices, removes the tag from every device (returned)."""
        ...


class ClaimingTransaction(Protocol):
    @property
    def claimed_devices(self) -> ClaimedDeviceStore: ...

    @property
    def inventory(self) -> InventoryStore: ...

    @property
    def audit(self) -> AuditStore: ...


class ClaimTokenStore(Protocol):
    async def claim_verification(self, tenant_id: str) -> str | None: ...

    async def set_claim_verification(self, tenant_id: str, mode: str) -> bool:
        """False when there is no such tenant."""
        ...

    async def identity_key(self, tenant_id: str, device_uuid: str) -> str | None: ...

    async def upsert_identity_keys(self, tenant_id: str, keys: Sequence[tuple[str, str]], now: datetime) -> int:
        """Insert or replace (device UUID, PEM) pairs; returns how many were new."""
        ...

    async def identity_keys(self, tenant_id: str, after: str | None, limit: int) -> list[IdentityKey]: ...

    async def count_identity_keys(self, tenant_id: str) -> int: ...

    async def delete_identity_key(self, tenant_id: str, device_uuid: str) -> bool: ...

    async def record_nonce(self, device_uuid: str, nonce: str, now: datetime) -> bool:
        """Atomic: False when the pair was seen before (a replay)."""
        ...

    async def nonce_seen(self, device_uuid: str, nonce: str) -> bool: ...

    async def insert_challenge(self, nonce: str, tenant_id: str, expires_at: datetime) -> None: ...

    async def challenge(self, nonce: str) -> Challenge | None: ...

    async def use_challenge(self, nonce: str, tenant_id: str, now: datetime) -> bool:
        """Conditional: only an unused, unexpired challenge of the tenant is marked used."""
        ...


class ClaimTokenTransaction(Protocol):
    @property
    def claim_tokens(self) -> ClaimTokenStore: ...

    @property
    def audit(self) -> AuditStore: ...


class ProvisioningStore(Protocol):
    async def device(self, device_id: str) -> ClaimedDeviceRef | None: ...

    async def devices_with_tags(self, tenant_id: str, tags: Sequence[str]) -> list[str]: ...

    async def open_count(self, device_id: str) -> int: ...

    async def max_position(self, device_id: str) -> int: ...

    async def insert_command(self, command: ProvisioningCommand) -> None: ...

    async def commands(self, device_id: str) -> list[ProvisioningCommand]: ...

    async def command(self, device_id: str, command_id: str) -> ProvisioningCommand | None: ...

    async def update_command(
        self, command_id: str, status: CommandStatus, response: Mapping[str, Any] | None, now: datetime
    ) -> None: ...

    async def shift_positions(self, device_id: str, after_position: int) -> None:
        """Move every command after `after_position` one place on (making room after it)."""
        ...

    async def has_rule_commands(self, device_id: str, rule_id: str) -> bool: ...

    async def delete_command(self, command_id: str) -> None: ...

    async def insert_rule(self, rule: ProvisioningRule) -> None: ...

    async def update_rule(self, rule: ProvisioningRule) -> None: ...

    async def delete_rule(self, tenant_id: str, rule_id: str) -> bool: ...

    async def rule(self, tenant_id: str, rule_id: str) -> ProvisioningRule | None: ...

    async def rules(self, tenant_id: str) -> list[ProvisioningRule]: ...

    async def active_rules(self, tenant_id: str) -> list[ProvisioningRule]: ...


class ProvisioningTransaction(Protocol):
    @property
    def provisioning(self) -> ProvisioningStore: ...

    @property
    def audit(self) -> AuditStore: ...

    @property
    def certificates(self) -> CertificateStore: ...


# --- validation of command requests ----------------------------------------------------------------
