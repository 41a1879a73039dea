"""The few places where SQLite and PostgreSQL differ, in one module.

Statements are written once with `:name` placeholders; for PostgreSQL (asyncpg) they are rewritten
once to `$1, $2, ...` with the list of names in order. Upserts use `INSERT ... ON CONFLICT`, which
both databases share.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    for_update: str  # appended to a SELECT that must lock its rows
    role_list: str  # aggregate of one user's role names, comma separated


SQLITE = Dialect(
    name="sqlite",
    for_update="",  # a SQLite write transaction (BEGIN IMMEDIATE) already excludes other writers
    role_list="(SELECT group_concat(ur.role, ',') FROM user_roles ur WHERE ur.user_id = u.id)",
)

POSTGRESQL = Dialect(
    name="postgresql",
    for_update=" FOR UPDATE",
    role_list="(SELECT string_agg(ur.role, ',') FROM user_roles ur WHERE ur.user_id = u.id)",
)


@lru_cache(maxsize=1024)
def positional(statement: str) -> tuple[str, tuple[str, ...]]:
    """`:name` placeholders to `$n`; a name used twice gets the same number."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _NAMED.sub(number, statement), tuple(names)
