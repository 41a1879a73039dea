"""PostgreSQL through an asyncpg pool. Measured on this machine (docs/performance.md), psycopg's
async pool cost about 0.35 ms more server CPU per device poll than asyncpg; asyncpg also caches
prepared statements per connection. (Alembic migrations run on psycopg through SQLAlchemy.)"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import asyncpg

from admittance.kernel.errors import Conflict, InvalidInput, Unavailable
from admittance.storage.database import Params, Row
from admittance.storage.dialect import POSTGRESQL, Dialect, positional

_UNREACHABLE = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError)


def _arguments(sql: str, params: Params | None) -> tuple[str, list[Any]]:
    text, names = positional(sql)
    values = params or {}
    return text, [values[name] for name in names]


class _Executor:
    dialect: Dialect = POSTGRESQL

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        text, args = _arguments(sql, params)
        with _storable_values():
            found: Row | None = await self._connection.fetchrow(text, *args)
        return found

    async def fetch_all(self, sql: str, params: Params | None = None) -> Sequence[Row]:
        text, args = _arguments(sql, params)
        with _storable_values():
            found: Sequence[Row] = await self._connection.fetch(text, *args)
        return found

    async def execute(self, sql: str, params: Params | None = None) -> int:
        text, args = _arguments(sql, params)
        with _storable_values():
            status: str = await self._connection.execute(text, *args)
        # "UPDATE 3", "DELETE 1", "INSERT 0 1": the last word is the row count.
        last = status.rsplit(" ", 1)[-1]
        return int(last) if last.isdigit() else 0

    async def execute_many(self, sql: str, rows: Iterable[Params]) -> None:
        text, names = positional(sql)
        batch = [[row[name] for name in names] for row in rows]
        if not batch:
            return
        with _storable_values():
            await self._connection.executemany(text, batch)


@contextmanager
def _storable_values() -> Iterator[None]:
    """A last line of defence: the edges refuse values PostgreSQL cannot store (NUL characters)."""
    try:
        yield
    except asyncpg.DataError as exc:
        raise InvalidInput("A value cannot be stored: text must be valid UTF-8 without NUL characters") from exc
    except (asyncpg.IntegrityConstraintViolationError, asyncpg.TransactionRollbackError) as exc:
        # Also deadlocks and serialization failures: the transaction is rolled back and may be retried.
        # Use cases settle uniqueness with ON CONFLICT; reaching this is a race with another writer.
        raise Conflict("The change conflicts with data stored meanwhile; try again.") from exc


class FairGate:
    """First come, first served admission to the pool's connections.

    asyncpg's pool waits on an asyncio.Queue, which is not fair under load: a newcomer can take a
    connection just released to a waiter, and the waiter goes back to the end of the line. Under
    hundreds of concurrent polls that starves a few requests for a long time (the p99 tail in
    docs/performance.md). Here a released slot is handed directly to the oldest waiter.
    """

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def __aenter__(self) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # the slot was handed over just as we were cancelled: pass it on
            raise

    async def __aexit__(self, *_exc: object) -> None:
        self._release()

    def _release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1


async def _keep_session(_connection: asyncpg.Connection) -> None:
    """Nothing to reset between uses: we never change session state (no SET, LISTEN or advisory
    locks; every transaction is closed by its context manager). asyncpg's default reset costs one
    extra round trip on every release, i.e. on every device poll."""


class PostgresDatabase:
    dialect: Dialect = POSTGRESQL

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self._url = url
        self._min_size = min_size
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._gate = FairGate(max_size)

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self._url, min_size=self._min_size, max_size=self._max_size, reset=_keep_session, timeout=15
            )
        except (*_UNREACHABLE, TimeoutError) as exc:
            raise Unavailable("The database is not reachable.") from exc

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def _ready(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("database not open")
        return self._pool

    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        """The polling path: one pooled round trip, without the executor layer."""
        text, args = _arguments(sql, params)
        try:
            with _storable_values():
                async with self._gate:
                    found: Row | None = await self._ready().fetchrow(text, *args)
        except _UNREACHABLE as exc:
            raise Unavailable("The database is not reachable.") from exc
        return found

    @asynccontextmanager
    async def read(self) -> AsyncIterator[_Executor]:
        try:
            async with self._gate, self._ready().acquire() as connection:
                yield _Executor(connection)
        except _UNREACHABLE as exc:
            raise Unavailable("The database is not reachable.") from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Executor]:
        try:
            async with self._gate, self._ready().acquire() as connection, connection.transaction():
                yield _Executor(connection)
        except _UNREACHABLE as exc:
            raise Unavailable("The database is not reachable.") from exc
