"""What maintenance is about: runs (backups and restores), stored backup files, the manifest a backup
describes itself with, and why a backup is refused."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from admittance.kernel.errors import InvalidInput, MalformedInput

INTERRUPTED = "Interrupted: the process running it stopped before it finished"
SUBJECT = "maintenance/db"
# Stored backups are named by the id of the run that made them.
BACKUP_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class BackupRefused(InvalidInput):
    """The backup cannot be restored here: another format version or schema revision, or tables
    that do not fit. Nothing was changed."""


class BackupDamaged(MalformedInput):
    """The file is not a readable backup, or its content does not match its checksums. Nothing was
    changed."""


@dataclass(frozen=True, slots=True)
class TableEntry:
    name: str
    columns: tuple[str, ...]
    rows: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Manifest:
    backup_id: str
    created_at: str  # ISO 8601, UTC
    app_version: str
    revision: str
    dialect: str
    tables: tuple[TableEntry, ...]
    sha256: str  # of the data of every table, in order

    @property
    def total_rows(self) -> int:
        return sum(entry.rows for entry in self.tables)


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
