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
# Keys that JSON text (orjson) stores verbatim, without escapes: SQLite's JSON paths can name them.
_VERBATIM_KEY = re.compile(r'[^"\\\x00-\x1f]*')


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    for_update: str  # appended to a SELECT that must lock its rows
    role_list: str  # aggregate of one user's role names, comma separated
    # `{doc}` (a column of JSON object text) has the top-level key bound as :fragment, even with a null value
    has_key: str
    has_key_escaped: str  # the same for keys JSON text stores escaped (a quote, a backslash, a control character)
    in_id_list: str  # `IN` the ids of the JSON array bound as `:{name}`
    advisory_lock: str  # hold a lock named by :key until the transaction ends; "" where writers are serialized

    def has_fragment(self, doc: str, key: str) -> str:
        """SQL that is true when the JSON object in column `doc` has the top-level key `key` (bound as :fragment)."""
        template = self.has_key if _VERBATIM_KEY.fullmatch(key) else self.has_key_escaped
        return template.format(doc=doc)

    def id_list(self, name: str) -> str:
        return self.in_id_list.format(name=name)


SQLITE = Dialect(
    name="sqlite",
    for_update="",  # a SQLite write transaction (BEGIN IMMEDIATE) already excludes other writers
    role_list="(SELECT group_concat(ur.role_id, ',') FROM user_roles ur WHERE ur.user_id = u.id)",
    # A JSON path label in double quotes takes the key as stored; paths know no escapes, so such keys
    # are compared one by one instead.
    has_key="json_type({doc}, '$.\"' || :fragment || '\"') IS NOT NULL",
    has_key_escaped="EXISTS (SELECT 1 FROM json_each({doc}) AS j WHERE j.key = :fragment)",
    in_id_list="IN (SELECT value FROM json_each(:{name}))",
    advisory_lock="",  # a SQLite write transaction (BEGIN IMMEDIATE) already excludes other writers
)

POSTGRESQL = Dialect(
    name="postgresql",
    for_update=" FOR UPDATE",
    role_list="(SELECT string_agg(ur.role_id, ',') FROM user_roles ur WHERE ur.user_id = u.id)",
    has_key="(({doc})::jsonb) ? :fragment",
    has_key_escaped="(({doc})::jsonb) ? :fragment",
    in_id_list="IN (SELECT CAST(jsonb_array_elements_text(CAST(:{name} AS jsonb)) AS BIGINT))",
    advisory_lock="SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))",
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
