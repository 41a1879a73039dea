"""SQLite: point reads run directly on the event loop (microseconds, never blocked by writers in WAL
mode); write transactions run on one writer thread with its own connection, so a busy lock held by
another process (the CLI, a second server) waits there and not on the loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from admittance.kernel.errors import Unavailable
from admittance.storage.database import Params, Row
from admittance.storage.dialect import SQLITE, Dialect

T = TypeVar("T")
_BUSY_TIMEOUT_MS = 10_000


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> Row:
    return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


def _connect(path: Path, *, query_only: bool) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=_BUSY_TIMEOUT_MS / 1000)
    connection.row_factory = _dict_row
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", f"busy_timeout={_BUSY_TIMEOUT_MS}"):
        connection.execute(f"PRAGMA {pragma}")
    if query_only:
        connection.execute("PRAGMA query_only=ON")
    return connection


class _ReadExecutor:
    """Runs on the event loop thread: only for indexed reads, which take microseconds."""

    dialect: Dialect = SQLITE

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        found: Row | None = _guard(lambda: self._connection.execute(sql, params or {}).fetchone())
        return found

    async def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]:
        return _guard(lambda: self._connection.execute(sql, params or {}).fetchall())

    async def execute(self, sql: str, params: Params | None = None) -> int:
        raise RuntimeError("the read path does not write")

    async def execute_many(self, sql: str, rows: Iterable[Params]) -> None:
        raise RuntimeError("the read path does not write")


class _WriteExecutor:
    """Runs every statement on the writer thread, inside the open transaction."""

    dialect: Dialect = SQLITE

    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        return await self._db.on_writer(lambda c: c.execute(sql, params or {}).fetchone())

    async def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]:
        return await self._db.on_writer(lambda c: c.execute(sql, params or {}).fetchall())

    async def execute(self, sql: str, params: Params | None = None) -> int:
        return await self._db.on_writer(lambda c: c.execute(sql, params or {}).rowcount)

    async def execute_many(self, sql: str, rows: Iterable[Params]) -> None:
        batch = list(rows)
        await self._db.on_writer(lambda c: c.executemany(sql, batch))


class SqliteDatabase:
    dialect: Dialect = SQLITE

    def __init__(self, path: Path) -> None:
        self._path = path
        self._reader: sqlite3.Connection | None = None
        self._writer_connection: sqlite3.Connection | None = None
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._lock: asyncio.Lock | None = None

    async def open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._reader = _connect(self._path, query_only=True)
        self._writer_connection = await self._in_thread(lambda: _connect(self._path, query_only=False))
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._writer_connection is not None:
            connection, self._writer_connection = self._writer_connection, None
            await self._in_thread(connection.close)
        self._writer.shutdown(wait=True)

    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        assert self._reader is not None, "database not open"
        reader = self._reader
        found: Row | None = _guard(lambda: reader.execute(sql, params or {}).fetchone())
        return found

    @asynccontextmanager
    async def read(self) -> AsyncIterator[_ReadExecutor]:
        assert self._reader is not None, "database not open"
        yield _ReadExecutor(self._reader)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_WriteExecutor]:
        assert self._lock is not None, "database not open"
        async with self._lock:  # one write transaction at a time per process; other processes: busy_timeout
            await self.on_writer(lambda c: c.execute("BEGIN IMMEDIATE"))
            try:
                yield _WriteExecutor(self)
            except BaseException:
                await asyncio.shield(self.on_writer(lambda c: c.execute("ROLLBACK")))
                raise
            await asyncio.shield(self.on_writer(lambda c: c.execute("COMMIT")))

    async def on_writer(self, work: Callable[[sqlite3.Connection], T]) -> T:
        connection = self._writer_connection
        assert connection is not None, "database not open"
        return await self._in_thread(lambda: _guard(lambda: work(connection)))

    async def _in_thread(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writer, work)


def _guard(work: Callable[[], T]) -> T:
    try:
        return work()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc) or "unable to open" in str(exc):
            raise Unavailable("The database is busy; try again.") from exc
        raise
