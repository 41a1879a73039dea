"""What claimed devices need from storage."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from admittance.audit import AuditStore
from admittance.claiming.model import ClaimedDevice, DeviceFilter, DevicePage, DeviceStatus, Tag, TagKind
from admittance.devices.store import InventoryStore


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


class ClaimingStorage(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[ClaimingTransaction]: ...

    def read(self) -> AbstractAsyncContextManager[ClaimingTransaction]: ...
