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
import hashlib
import logging
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from admittance import __version__
from admittance.audit import AuditEvent, AuditTag
from admittance.kernel.clock import Clock
from admittance.kernel.errors import AdmittanceError, Conflict, NotFound, PayloadTooLarge, PermissionDenied, Unavailable
from admittance.kernel.principal import MANAGEMENT_TENANT, Principal
from admittance.maintenance.model import (
    BACKUP_ID,
    INTERRUPTED,
    SUBJECT,
    Actor,
    BackupDamaged,
    BackupFile,
    MaintenanceRun,
    MaintenanceStatus,
    Manifest,
)
from admittance.maintenance.store import MaintenanceStorage

log = logging.getLogger("admittance.maintenance")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


class MaintenanceService:
    def __init__(
        self,
        storage: MaintenanceStorage,
        clock: Clock,
        *,
        backup_dir: Path,
        default_tenant: str,
        app_version: str = __version__,
    ) -> None:
        self._storage = storage
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
        if unfinished and not await self._storage.lock().held_elsewhere():
            await self._recover_if_free()
            backup, restore = await self._latest("backup"), await self._latest("restore")
            unfinished = [run for run in (backup, restore) if run is not None and run.finished_at is None]
        return MaintenanceStatus(running=bool(unfinished), backup=backup, restore=restore)

    async def _latest(self, kind: str) -> MaintenanceRun | None:
        async with self._storage.read() as tx:
            return await tx.runs.latest(kind)

    async def run(self, run_id: str) -> MaintenanceRun | None:
        async with self._storage.read() as tx:
            return await tx.runs.get(run_id)

    # --- runs --------------------------------------------------------------------------------

    async def _recover_if_free(self) -> None:
        lock = self._storage.lock()
        if await lock.acquire():
            try:
                await self._mark_interrupted()
            finally:
                await lock.release()

    async def _mark_interrupted(self) -> None:
        """Only while holding the lock: every unfinished run belongs to a process that stopped."""
        async with self._storage.transaction() as tx:
            await tx.runs.mark_interrupted(self._clock.now(), INTERRUPTED)

    @asynccontextmanager
    async def _running(self, kind: str, actor: Actor) -> AsyncIterator[str]:
        lock = self._storage.lock()
        if not await lock.acquire():
            raise Conflict("A backup or restore is already running; try again when it has finished")
        try:
            await self._mark_interrupted()
            run_id = str(uuid.uuid4())
            async with self._storage.transaction() as tx:
                await tx.runs.start(run_id, kind, self._clock.now(), actor.name)
            yield run_id
        finally:
            await lock.release()

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
                manifest = await self._storage.export(
                    target,
                    backup_id=run_id,
                    created_at=self._clock.now(),
                    app_version=self._app_version,
                )
                digest = await asyncio.to_thread(file_sha256, target)
            except Exception as exc:
                error = self._failure(exc, "backup")
                async with self._storage.transaction() as tx:
                    await tx.runs.finish(run_id, self._clock.now(), succeeded=False, message=error.message)
                raise error from exc
            message = f"Backup of {manifest.total_rows} rows in {len(manifest.tables)} tables"
            async with self._storage.transaction() as tx:
                await tx.runs.finish(
                    run_id, self._clock.now(), succeeded=True, message=message, file_name=target.name, sha256=digest
                )
                await tx.audit.record(
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
        if not BACKUP_ID.fullmatch(backup_id):
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
            if path.suffix != ".zip" or not BACKUP_ID.fullmatch(path.stem) or not path.is_file():
                continue
            try:
                manifest = self._storage.read_manifest(path)
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
        async with self._storage.transaction() as tx:
            await tx.audit.record(self._event(AuditTag.DATABASE_BACKUP_DOWNLOADED, actor, {"backup": backup_id}))
        return path

    # --- restore -----------------------------------------------------------------------------

    async def _revision(self) -> str:
        return await self._storage.revision()

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
                manifest = await asyncio.to_thread(self._storage.verify, path, await self._revision())
                message = (
                    f"Restored {label} (id {manifest.backup_id}, taken {manifest.created_at} on {manifest.dialect}): "
                    f"{manifest.total_rows} rows in {len(manifest.tables)} tables"
                )
                async with self._storage.transaction() as tx:
                    await tx.snapshot.restore(path, manifest)
                    await tx.runs.finish(
                        run_id, self._clock.now(), succeeded=True, message=message, file_name=file_name, sha256=digest
                    )
                    await tx.audit.record(
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
                async with self._storage.transaction() as tx:
                    await tx.runs.finish(
                        run_id,
                        self._clock.now(),
                        succeeded=False,
                        message=error.message,
                        file_name=file_name,
                        sha256=digest,
                    )
                    await tx.audit.record(
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
