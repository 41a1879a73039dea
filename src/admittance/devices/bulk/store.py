"""What bulk import needs from storage: one read of everything a chunk of rows touches, group paths,
and one batched write of the chunk's plan, all inside the caller's transaction; manifests staged for
a preview; the stored passwords that still wait for argon2id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from admittance.audit import AuditEvent
from admittance.devices.model import RegistrationRequest, RegistrationStatus
from admittance.identity.model import UserKind
from admittance.jobs.store import JobsTransaction


@dataclass(frozen=True, slots=True)
class ExistingUser:
    id: int
    kind: UserKind


@dataclass(frozen=True, slots=True)
class ExistingObject:
    id: int
    owner: str
    name: str | None
    type: str | None
    fragments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ExistingRequest:
    tenant_id: str
    status: RegistrationStatus


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The stored state a chunk of rows of one tenant touches, read in a few statements."""

    tenant_exists: bool
    device_limit: int | None
    device_count: int
    users: dict[str, ExistingUser]  # by username
    external_ids: dict[tuple[str, str], int]  # (type, value) -> managed object id
    objects: dict[int, ExistingObject]  # the objects those external ids name, and the owned devices
    owned_devices: dict[str, int]  # device user name -> the first device object it owns
    requests: dict[str, ExistingRequest]  # by request (device) id


@dataclass(slots=True)
class DevicePlan:
    """One device's managed object: created (object_id None) or updated, with its new external ids."""

    owner: str
    name: str | None
    type: str | None
    fragments: dict[str, Any]
    object_id: int | None = None
    new_external_ids: list[tuple[str, str]] = field(default_factory=list)
    group_id: int | None = None


@dataclass(slots=True)
class WritePlan:
    tenant_id: str
    new_users: list[tuple[str, str]] = field(default_factory=list)  # username, password hash
    password_updates: list[tuple[int, str]] = field(default_factory=list)  # user id, password hash
    devices: list[DevicePlan] = field(default_factory=list)
    new_requests: list[RegistrationRequest] = field(default_factory=list)
    accepted_requests: list[tuple[str, str | None]] = field(default_factory=list)  # id, enrollment digest
    deleted_requests: list[str] = field(default_factory=list)
    audit: list[AuditEvent] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class GroupPath:
    id: int  # the last group of the path
    created: list[int]  # the groups that had to be created


@dataclass(frozen=True, slots=True)
class StoredObject:
    id: int
    owner: str
    owner_is_device: bool  # the owner is a device user (so the device has a password)
    name: str | None
    type: str | None
    fragments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RegistryDump:
    """A tenant's registry as stored: every managed object, external id and membership."""

    objects: list[StoredObject]
    external_ids: list[tuple[int, str, str]]  # managed object id, type, value
    memberships: list[tuple[int, int]]  # parent id, child id


class BulkStore(Protocol):
    async def snapshot(
        self,
        tenant_id: str,
        usernames: Sequence[str],
        external_ids: Sequence[tuple[str, str]],
        request_ids: Sequence[str],
        owners: Sequence[str] = (),
    ) -> Snapshot:
        """`owners`: device user names whose device objects the chunk may update."""
        ...

    async def group_path(self, tenant_id: str, owner: str, path: Sequence[str], now: datetime) -> GroupPath:
        """The id of the last group of `path`, creating the missing groups (root: c8y_DeviceGroup,
        below: c8y_DeviceSubGroup) and their membership."""
        ...

    async def write(self, plan: WritePlan, now: datetime) -> None: ...

    async def record_audit(self, events: list[AuditEvent]) -> None: ...

    async def registry_dump(self, tenant_id: str) -> RegistryDump: ...


class BulkTransaction(Protocol):
    @property
    def bulk(self) -> BulkStore: ...


@dataclass(frozen=True, slots=True)
class StagedImport:
    """A manifest uploaded for a preview (the console), kept until it is imported, discarded or
    expires; only the user who uploaded it may see or import it."""

    id: str
    tenant_id: str
    user_id: int
    filename: str
    size: int
    created_at: datetime
    expires_at: datetime


class StagedImportStore(Protocol):
    async def stage(self, staged: StagedImport, content: bytes) -> None:
        """Keep a manifest uploaded for a preview (and drop the expired ones)."""
        ...

    async def get(self, staged_id: str) -> tuple[StagedImport, bytes] | None: ...

    async def drop(self, staged_id: str) -> bool:
        """False when it was gone already (imported, discarded or expired)."""
        ...


class PendingPasswordStore(Protocol):
    async def after(self, tenant_id: str, after_user_id: int, limit: int) -> list[tuple[int, str]]:
        """(user id, stored hash) of users whose password still waits for argon2id, by id."""
        ...

    async def replace(self, user_id: int, expected: str, new: str) -> bool:
        """Compare-and-set: a password changed meanwhile wins."""
        ...

    async def count(self, tenant_id: str) -> int: ...


class ImportsTransaction(JobsTransaction, Protocol):
    """What imports as jobs need: the queue's stores and the import's own."""

    @property
    def bulk(self) -> BulkStore: ...

    @property
    def staged_imports(self) -> StagedImportStore: ...

    @property
    def pending_passwords(self) -> PendingPasswordStore: ...
