"""Filling the server's database with registration requests (a share of them ACCEPTED), straight
through SQLite or PostgreSQL, and restoring the ACCEPTED ones before each wrk run.
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .model import ACCEPTED, PENDING, TENANT, Subject, device_id, expect

COLUMNS = (
    "id",
    "tenant_id",
    "status",
    "owner",
    "group_id",
    "type",
    "custom_properties",
    "security_token_digest",
    "enrollment_token_digest",
    "token_failures",
    "created_at",
    "updated_at",
)
UPSERT_TAIL = " ON CONFLICT (id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at"


def accepted_indexes(devices: int, percent: float, probes: int) -> list[int]:
    """ACCEPTED requests: every (100 / percent)-th id that wrk polls, then the probe ids after those."""
    step = max(1, round(100 / percent)) if percent > 0 else devices + 1
    return [*range(step // 2, devices, step), *probe_indexes(devices, probes)]


def probe_indexes(devices: int, probes: int) -> list[int]:
    """Ids outside wrk's cycle, polled only by the harness to time the 201 path under load."""
    return list(range(devices, devices + probes))


def request_row(index: int, status: str, now_ms: int) -> tuple[Any, ...]:
    return (device_id(index), TENANT, status, "admin", None, None, "{}", None, None, 0, now_ms, now_ms)


def seed_rows(devices: int, accepted: set[int]) -> Iterator[tuple[Any, ...]]:
    now_ms = int(time.time() * 1000)
    for index in range(devices):
        yield request_row(index, ACCEPTED if index in accepted else PENDING, now_ms)


class RequestRows:
    """Writes registration_requests rows straight into the server's database."""

    placeholder = "?"

    def insert_sql(self, upsert: bool) -> str:
        values = ", ".join([self.placeholder] * len(COLUMNS))
        sql = f"INSERT INTO registration_requests ({', '.join(COLUMNS)}) VALUES ({values})"
        return sql + UPSERT_TAIL if upsert else sql

    def fill(self, rows: Iterable[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def upsert(self, rows: Iterable[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def count_by_status(self) -> dict[str, int]:
        raise NotImplementedError

    def reset_accepted(self, indexes: list[int]) -> None:
        """Make the ACCEPTED requests ACCEPTED again (a 201 deletes its request)."""
        if indexes:
            now_ms = int(time.time() * 1000)
            self.upsert([request_row(index, ACCEPTED, now_ms) for index in indexes])


class SqliteRows(RequestRows):
    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def fill(self, rows: Iterable[tuple[Any, ...]]) -> None:
        self.upsert(rows)
        with contextlib.closing(self._connect()) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def upsert(self, rows: Iterable[tuple[Any, ...]]) -> None:
        with contextlib.closing(self._connect()) as db, db:
            db.executemany(self.insert_sql(upsert=True), rows)

    def count_by_status(self) -> dict[str, int]:
        with contextlib.closing(self._connect()) as db:
            found = db.execute("SELECT status, count(*) FROM registration_requests GROUP BY status").fetchall()
        return {status: int(count) for status, count in found}


class PostgresRows(RequestRows):
    placeholder = "%s"

    def __init__(self, url: str) -> None:
        self.url = url

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.url, autocommit=False)

    def fill(self, rows: Iterable[tuple[Any, ...]]) -> None:
        with self._connect() as db:
            with (
                db.cursor() as cursor,
                cursor.copy(f"COPY registration_requests ({', '.join(COLUMNS)}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            db.commit()
            db.autocommit = True
            db.execute("ANALYZE registration_requests")

    def upsert(self, rows: Iterable[tuple[Any, ...]]) -> None:
        with self._connect() as db, db.cursor() as cursor:
            cursor.executemany(self.insert_sql(upsert=True), rows)

    def count_by_status(self) -> dict[str, int]:
        with self._connect() as db:
            found = db.execute("SELECT status, count(*) FROM registration_requests GROUP BY status").fetchall()
        return {status: int(count) for status, count in found}


def seed(subject: Subject, args: argparse.Namespace, accepted: list[int]) -> float:
    """Writes --devices + --probes requests; returns the seconds it took."""
    assert subject.rows is not None
    total = args.devices + args.probes
    started = time.perf_counter()
    subject.rows.fill(seed_rows(total, set(accepted)))
    seconds = time.perf_counter() - started
    counts = subject.rows.count_by_status()
    wanted = {PENDING: total - len(accepted), ACCEPTED: len(accepted)}
    expect(
        {k: v for k, v in counts.items() if v} == {k: v for k, v in wanted.items() if v},
        f"seeded {counts}, wanted {wanted}",
    )
    return seconds
