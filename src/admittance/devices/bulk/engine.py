"""The import engine: one implementation for the Cumulocity endpoint (synchronous, it must answer
with per-row results), the background job and the CLI.

Rows are applied in chunks; each chunk is one transaction: a few reads of everything the chunk
touches, a decision per row in Python, then batched writes. A row that fails changes nothing; a
chunk that meets a concurrent writer (a Conflict from the database) is settled again row by row,
each row in its own transaction. The optional commit hook runs inside each transaction, so a job's
progress cursor moves atomically with the rows it covers (a killed job never applies a row twice).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from admittance.audit import AuditEvent, AuditTag
from admittance.devices.bulk.manifest import parse
from admittance.devices.bulk.rows import AuthType, CheckedRows, DeviceRow, RowFailure, RowStatus, read_columns
from admittance.devices.bulk.store import (
    BulkStore,
    BulkTransaction,
    DevicePlan,
    Snapshot,
    WritePlan,
)
from admittance.devices.model import RegistrationRequest, RegistrationStatus
from admittance.identity.model import UserKind
from admittance.kernel.clock import Clock
from admittance.kernel.errors import Conflict, InvalidInput
from admittance.kernel.passwords import PENDING_SCHEME, PasswordHasher
from admittance.kernel.principal import Principal, Role
from admittance.kernel.secrets import Pepper
from admittance.kernel.storage import Storage

ENROLLMENT_PURPOSE = "enrollment-token"  # the same digest purpose as a registration's enrollmentToken
DEFAULT_CHUNK_ROWS = 500
_ROW_TRIES = 3


@dataclass(frozen=True, slots=True)
class RowOutcome:
    line: int
    status: RowStatus
    device_id: str | None
    reason: str | None = None
    raw: str = ""
    pending_password_tenant: str | None = None  # the password was stored pending, in this tenant


@dataclass(slots=True)
class ImportReport:
    total: int
    created: int = 0
    updated: int = 0
    failed: int = 0
    outcomes: list[RowOutcome] = field(default_factory=list)  # credential updates and failures only
    pending_passwords: int = 0  # stored as pending keyed digests: a password-wrap job has work
    pending_tenants: set[str] = field(default_factory=set)  # where those passwords are

    @property
    def successful(self) -> int:
        return self.created + self.updated

    def add(self, outcomes: Sequence[RowOutcome]) -> None:
        for outcome in outcomes:
            if outcome.pending_password_tenant is not None:
                self.pending_passwords += 1
                self.pending_tenants.add(outcome.pending_password_tenant)
            if outcome.status is RowStatus.CREATED:
                self.created += 1
                continue
            if outcome.status is RowStatus.CREDENTIAL_UPDATED:
                self.updated += 1
            else:
                self.failed += 1
            self.outcomes.append(outcome)


@dataclass(frozen=True, slots=True)
class PreparedImport:
    rows: CheckedRows  # checked again chunk by chunk as they are applied
    full: bool
    columns: tuple[str, ...]
    separator: str
    encoding: str


# Runs inside a chunk's transaction after its rows: (transaction, outcomes, rows done in total).
CommitHook = Callable[[Any, list[RowOutcome], int], Awaitable[None]]
Progress = Callable[[int, ImportReport], None]


# Group ids by tenant and PATH, as resolved by committed chunks of one run: the next chunks skip the
# lookups (a PATH of two levels is two queries per chunk otherwise).
_GroupCache = dict[tuple[str, tuple[str, ...]], int]


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BulkImporter:
    def __init__(
        self,
        storage: Storage[BulkTransaction],
        hasher: PasswordHasher,
        pepper: Pepper,
        clock: Clock,
        *,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
    ) -> None:
        self._storage = storage
        self._secrets = _Secrets(hasher, pepper)
        self._clock = clock
        self.chunk_rows = chunk_rows

    @staticmethod
    def authorize(principal: Principal) -> None:
        principal.require(Role.DEVICE_CONTROL_ADMIN)

    def check_file(self, principal: Principal, data: bytes) -> tuple[tuple[str, ...], str, int]:
        """The whole-file checks only (encoding, CSV, header): what refuses an upload at once. Its
        columns, separator and number of rows. The rows are checked when the file is applied."""
        self.authorize(principal)
        manifest = parse(data)
        read_columns(manifest)
        return manifest.columns, manifest.separator, len(manifest.rows)

    def prepare(self, principal: Principal, data: bytes) -> PreparedImport:
        """Read and check the whole file (CPU only; run it off the event loop for big files).
        Whole-file problems raise InvalidInput; row problems become RowFailures."""
        self.authorize(principal)
        manifest = parse(data)
        columns = read_columns(manifest)
        rows = CheckedRows(manifest, columns, principal.tenant_id, may_choose_tenant=principal.in_management_tenant)
        return PreparedImport(rows, columns.full, manifest.columns, manifest.separator, manifest.encoding)

    async def run(
        self,
        principal: Principal,
        prepared: PreparedImport,
        *,
        start: int = 0,
        on_commit: CommitHook | None = None,
        progress: Progress | None = None,
        source: str = "upload",
    ) -> ImportReport:
        self.authorize(principal)
        report = ImportReport(total=len(prepared.rows))
        groups: _GroupCache = {}
        for begin in range(start, len(prepared.rows), self.chunk_rows):
            chunk = prepared.rows[begin : begin + self.chunk_rows]
            report.add(await self._commit_chunk(principal, chunk, begin, on_commit, groups))
            if progress is not None:
                progress(begin + len(chunk), report)
            await asyncio.sleep(0)  # let the device polls in between chunks
        await self._record_summary(principal, report, source)
        return report

    async def _commit_chunk(
        self,
        principal: Principal,
        chunk: list[DeviceRow | RowFailure],
        begin: int,
        on_commit: CommitHook | None,
        groups: _GroupCache,
    ) -> list[RowOutcome]:
        resolved = dict(groups)  # joins the run's cache only if this chunk commits
        try:
            async with self._storage.transaction() as tx:
                outcomes = await self.apply(tx, principal, chunk, resolved)
                if on_commit is not None:
                    await on_commit(tx, outcomes, begin + len(chunk))
            groups.update(resolved)
            return outcomes
        except Conflict:
            # Someone wrote what this chunk read meanwhile: settle each row on its own, looking
            # everything up afresh (a group may be what changed).
            groups.clear()
        settled: list[RowOutcome] = []
        for offset, row in enumerate(chunk):
            single = await self._commit_row(principal, row, begin + offset + 1, on_commit)
            settled.extend(single)
        return settled

    async def _commit_row(
        self, principal: Principal, row: DeviceRow | RowFailure, done: int, on_commit: CommitHook | None
    ) -> list[RowOutcome]:
        """One row in its own transaction, tried a few times: each try sees what the others committed."""
        reason = ""
        for _ in range(_ROW_TRIES):
            try:
                async with self._storage.transaction() as tx:
                    single = await self.apply(tx, principal, [row])
                    if on_commit is not None:
                        await on_commit(tx, single, done)
                return single
            except Conflict as exc:
                reason = exc.message
            except InvalidInput as exc:
                reason = exc.message
                break
        single = [_failed(row, f"The row could not be stored: {reason}")]
        if on_commit is not None:
            async with self._storage.transaction() as tx:
                await on_commit(tx, single, done)
        return single

    async def apply(
        self,
        tx: BulkTransaction,
        principal: Principal,
        rows: Sequence[DeviceRow | RowFailure],
        groups: _GroupCache | None = None,
    ) -> list[RowOutcome]:
        """Apply rows inside the caller's transaction; the outcomes come back in row order.
        `groups` (group ids by tenant and PATH) is read and extended."""
        groups = {} if groups is None else groups
        outcomes: dict[int, RowOutcome] = {}
        by_tenant: dict[str, list[DeviceRow]] = defaultdict(list)
        for row in rows:
            if isinstance(row, RowFailure):
                outcomes[row.line] = _failed(row, row.reason)
            else:
                by_tenant[row.tenant_id].append(row)
        now = self._clock.now()
        for tenant_id, tenant_rows in by_tenant.items():
            for outcome in await self._apply_tenant(tx.bulk, principal, tenant_id, tenant_rows, now, groups):
                outcomes[outcome.line] = outcome
        return [outcomes[row.line] for row in rows]

    async def _apply_tenant(
        self,
        store: BulkStore,
        principal: Principal,
        tenant_id: str,
        rows: list[DeviceRow],
        now: datetime,
        groups: _GroupCache,
    ) -> list[RowOutcome]:
        full = [row for row in rows if row.auth_type is not None]
        snapshot = await store.snapshot(
            tenant_id,
            [row.username for row in full if row.auth_type is AuthType.BASIC],
            [pair for row in full for pair in row.external_ids],
            [row.device_id for row in rows],
            [row.username for row in full],
        )
        if not snapshot.tenant_exists:
            return [_failed(row, f"There is no tenant {tenant_id}") for row in rows]
        planner = _ChunkPlanner(self._secrets, store, principal, snapshot, WritePlan(tenant_id), now, groups)
        outcomes = [await planner.plan(row) for row in rows]
        await store.write(planner.plan_, now)
        return outcomes

    async def _record_summary(self, principal: Principal, report: ImportReport, source: str) -> None:
        event = AuditEvent(
            AuditTag.BULK_IMPORTED,
            principal.tenant_id,
            principal.username,
            source,
            self._clock.now(),
            {"all": report.total, "created": report.created, "updated": report.updated, "failed": report.failed},
        )
        async with self._storage.transaction() as tx:
            await tx.bulk.record_audit([event])


def _merged(stored: dict[str, Any], imported: dict[str, Any]) -> dict[str, Any]:
    """The stored fragments with the file's values laid over them; objects merge key by key, so a
    re-upload never drops what the device itself reported (e.g. c8y_Mobile.imei next to iccid)."""
    merged = dict(stored)
    for key, value in imported.items():
        current = merged.get(key)
        merged[key] = _merged(current, value) if isinstance(current, dict) and isinstance(value, dict) else value
    return merged


def _failed(row: DeviceRow | RowFailure, reason: str) -> RowOutcome:
    return RowOutcome(row.line, RowStatus.FAILED, row.device_id, reason, row.raw)


@dataclass(frozen=True, slots=True)
class _Secrets:
    hasher: PasswordHasher
    pepper: Pepper

    def password_hash(self, password: str) -> str:
        return self.hasher.hash_supplied(password)

    def is_pending(self, stored: str) -> bool:
        return stored.startswith(PENDING_SCHEME + "$")

    def otp_digest(self, otp: str | None) -> str | None:
        return self.pepper.digest(ENROLLMENT_PURPOSE, otp) if otp else None


class _ChunkPlanner:
    """Decides each row of one tenant's chunk against the snapshot and adds its writes to the plan."""

    def __init__(
        self,
        secrets: _Secrets,
        store: BulkStore,
        principal: Principal,
        snapshot: Snapshot,
        plan: WritePlan,
        now: datetime,
        groups: _GroupCache,
    ) -> None:
        self._secrets = secrets
        self._store = store
        self._principal = principal
        self._snapshot = snapshot
        self.plan_ = plan
        self._now = now
        self._groups = groups
        self._new_devices = 0
        self._pending_lines: set[int] = set()

    async def plan(self, row: DeviceRow) -> RowOutcome:
        try:
            if row.auth_type is None:
                status = await self._request(row)
            elif row.auth_type is AuthType.BASIC:
                status = await self._basic(row)
            else:
                status = await self._certificates(row)
        except _Refused as refused:
            return _failed(row, refused.reason)
        tag = AuditTag.DEVICE_REIMPORTED if status is RowStatus.CREDENTIAL_UPDATED else AuditTag.DEVICE_IMPORTED
        if row.auth_type is None:
            tag = AuditTag.REGISTRATION_CREATED
        self.plan_.audit.append(
            AuditEvent(
                tag,
                self.plan_.tenant_id,
                self._principal.username,
                row.device_id,
                self._now,
                {"line": row.line, "source": "bulk"},
            )
        )
        pending = self.plan_.tenant_id if row.line in self._pending_lines else None
        return RowOutcome(row.line, status, row.device_id, raw=row.raw, pending_password_tenant=pending)

    async def _request(self, row: DeviceRow) -> RowStatus:
        existing = self._snapshot.requests.get(row.device_id)
        if existing is not None:
            raise _Refused(
                f"A registration request for device {row.device_id} exists already "
                f"(status {existing.status.value}); nothing was changed"
            )
        group_id = await self._group(row.path)
        group = str(group_id) if group_id is not None else None
        self._new_request(row, RegistrationStatus.WAITING_FOR_CONNECTION, group_id=group)
        return RowStatus.CREATED

    def _new_request(
        self, row: DeviceRow, status: RegistrationStatus, *, group_id: str | None = None, digest: str | None = None
    ) -> None:
        self.plan_.new_requests.append(
            RegistrationRequest(
                id=row.device_id,
                tenant_id=self.plan_.tenant_id,
                status=status,
                owner=self._principal.username,
                created_at=self._now,
                updated_at=self._now,
                type=row.type,
                group_id=group_id,
                enrollment_token_digest=digest,
            )
        )

    async def _basic(self, row: DeviceRow) -> RowStatus:
        snapshot = self._snapshot
        user = snapshot.users.get(row.username)
        if user is not None and user.kind is not UserKind.DEVICE:
            raise _Refused(f"The user name {row.username} belongs to a person, not a device; nothing was changed")
        device = self._device(row)
        limit = snapshot.device_limit
        if user is None and limit is not None and snapshot.device_count + self._new_devices >= limit:
            raise _Refused(f"You reached the limit of {snapshot.device_limit} devices in this tenant")
        assert row.password is not None
        password_hash = self._secrets.password_hash(row.password)
        if self._secrets.is_pending(password_hash):
            self._pending_lines.add(row.line)
        device.group_id = await self._group(row.path)
        if user is None:
            self._new_devices += 1
            self.plan_.new_users.append((row.username, password_hash))
        else:
            self.plan_.password_updates.append((user.id, password_hash))
        self.plan_.devices.append(device)
        request = snapshot.requests.get(row.device_id)
        if request is not None and request.tenant_id == self.plan_.tenant_id:
            # The device has its credentials now; a pending request must not issue others later.
            self.plan_.deleted_requests.append(row.device_id)
        return RowStatus.CREATED if user is None else RowStatus.CREDENTIAL_UPDATED

    async def _certificates(self, row: DeviceRow) -> RowStatus:
        request = self._snapshot.requests.get(row.device_id)
        if request is not None and request.tenant_id != self.plan_.tenant_id:
            raise _Refused(f"A registration request for device {row.device_id} exists in another tenant")
        device = self._device(row)
        device.group_id = await self._group(row.path)
        digest = self._secrets.otp_digest(row.enrollment_otp)
        self.plan_.devices.append(device)
        if request is not None:
            self.plan_.accepted_requests.append((row.device_id, digest))
            return RowStatus.CREDENTIAL_UPDATED
        self._new_request(row, RegistrationStatus.ACCEPTED, digest=digest)
        return RowStatus.CREATED

    def _device(self, row: DeviceRow) -> DevicePlan:
        snapshot = self._snapshot
        # The device's object: named by its IDTYPE/ID external id, else the one its device user owns
        # (a re-upload with another IDTYPE must not make a second object).
        target = snapshot.external_ids.get(row.external_ids[0]) or snapshot.owned_devices.get(row.username)
        for id_type, value in row.external_ids[1:]:
            holder = snapshot.external_ids.get((id_type, value))
            if holder is not None and holder != target:
                raise _Refused(f"The external id {id_type}/{value} belongs to another managed object ({holder})")
        new_ids = [pair for pair in row.external_ids if pair not in snapshot.external_ids]
        existing = snapshot.objects.get(target) if target is not None else None
        if existing is None:
            return DevicePlan(row.username, row.name or row.device_id, row.type, row.fragments, None, new_ids)
        return DevicePlan(
            row.username,
            row.name or existing.name,
            row.type or existing.type,
            _merged(existing.fragments, row.fragments),
            existing.id,
            new_ids,
        )

    async def _group(self, path: tuple[str, ...]) -> int | None:
        if not path:
            return None
        key = (self.plan_.tenant_id, path)
        if key not in self._groups:
            resolved = await self._store.group_path(self.plan_.tenant_id, self._principal.username, path, self._now)
            for group_id in resolved.created:
                self.plan_.audit.append(
                    AuditEvent(
                        AuditTag.MANAGED_OBJECT_CREATED,
                        self.plan_.tenant_id,
                        self._principal.username,
                        str(group_id),
                        self._now,
                        {"group": True, "source": "bulk"},
                    )
                )
            self._groups[key] = resolved.id
        return self._groups[key]
