"""The few places where SQLite and PostgreSQL differ, in one module.

Statements are written once with `:name` placeholders; PostgreSQL (psycopg) gets them rewritten
to `%(name)s`. Upserts use `INSERT ... ON CONFLICT`, which both databases share.
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

    def sql(self, statement: str) -> str:
        return _to_pyformat(statement) if self.name == "postgresql" else statement


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


@lru_cache(maxsize=512)
def _to_pyformat(statement: str) -> str:
    return _NAMED.sub(r"%(\1)s", statement.replace("%", "%%"))
