"""The same-session reference ("the floor"): what the baseline's END-TO-END rows measured, measured
again in this run on this machine (shared/specs/performance-baseline.md section 6):

* SQLite: parse the manifest with csv.DictReader, HMAC-SHA256 every password, one executemany into
  a users-like table, in one transaction (baseline 0.645 s for 100,000 rows);
* PostgreSQL: the same with psycopg's COPY instead of executemany (baseline 0.417 s), into a
  database of its own in the throwaway PostgreSQL server the import uses.

The floor runs in this harness on the client core; PostgreSQL stays pinned to the server core, so,
as the baseline's figure shows (parse 0.187 + HMAC 0.158 + COPY 0.150 s > 0.417 s end to end), the
database ingests while the client parses: sharing one core would serialize the two and make the
machine look slower than it is (a factor too small, a limit too generous).

The machine factor is baseline seconds / measured seconds, the baseline figure scaled linearly to
--floor-rows (default 100,000, the baseline's own size, whatever --rows is); 0.45 means this run's
machine did the floor's work at 0.45x the baseline machine's speed.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import hmac
import io
import os
import secrets
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pollbench.model import TENANT

BASELINE_ROWS = 100_000
BASELINE_SECONDS = {"sqlite": 0.645, "postgresql": 0.417}  # section 6, END-TO-END sqlite / pg
BASELINE_RUN = {
    "sqlite": "END-TO-END sqlite: parse + HMAC + executemany (section 6)",
    "postgresql": "END-TO-END pg: parse + HMAC + COPY (psycopg) (section 6)",
}
COLUMNS = ("tenant_id", "username", "password_hash", "kind", "enabled", "created_at", "password_changed_at")
SQLITE_TABLE = """CREATE TABLE ref_users (
    id INTEGER PRIMARY KEY AUTOINCREMENT, tenant_id TEXT NOT NULL, username TEXT NOT NULL,
    password_hash TEXT NOT NULL, kind TEXT NOT NULL, enabled INTEGER NOT NULL,
    created_at INTEGER NOT NULL, password_changed_at INTEGER NOT NULL)"""
PG_TABLE = """CREATE TABLE ref_users (
    id BIGSERIAL PRIMARY KEY, tenant_id VARCHAR(63) NOT NULL, username VARCHAR(1100) NOT NULL,
    password_hash TEXT NOT NULL, kind VARCHAR(16) NOT NULL, enabled BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL, password_changed_at BIGINT NOT NULL)"""
INDEX = "CREATE UNIQUE INDEX ux_ref_users ON ref_users (tenant_id, username)"


def baseline_seconds(database: str, rows: int) -> float:
    return BASELINE_SECONDS[database] * rows / BASELINE_ROWS


def _user_rows(data: bytes, key: bytes, enabled: Any) -> Iterator[tuple[Any, ...]]:
    now = int(time.time() * 1000)
    for row in csv.DictReader(io.StringIO(data.decode()), delimiter=";"):
        digest = hmac.new(key, b"password\0" + row["CREDENTIALS"].encode(), hashlib.sha256).hexdigest()
        yield TENANT, "device_" + row["ID"], "hmac-sha256$" + digest, "device", enabled, now, now


def sqlite_floor(path: Path, data: bytes) -> float:
    """One timed run into a fresh file (WAL, synchronous=NORMAL: the server's settings)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    key = secrets.token_bytes(32)
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(SQLITE_TABLE)
        db.execute(INDEX)
        started = time.perf_counter()
        rows = list(_user_rows(data, key, 1))  # parse and hash, then insert: the baseline's stages
        db.execute("BEGIN")
        db.executemany(f"INSERT INTO ref_users ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})", rows)
        db.execute("COMMIT")
        return time.perf_counter() - started


def postgres_floor(url: str, data: bytes) -> float:
    """One timed run into a fresh table of the reference database."""
    import psycopg

    key = secrets.token_bytes(32)
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("DROP TABLE IF EXISTS ref_users")
        db.execute(PG_TABLE)
        db.execute(INDEX)
        db.autocommit = False
        started = time.perf_counter()
        with db.cursor() as cursor, cursor.copy(f"COPY ref_users ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in _user_rows(data, key, True):  # streamed: PostgreSQL ingests while this parses
                copy.write_row(row)
        db.commit()
        seconds = time.perf_counter() - started
        db.autocommit = True
        db.execute("DROP TABLE ref_users")
        return seconds


def reference_database(url: str) -> str:
    """A database of its own beside the server's, in the same PostgreSQL server; returns its URL."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        db.execute("DROP DATABASE IF EXISTS bench_reference")
        db.execute("CREATE DATABASE bench_reference")
    base, _, _ = url.rpartition("/")
    return f"{base}/bench_reference"


def measure(database: str, target: str | Path, data: bytes, repeats: int, cpu: int) -> list[float]:
    """`repeats` timed runs of the floor, this thread pinned to `cpu` meanwhile."""
    run: Callable[[], float]
    if database == "sqlite":
        run = lambda: sqlite_floor(Path(target), data)  # noqa: E731
    else:
        run = lambda: postgres_floor(str(target), data)  # noqa: E731
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        return [run() for _ in range(repeats)]
    finally:
        os.sched_setaffinity(0, before)
        if database == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{target}{suffix}").unlink(missing_ok=True)


def factor(database: str, rows: int, seconds: list[float]) -> float:
    """Baseline seconds / this run's median seconds: < 1 when this machine is slower."""
    return baseline_seconds(database, rows) / statistics.median(seconds)
