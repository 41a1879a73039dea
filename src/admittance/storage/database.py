"""Database handles: a read path and write transactions, over sqlite3 or psycopg directly.

Measured on this machine (docs/decisions/0002), SQLAlchemy's async engine costs 2-10x the raw
driver on the device polling path, so statements run through the drivers; SQLAlchemy and Alembic
own only the schema and its migrations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from admittance.storage.dialect import Dialect


class Row(Protocol):
    """A result row, read by column name: a dict from psycopg, a sqlite3.Row (C, fast) from SQLite."""

    def __getitem__(self, key: str, /) -> Any: ...


Params = Mapping[str, Any]


class Executor(Protocol):
    """Runs statements on one connection (inside a transaction, or on the read path)."""

    dialect: Dialect

    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None: ...

    async def fetch_all(self, sql: str, params: Params | None = None) -> Sequence[Row]: ...

    async def execute(self, sql: str, params: Params | None = None) -> int: ...

    async def execute_many(self, sql: str, rows: Iterable[Params]) -> None: ...


class Database(Protocol):
    dialect: Dialect

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def transaction(self) -> AbstractAsyncContextManager[Executor]:
        """A write transaction: commits on exit, rolls back on an exception."""
        ...

    def read(self) -> AbstractAsyncContextManager[Executor]:
        """Reads outside a write transaction (SQLite: on the event loop; never writes)."""
        ...

    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        """One read on the fastest path there is (the device polling path uses it)."""
        ...
