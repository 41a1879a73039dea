"""Database maintenance: backups and restores (/api/maintenance/db, `admittance backup|restore`).

One run at a time across every process sharing the database: a run holds a liveness lock for as
long as it works (SQLite: an flock on a file next to the database, which every process using that
file shares; PostgreSQL: a session advisory lock on a dedicated connection, released by the server
when the process dies). A run row still unfinished while nobody holds the lock belongs to a process
that stopped: it is marked failed as soon as anybody looks (a status read or the next run).

The runs themselves (`maintenance_runs`) are not part of a backup and are not replaced by a
restore: they are the log of this installation's maintenance, so a restore records its own
outcome in the same transaction that replaces the data (docs/decisions/0008).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Protocol

import asyncpg

from admittance import __version__
from admittance.audit import AuditEvent, AuditTag
from admittance.kernel.clock import Clock, from_millis, to_millis
from admittance.kernel.errors import (
    AdmittanceError,
    Conflict,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    Unavailable,
)
from admittance.kernel.principal import MANAGEMENT_TENANT, Principal
from admittance.storage.backup import (
    BackupDamaged,
    BackupRefused,
    Manifest,
    export_snapshot,
    file_sha256,
    read_manifest,
    restore_snapshot,
    verify,
)
from admittance.storage.database import Database, Executor, Row
from admittance.storage.location import DatabaseLocation
from admittance.storage.sql.audit import SqlAuditStore

log = logging.getLogger("admittance.maintenance")

_ADVISORY_LOCK_KEY = 7_310_112_005
_BACKUP_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
INTERRUPTED = "Interrupted: the process running it stopped before it finished"
SUBJECT = "maintenance/db"


@dataclass(frozen=True, slots=True)
class MaintenanceRun:
    id: str
    kind: str  # backup, restore
    started_at: datetime
    finished_at: datetime | None
    succeeded: bool | None  # None while running
    status_message: str
    file_name: str | None
    sha256: str | None
    actor: str


@dataclass(frozen=True, slots=True)
class MaintenanceStatus:
    running: bool
    backup: MaintenanceRun | None
    restore: MaintenanceRun | None


@dataclass(frozen=True, slots=True)
class BackupFile:
    id: str
    created_at: str
    size: int
    revision: str
    app_version: str
    dialect: str
    rows: int
    restorable: bool  # taken at this database's schema revision


@dataclass(frozen=True, slots=True)
class Actor:
    tenant_id: str
    name: str  # "tenant/username", or "cli"


class _RunLock(Protocol):
    async def acquire(self) -> bool: ...

    async def release(self) -> None: ...

    async def held_elsewhere(self) -> bool: ...


class _FileLock:
    """SQLite: every process using the database file is on this host and can flock a file next to it."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._handle: IO[bytes] | None = None

    def _try(self) -> IO[bytes] | None:
        handle = self._path.open("ab")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return None
        return handle

    async def acquire(self) -> bool:
        self._handle = self._try()
        return self._handle is not None

    async def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    async def held_elsewhere(self) -> bool:
        handle = self._try()
        if handle is None:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()
        return False


