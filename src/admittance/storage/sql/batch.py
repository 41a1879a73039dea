"""Many rows in one INSERT, on both databases.

PostgreSQL: `INSERT ... SELECT * FROM unnest($1::type[], $2::type[], ...)` — one parameter per
column whatever the number of rows, so asyncpg prepares the statement once. Measured here per
500-row chunk: asyncpg's executemany (one execution per row server-side) ~50 ms; a multi-row
VALUES list of 3,500 parameters ~40 ms (parsing and planning it); unnest a few ms.
SQLite: a multi-row VALUES list (cheap to prepare there), split below its parameter limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from admittance.storage.database import Executor, Row

_MAX_PARAMETERS = 30_000  # below SQLite's 32,766 per statement

Column = tuple[str, str]  # name, PostgreSQL type of its array ("text", "bigint", "boolean", "integer")


async def insert_rows(
    executor: Executor,
    table: str,
    columns: Sequence[Column],
    rows: Sequence[Sequence[Any]],
    *,
    suffix: str = "",
) -> list[Row]:
    """Insert `rows` (tuples in the order of `columns`); `suffix` may add ON CONFLICT or RETURNING
    (the rows returned are collected)."""
    if not rows:
        return []
    names = ", ".join(name for name, _ in columns)
    returning = "RETURNING" in suffix.upper()
    if executor.dialect.name == "postgresql":
        params = {f"c{index}": [row[index] for row in rows] for index in range(len(columns))}
        arrays = ", ".join(f":c{index}::{kind}[]" for index, (_, kind) in enumerate(columns))
        sql = f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) {suffix}".rstrip()
        return list(await executor.fetch_all(sql, params)) if returning else await _execute(executor, sql, params)
    returned: list[Row] = []
    per_statement = max(1, _MAX_PARAMETERS // len(columns))
    for start in range(0, len(rows), per_statement):
        part = rows[start : start + per_statement]
        values: dict[str, Any] = {}
        groups = []
        for row_index, row in enumerate(part):
            placeholders = []
            for column_index, value in enumerate(row):
                name = f"p{row_index}_{column_index}"
                values[name] = value
                placeholders.append(":" + name)
            groups.append(f"({', '.join(placeholders)})")
        sql = f"INSERT INTO {table} ({names}) VALUES {', '.join(groups)} {suffix}".rstrip()
        if returning:
            returned.extend(await executor.fetch_all(sql, values))
        else:
            await executor.execute(sql, values)
    return returned


async def _execute(executor: Executor, sql: str, params: dict[str, Any]) -> list[Row]:
    await executor.execute(sql, params)
    return []
