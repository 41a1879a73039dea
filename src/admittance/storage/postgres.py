"""PostgreSQL through a psycopg 3 async pool. One pooled connection per unit of work, autocommit
outside transactions, and prepared statements after a few executions (psycopg's default)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from admittance.kernel.errors import InvalidInput, Unavailable
from admittance.storage.database import Params, Row
from admittance.storage.dialect import POSTGRESQL, Dialect


class _Executor:
    dialect: Dialect = POSTGRESQL

    def __init__(self, connection: psycopg.AsyncConnection[Row]) -> None:
        self._connection = connection

    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        cursor = await self._run(sql, params)
        return await cursor.fetchone()

    async def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]:
        cursor = await self._run(sql, params)
        return await cursor.fetchall()

    async def execute(self, sql: str, params: Params | None = None) -> int:
        cursor = await self._run(sql, params)
        return cursor.rowcount

    async def execute_many(self, sql: str, rows: Iterable[Params]) -> None:
        async with self._connection.cursor() as cursor:
            try:
                await cursor.executemany(POSTGRESQL.sql(sql), list(rows))
            except psycopg.DataError as exc:
                raise _invalid(exc) from exc

    async def _run(self, sql: str, params: Params | None) -> psycopg.AsyncCursor[Row]:
        try:
            return await self._connection.execute(POSTGRESQL.sql(sql), params or {})
        except psycopg.DataError as exc:
            # A last line of defence: the edges refuse such values before they get here.
            raise _invalid(exc) from exc


def _invalid(exc: psycopg.DataError) -> InvalidInput:
    if "NUL" in str(exc):
        return InvalidInput("Text must not contain NUL characters")
    return InvalidInput("A value does not fit the database column")


class PostgresDatabase:
    dialect: Dialect = POSTGRESQL

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self._pool: AsyncConnectionPool[psycopg.AsyncConnection[Row]] = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": True, "row_factory": dict_row},
            open=False,
            timeout=10,
        )

    async def open(self) -> None:
        try:
            await self._pool.open(wait=True, timeout=15)
        except psycopg.Error as exc:
            raise Unavailable("The database is not reachable.") from exc

    async def close(self) -> None:
        await self._pool.close()

    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        async with self.read() as executor:
            return await executor.fetch_one(sql, params)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[_Executor]:
        try:
            async with self._pool.connection() as connection:
                yield _Executor(connection)
        except psycopg.OperationalError as exc:  # includes the pool timeout
            raise Unavailable("The database is not reachable.") from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Executor]:
        try:
            async with self._pool.connection() as connection, connection.transaction():
                yield _Executor(connection)
        except psycopg.OperationalError as exc:  # includes the pool timeout
            raise Unavailable("The database is not reachable.") from exc