class _AdvisoryLock:
    """PostgreSQL: a session advisory lock on a connection of its own, held for the whole run."""

    def __init__(self, url: str, database: Database) -> None:
        self._url = url
        self._database = database
        self._connection: asyncpg.Connection | None = None

    async def acquire(self) -> bool:
        try:
            connection = await asyncpg.connect(self._url, timeout=15)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            raise Unavailable("The database is not reachable.") from exc
        if await connection.fetchval("SELECT pg_try_advisory_lock($1)", _ADVISORY_LOCK_KEY):
            self._connection = connection
            return True
        await connection.close()
        return False

    async def release(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()  # ends the session, and with it the lock
            self._connection = None

    async def held_elsewhere(self) -> bool:
        # A transaction-level lock taken in autocommit is released when the statement ends.
        async with self._database.read() as executor:
            row = await executor.fetch_one(
                "SELECT pg_try_advisory_xact_lock(:key) AS free", {"key": _ADVISORY_LOCK_KEY}
            )
        return not (row is not None and row["free"])


def _run(row: Row) -> MaintenanceRun:
    finished = row["finished_at"]
    succeeded = row["succeeded"]
    return MaintenanceRun(
        id=row["id"],
        kind=row["kind"],
        started_at=from_millis(row["started_at"]),
        finished_at=None if finished is None else from_millis(finished),
        succeeded=None if succeeded is None else bool(succeeded),
        status_message=row["status_message"],
        file_name=row["file_name"],
        sha256=row["sha256"],
        actor=row["actor"],
    )


class MaintenanceService:
    def __init__(
        self,
        database: Database,
        location: DatabaseLocation,
        clock: Clock,
        *,
        backup_dir: Path,
        default_tenant: str,
        app_version: str = __version__,
    ) -> None:
        self._database = database
        self._location = location
        self._clock = clock
        self.backup_dir = backup_dir
        self._default_tenant = default_tenant
        self._app_version = app_version

    # --- who ---------------------------------------------------------------------------------

    def actor(self, principal: Principal | None) -> Actor:
        """The operator behind a run. A backup holds and a restore replaces every tenant's data, so
        beyond the path permission (checked by the HTTP guard) the caller must belong to the
        installation's own tenants: the management tenant or the default tenant. None: the local
        operator through the CLI."""
        if principal is None:
            return Actor(self._default_tenant, "cli")
        if principal.tenant_id not in (MANAGEMENT_TENANT, self._default_tenant):
            raise PermissionDenied("Access is denied")
        return Actor(principal.tenant_id, f"{principal.tenant_id}/{principal.username}")

    # --- status ------------------------------------------------------------------------------

    async def status(self, principal: Principal | None) -> MaintenanceStatus:
        self.actor(principal)
        backup, restore = await self._latest("backup"), await self._latest("restore")
        unfinished = [run for run in (backup, restore) if run is not None and run.finished_at is None]
        if unfinished and not await self._lock().held_elsewhere():
            await self._recover_if_free()
            backup, restore = await self._latest("backup"), await self._latest("restore")
            unfinished = [run for run in (backup, restore) if run is not None and run.finished_at is None]
        return MaintenanceStatus(running=bool(unfinished), backup=backup, restore=restore)

    async def _latest(self, kind: str) -> MaintenanceRun | None:
        async with self._database.read() as executor:
            row = await executor.fetch_one(
                "SELECT * FROM maintenance_runs WHERE kind = :kind ORDER BY started_at DESC, id DESC LIMIT 1",
                {"kind": kind},
            )
        return None if row is None else _run(row)

    async def run(self, run_id: str) -> MaintenanceRun | None:
        async with self._database.read() as executor:
            row = await executor.fetch_one("SELECT * FROM maintenance_runs WHERE id = :id", {"id": run_id})
        return None if row is None else _run(row)

    # --- runs --------------------------------------------------------------------------------

    def _lock(self) -> _RunLock:
        if self._location.dialect == "sqlite":
            assert self._location.sqlite_path is not None
            path = self._location.sqlite_path
            return _FileLock(path.with_name(path.name + ".maintenance-lock"))
        assert self._location.postgres_url is not None
        return _AdvisoryLock(self._location.postgres_url, self._database)

    async def _recover_if_free(self) -> None:
        lock = self._lock()
        if await lock.acquire():
            try:
                await self._mark_interrupted()
            finally:
                await lock.release()

    async def _mark_interrupted(self) -> None:
        """Only while holding the lock: every unfinished run belongs to a process that stopped."""
        async with self._database.transaction() as executor:
            await executor.execute(
                "UPDATE maintenance_runs SET finished_at = :now, succeeded = :no, status_message = :message "
                "WHERE finished_at IS NULL",
                {"now": to_millis(self._clock.now()), "no": False, "message": INTERRUPTED},
            )

    @asynccontextmanager
    async def _running(self, kind: str, actor: Actor) -> AsyncIterator[str]:
        lock = self._lock()
        if not await lock.acquire():
            raise Conflict("A backup or restore is already running; try again when it has finished")
        try:
            await self._mark_interrupted()
            run_id = str(uuid.uuid4())
            async with self._database.transaction() as executor:
                await executor.execute(
                    "INSERT INTO maintenance_runs (id, kind, started_at, finished_at, succeeded, status_message, "
                    "file_name, sha256, actor) VALUES (:id, :kind, :now, NULL, NULL, :message, NULL, NULL, :actor)",
                    {
                        "id": run_id,
                        "kind": kind,
                        "now": to_millis(self._clock.now()),
                        "message": "Running",
                        "actor": actor.name,
                    },
                )
            yield run_id
        finally:
            await lock.release()

    async def _finish(
        self,
        executor: Executor,
        run_id: str,
        *,
        succeeded: bool,
        message: str,
        file_name: str | None = None,
        sha256: str | None = None,
    ) -> None:
        await executor.execute(
            "UPDATE maintenance_runs SET finished_at = :now, succeeded = :ok, status_message = :message, "
            "file_name = :file_name, sha256 = :sha256 WHERE id = :id",
            {
                "now": to_millis(self._clock.now()),
                "ok": succeeded,
                "message": message,
                "file_name": file_name,
                "sha256": sha256,
                "id": run_id,
            },
        )

    def _event(self, tag: AuditTag, actor: Actor, detail: dict[str, object]) -> AuditEvent:
        return AuditEvent(tag, actor.tenant_id, actor.name, SUBJECT, self._clock.now(), detail)

    @staticmethod
    def _failure(exc: BaseException, what: str) -> AdmittanceError:
        if isinstance(exc, AdmittanceError):
            return exc
        log.exception("the %s failed", what)
        return Unavailable(f"The {what} failed: {type(exc).__name__} (details in the server log)")

    # --- backup ------------------------------------------------------------------------------

    async def backup(
        self, principal: Principal | None, *, output: Path | None = None
    ) -> tuple[MaintenanceRun, Manifest]:
        """A consistent snapshot into `<backup_dir>/<run id>.zip` (or `output`, from the CLI)."""
        actor = self.actor(principal)
        async with self._running("backup", actor) as run_id:
            target = output if output is not None else self.backup_dir / f"{run_id}.zip"
            try:
                manifest = await export_snapshot(
                    self._location,
                    target,
                    backup_id=run_id,
                    created_at=self._clock.now(),
                    app_version=self._app_version,
                )
                digest = await asyncio.to_thread(file_sha256, target)
            except Exception as exc:
                error = self._failure(exc, "backup")
                async with self._database.transaction() as executor:
                    await self._finish(executor, run_id, succeeded=False, message=error.message)
                raise error from exc
            message = f"Backup of {manifest.total_rows} rows in {len(manifest.tables)} tables"
            async with self._database.transaction() as executor:
                await self._finish(
                    executor, run_id, succeeded=True, message=message, file_name=target.name, sha256=digest
                )
                await SqlAuditStore(executor).record(
                    self._event(
                        AuditTag.DATABASE_BACKED_UP,
                        actor,
                        {"backup": run_id, "file": target.name, "sha256": digest, "rows": manifest.total_rows},
                    )
                )
        found = await self.run(run_id)
        assert found is not None
        return found, manifest

    # --- stored backups ----------------------------------------------------------------------

    def _stored(self, backup_id: str) -> Path:
        if not _BACKUP_ID.fullmatch(backup_id):
            raise NotFound("No backup is stored under that id")
        path = self.backup_dir / f"{backup_id}.zip"
        if not path.is_file():
            raise NotFound("No backup is stored under that id")
        return path

    async def list_backups(self, principal: Principal | None) -> list[BackupFile]:
        """The backups in the backup folder, newest first; files that are not backups are skipped."""
        self.actor(principal)
        revision = await self._revision()
        return await asyncio.to_thread(self._scan, revision)

    def _scan(self, revision: str) -> list[BackupFile]:
        found: list[BackupFile] = []
        if not self.backup_dir.is_dir():
            return found
        for path in self.backup_dir.iterdir():
            if path.suffix != ".zip" or not _BACKUP_ID.fullmatch(path.stem) or not path.is_file():
                continue
            try:
                manifest = read_manifest(path)
            except AdmittanceError:
                continue
            found.append(
                BackupFile(
                    id=path.stem,
                    created_at=manifest.created_at,
                    size=path.stat().st_size,
                    revision=manifest.revision,
                    app_version=manifest.app_version,
                    dialect=manifest.dialect,
                    rows=manifest.total_rows,
                    restorable=manifest.revision == revision,
                )
            )
        found.sort(key=lambda item: (item.created_at, item.id), reverse=True)
        return found

    async def download(self, principal: Principal, backup_id: str) -> Path:
        """The file of a stored backup; the download is audited (it holds every password hash)."""
        actor = self.actor(principal)
        path = self._stored(backup_id)
        async with self._database.transaction() as executor:
            await SqlAuditStore(executor).record(
                self._event(AuditTag.DATABASE_BACKUP_DOWNLOADED, actor, {"backup": backup_id})
            )
        return path

    # --- restore -----------------------------------------------------------------------------

    async def _revision(self) -> str:
        async with self._database.read() as executor:
            row = await executor.fetch_one("SELECT version_num FROM alembic_version")
        if row is None:
            raise Unavailable("The database has no schema revision")
        return str(row["version_num"])

    async def _source(self, backup_id: str | None, upload: Path | None) -> tuple[Path, str]:
        if upload is not None:
            return upload, "uploaded file"
        if backup_id is None:
            stored = await asyncio.to_thread(self._scan, await self._revision())
            if not stored:
                raise NotFound("There is no backup to restore: none is stored in the backup folder")
            backup_id = stored[0].id
        path = self._stored(backup_id)
        return path, f"backup {backup_id}"

    async def restore(
        self, principal: Principal | None, *, backup_id: str | None = None, upload: Path | None = None
    ) -> MaintenanceRun:
        """Replace every table's rows with a backup's: a stored one (by id; without id the newest)
        or a file (`upload`). Checked completely first; then one transaction. On any failure the
        database is left as it was and the run is recorded as failed."""
        actor = self.actor(principal)
        async with self._running("restore", actor) as run_id:
            file_name: str | None = None
            digest: str | None = None
            try:
                path, label = await self._source(backup_id, upload)
                file_name = path.name
                digest = await asyncio.to_thread(file_sha256, path)
                if upload is None:
                    await self._check_recorded(path.stem, digest)
                manifest = await asyncio.to_thread(verify, path, await self._revision())
                message = (
                    f"Restored {label} (id {manifest.backup_id}, taken {manifest.created_at} on {manifest.dialect}): "
                    f"{manifest.total_rows} rows in {len(manifest.tables)} tables"
                )
                async with self._database.transaction() as executor:
                    await restore_snapshot(executor, path, manifest)
                    await self._finish(
                        executor, run_id, succeeded=True, message=message, file_name=file_name, sha256=digest
                    )
                    await SqlAuditStore(executor).record(
                        self._event(
                            AuditTag.DATABASE_RESTORED,
                            actor,
                            {
                                "run": run_id,
                                "backup": manifest.backup_id,
                                "takenAt": manifest.created_at,
                                "sourceDialect": manifest.dialect,
                                "sha256": digest,
                                "rows": manifest.total_rows,
                            },
                        )
                    )
            except Exception as exc:
                error = self._failure(exc, "restore")
                async with self._database.transaction() as executor:
                    await self._finish(
                        executor, run_id, succeeded=False, message=error.message, file_name=file_name, sha256=digest
                    )
                    await SqlAuditStore(executor).record(
                        self._event(AuditTag.DATABASE_RESTORE_FAILED, actor, {"run": run_id, "reason": error.message})
                    )
                raise error from exc
        found = await self.run(run_id)
        assert found is not None
        return found

    async def _check_recorded(self, backup_id: str, digest: str) -> None:
        """A stored backup whose run recorded its file checksum must still have it."""
        recorded = await self.run(backup_id)
        if recorded is not None and recorded.sha256 is not None and recorded.sha256 != digest:
            raise BackupDamaged(
                f"The backup file {backup_id}.zip changed since it was made (its SHA-256 differs from the one "
                "recorded); nothing was changed"
            )

    async def save_upload(self, chunks: AsyncIterator[bytes], max_bytes: int) -> Path:
        """Stream an uploaded backup into a private temporary file in the backup folder."""
        self.backup_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.backup_dir / f".upload-{uuid.uuid4()}.zip"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        size = 0
        try:
            with os.fdopen(descriptor, "wb") as handle:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise PayloadTooLarge(f"The backup file is larger than the limit of {max_bytes} bytes")
                    handle.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path


__all__ = [
    "Actor",
    "BackupDamaged",
    "BackupFile",
    "BackupRefused",
    "MaintenanceRun",
    "MaintenanceService",
    "MaintenanceStatus",
]
