"""SQLite: reads and write transactions run on the event loop (statements take microseconds in WAL
mode); only waiting for a write lock held by another process happens on a helper thread."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

from admittance.kernel.errors import Conflict, Unavailable
from admittance.storage.database import Params, Row
from admittance.storage.dialect import SQLITE, Dialect

T = TypeVar("T")
_BUSY_TIMEOUT_MS = 10_000


def _connect(path: Path, *, query_only: bool) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=_BUSY_TIMEOUT_MS / 1000)
    connection.row_factory = sqlite3.Row
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


class _WriteExecutor(_ReadExecutor):
    """Runs the statements of an open write transaction on the event loop: once BEGIN IMMEDIATE holds
    the write lock, a statement in WAL mode takes microseconds and never waits on another writer."""

    async def execute(self, sql: str, params: Params | None = None) -> int:
        return _guard(lambda: self._connection.execute(sql, params or {}).rowcount)

    async def execute_many(self, sql: str, rows: Iterable[Params]) -> None:
        batch = list(rows)
        _guard(lambda: self._connection.executemany(sql, batch))


class SqliteDatabase:
    """One reader and one writer connection per process, both used on the event loop thread.

    Only taking the write lock can wait (on another process: the CLI, a second server): BEGIN
    IMMEDIATE is first tried without waiting, and when the lock is held elsewhere it is retried on a
    helper thread with the busy timeout, so the wait never blocks the loop. Each transaction then
    costs no thread hop and no extra loop iteration; that keeps writes cheap while hundreds of
    connections keep the loop busy.
    """

    dialect: Dialect = SQLITE

    def __init__(self, path: Path) -> None:
        self._path = path
        self._reader: sqlite3.Connection | None = None
        self._read_executor: _ReadExecutor | None = None
        self._writer: sqlite3.Connection | None = None
        self._waiter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-lock-wait")
        self._lock: asyncio.Lock | None = None

    async def open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._reader = _connect(self._path, query_only=True)
        self._read_executor = _ReadExecutor(self._reader)
        self._writer = _connect(self._path, query_only=False)
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        for connection in (self._reader, self._writer):
            if connection is not None:
                connection.close()
        self._reader = self._writer = None
        self._read_executor = None
        self._waiter.shutdown(wait=True)

    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        assert self._read_executor is not None, "database not open"
        return await self._read_executor.fetch_one(sql, params)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[_ReadExecutor]:
        assert self._read_executor is not None, "database not open"
        yield self._read_executor

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_WriteExecutor]:
        assert self._lock is not None, "database not open"
        assert self._writer is not None, "database not open"
        writer = self._writer
        async with self._lock:  # one write transaction at a time in this process
            await self._begin(writer)
            try:
                yield _WriteExecutor(writer)
                _guard(lambda: writer.execute("COMMIT"))
            except BaseException:
                if writer.in_transaction:
                    writer.execute("ROLLBACK")
                raise

    async def _begin(self, writer: sqlite3.Connection) -> None:
        writer.execute("PRAGMA busy_timeout=0")
        try:
            writer.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
        finally:
            writer.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        # Another process holds the write lock: wait for it off the loop.
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._waiter, lambda: _guard(lambda: writer.execute("BEGIN IMMEDIATE")))


def _guard(work: Callable[[], T]) -> T:
    try:
        return work()
    except sqlite3.IntegrityError as exc:
        # Use cases settle uniqueness with ON CONFLICT; reaching this is a race with another writer.
        raise Conflict("The change conflicts with data stored meanwhile; try again.") from exc
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc) or "unable to open" in str(exc):
            raise Unavailable("The database is busy; try again.") from exc
        raise
