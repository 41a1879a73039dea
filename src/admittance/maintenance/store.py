"""What maintenance needs of the database (storage/snapshots.py implements it): the run log and the audit
log in transactions, the liveness lock of a run, and the snapshot mechanics (export, verify, restore)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Protocol

from admittance.audit import AuditStore
from admittance.kernel.storage import Storage
from admittance.maintenance.model import MaintenanceRun, Manifest


class RunLock(Protocol):
    """Held for as long as a run works; released by the process's death too."""

    async def acquire(self) -> bool:
        """False when another run holds it."""
        ...

    async def release(self) -> None: ...

    async def held_elsewhere(self) -> bool: ...


class RunStore(Protocol):
    async def latest(self, kind: str) -> MaintenanceRun | None: ...

    async def get(self, run_id: str) -> MaintenanceRun | None: ...

    async def start(self, run_id: str, kind: str, now: datetime, actor: str) -> None: ...

    async def finish(
        self,
        run_id: str,
        now: datetime,
        *,
        succeeded: bool,
        message: str,
        file_name: str | None = None,
        sha256: str | None = None,
    ) -> None: ...

    async def mark_interrupted(self, now: datetime, message: str) -> None:
        """Every unfinished run is finished as failed (only while holding the run lock)."""
        ...


class SnapshotTarget(Protocol):
    async def restore(self, path: Path, manifest: Manifest) -> None:
        """Replace every table's rows with the verified backup's, in this transaction; raises (and so
        rolls back) on anything that does not match."""
        ...


class MaintenanceTransaction(Protocol):
    @property
    def runs(self) -> RunStore: ...

    @property
    def audit(self) -> AuditStore: ...

    @property
    def snapshot(self) -> SnapshotTarget: ...


class MaintenanceStorage(Storage[MaintenanceTransaction], Protocol):
    def lock(self) -> RunLock:
        """A new handle on the one run lock of this database."""
        ...

    async def revision(self) -> str:
        """The database's schema revision (a backup restores only into its own)."""
        ...

    async def export(self, target: Path, *, backup_id: str, created_at: datetime, app_version: str) -> Manifest:
        """A consistent snapshot of every table into the archive `target` (written atomically)."""
        ...

    def read_manifest(self, path: Path) -> Manifest:
        """Blocking; BackupDamaged when the file is not a backup."""
        ...

    def verify(self, path: Path, revision: str) -> Manifest:
        """Blocking; the whole file checked against the schema: BackupDamaged or BackupRefused."""
        ...
