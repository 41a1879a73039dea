"""Maintenance on this database: the run log (`maintenance_runs`), the liveness lock of a run, and the
snapshot mechanics of storage/backup.py, behind maintenance/store.py's MaintenanceStorage.

The lock: SQLite, an flock on a file next to the database (every process using that file is on
this host); PostgreSQL, a session advisory lock on a connection of its own, which the server
releases when the process dies.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import IO

import asyncpg

from admittance.kernel.clock import from_millis, to_millis
from admittance.kernel.errors import Unavailable
from admittance.maintenance.model import MaintenanceRun, Manifest
from admittance.maintenance.store import RunLock
from admittance.storage.backup import export_snapshot, read_manifest, restore_snapshot, verify
from admittance.storage.database import Database, Executor, Row
from admittance.storage.location import DatabaseLocation
from admittance.storage.sql.audit import SqlAuditStore

_ADVISORY_LOCK_KEY = 7_310_112_005


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


class SqlRunStore:
    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    async def latest(self, kind: str) -> MaintenanceRun | None:
        row = await self._executor.fetch_one(
            "SELECT * FROM maintenance_runs WHERE kind = :kind ORDER BY started_at DESC, id DESC LIMIT 1",
            {"kind": kind},
        )
        return None if row is None else _run(row)

    async def get(self, run_id: str) -> MaintenanceRun | None:
        row = await self._executor.fetch_one("SELECT * FROM maintenance_runs WHERE id = :id", {"id": run_id})
        return None if row is None else _run(row)

    async def start(self, run_id: str, kind: str, now: datetime, actor: str) -> None:
        await self._executor.execute(
            "INSERT INTO maintenance_runs (id, kind, started_at, finished_at, succeeded, status_message, "
            "file_name, sha256, actor) VALUES (:id, :kind, :now, NULL, NULL, :message, NULL, NULL, :actor)",
            {"id": run_id, "kind": kind, "now": to_millis(now), "message": "Running", "actor": actor},
        )

    async def finish(
        self,
        run_id: str,
        now: datetime,
        *,
        succeeded: bool,
        message: str,
        file_name: str | None = None,
        sha256: str | None = None,
    ) -> None:
        await self._executor.execute(
            "UPDATE maintenance_runs SET finished_at = :now, succeeded = :ok, status_message = :message, "
            "file_name = :file_name, sha256 = :sha256 WHERE id = :id",
            {
                "now": to_millis(now),
                "ok": succeeded,
                "message": message,
                "file_name": file_name,
                "sha256": sha256,
                "id": run_id,
            },
        )

    async def mark_interrupted(self, now: datetime, message: str) -> None:
        await self._executor.execute(
            "UPDATE maintenance_runs SET finished_at = :now, succeeded = :no, status_message = :message "
            "WHERE finished_at IS NULL",
            {"now": to_millis(now), "no": False, "message": message},
        )


class _SnapshotTarget:
    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    async def restore(self, path: Path, manifest: Manifest) -> None:
        await restore_snapshot(self._executor, path, manifest)


class _MaintenanceUnit:
    def __init__(self, executor: Executor) -> None:
        self.runs = SqlRunStore(executor)
        self.audit = SqlAuditStore(executor)
        self.snapshot = _SnapshotTarget(executor)


class SqlMaintenanceStorage:
    def __init__(self, database: Database, location: DatabaseLocation) -> None:
        self._database = database
        self._location = location

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_MaintenanceUnit]:
        async with self._database.transaction() as executor:
            yield _MaintenanceUnit(executor)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[_MaintenanceUnit]:
        async with self._database.read() as executor:
            yield _MaintenanceUnit(executor)

    def lock(self) -> RunLock:
        if self._location.dialect == "sqlite":
            assert self._location.sqlite_path is not None
            path = self._location.sqlite_path
            return _FileLock(path.with_name(path.name + ".maintenance-lock"))
        assert self._location.postgres_url is not None
        return _AdvisoryLock(self._location.postgres_url, self._database)

    async def revision(self) -> str:
        async with self._database.read() as executor:
            row = await executor.fetch_one("SELECT version_num FROM alembic_version")
        if row is None:
            raise Unavailable("The database has no schema revision")
        return str(row["version_num"])

    async def export(self, target: Path, *, backup_id: str, created_at: datetime, app_version: str) -> Manifest:
        return await export_snapshot(
            self._location, target, backup_id=backup_id, created_at=created_at, app_version=app_version
        )

    def read_manifest(self, path: Path) -> Manifest:
        return read_manifest(path)

    def verify(self, path: Path, revision: str) -> Manifest:
        return verify(path, revision)
