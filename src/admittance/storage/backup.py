"""Backups: one portable logical format for SQLite and PostgreSQL (docs/decisions/0008).

A backup is a zip archive:

* `manifest.json`: format and format version, the application version and the Alembic revision of
  the schema it was taken from, the source dialect, when it was taken, and for every table its
  columns, its row count and the SHA-256 of its data; `sha256` covers the data of all tables in
  order.
* `tables/<name>.jsonl`: the rows of each table (foreign-key order, sorted by primary key), one JSON
  array per line in the order of the manifest's columns. Binary values are base64, booleans are
  JSON booleans, timestamps are the stored epoch milliseconds: the same bytes whichever database
  they came from, so a SQLite backup restores into PostgreSQL.

The snapshot is consistent: SQLite's online backup API copies the database in one step (one read
transaction) into a temporary file that is then exported; PostgreSQL is read inside one
REPEATABLE READ READ ONLY transaction. A restore checks everything (archive, manifest, format,
revision, columns, row counts, checksums, every value's type) before it touches the database, then
replaces the rows of every table inside ONE write transaction of the caller, re-checking the
checksums as it reads; any failure rolls everything back.

`maintenance_runs` (the log of backups and restores themselves) is neither saved nor replaced.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import sqlite3
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import asyncpg
import orjson
from sqlalchemy import BigInteger, Boolean, Integer, LargeBinary, Table

from admittance.kernel.errors import AdmittanceError, InvalidInput
from admittance.maintenance.model import BackupDamaged, BackupRefused, Manifest, TableEntry
from admittance.storage.database import Executor
from admittance.storage.location import DatabaseLocation
from admittance.storage.schema import metadata
from admittance.storage.sql.batch import insert_rows

FORMAT = "admittance-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
EXCLUDED_TABLES = frozenset({"maintenance_runs"})
_MAX_MANIFEST_BYTES = 1024 * 1024
_BATCH_ROWS = 1000
_BATCH_BYTES = 8 * 1024 * 1024
_FETCH_ROWS = 1000


def tables() -> list[Table]:
    """Every table a backup holds, parents before children."""
    return [table for table in metadata.sorted_tables if table.name not in EXCLUDED_TABLES]


def _kind(table: Table, name: str) -> str:
    """The PostgreSQL array type for batch inserts, which is also how values are encoded."""
    column_type = table.c[name].type
    if isinstance(column_type, Boolean):
        return "boolean"
    if isinstance(column_type, LargeBinary):
        return "bytea"
    if isinstance(column_type, BigInteger):
        return "bigint"
    if isinstance(column_type, Integer):
        return "integer"
    return "text"


def _columns(table: Table) -> list[tuple[str, str]]:
    return [(column.name, _kind(table, column.name)) for column in table.columns]


def _select(table: Table) -> str:
    names = ", ".join(column.name for column in table.columns)
    order = ", ".join(column.name for column in table.primary_key.columns)
    return f"SELECT {names} FROM {table.name} ORDER BY {order}"


def _document(manifest: Manifest) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "formatVersion": FORMAT_VERSION,
        "id": manifest.backup_id,
        "createdAt": manifest.created_at,
        "appVersion": manifest.app_version,
        "revision": manifest.revision,
        "dialect": manifest.dialect,
        "sha256": manifest.sha256,
        "tables": [
            {"name": e.name, "columns": list(e.columns), "rows": e.rows, "sha256": e.sha256} for e in manifest.tables
        ],
    }


# --- writing ---------------------------------------------------------------------------------


def _encode(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "bytea":
        return base64.b64encode(bytes(value)).decode("ascii")
    if kind == "boolean":
        return bool(value)
    return value


class _Writer:
    """Writes the archive into a temporary file next to `target`; `commit` moves it into place, so
    an interrupted backup never leaves a file that looks complete."""

    def __init__(self, target: Path) -> None:
        self._target = target
        self._partial = target.with_name(f".{target.name}.partial")
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(self._partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self._file = os.fdopen(descriptor, "wb")
        self._zip = zipfile.ZipFile(self._file, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6)
        self._entries: list[TableEntry] = []
        self._total = hashlib.sha256()
        self._current: tuple[Table, IO[bytes], Any, int] | None = None

    def begin_table(self, table: Table) -> None:
        stream = self._zip.open(f"tables/{table.name}.jsonl", "w", force_zip64=True)
        self._current = (table, stream, hashlib.sha256(), 0)

    def write_rows(self, rows: Sequence[Sequence[Any]]) -> None:
        assert self._current is not None
        table, stream, digest, count = self._current
        kinds = [kind for _, kind in _columns(table)]
        lines = b"".join(
            orjson.dumps([_encode(value, kind) for value, kind in zip(row, kinds, strict=True)]) + b"\n" for row in rows
        )
        stream.write(lines)
        digest.update(lines)
        self._total.update(lines)
        self._current = (table, stream, digest, count + len(rows))

    def end_table(self) -> None:
        assert self._current is not None
        table, stream, digest, count = self._current
        stream.close()
        columns = tuple(column.name for column in table.columns)
        self._entries.append(TableEntry(table.name, columns, count, digest.hexdigest()))
        self._current = None

    def commit(
        self, *, backup_id: str, created_at: datetime, app_version: str, revision: str, dialect: str
    ) -> Manifest:
        manifest = Manifest(
            backup_id=backup_id,
            created_at=created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            app_version=app_version,
            revision=revision,
            dialect=dialect,
            tables=tuple(self._entries),
            sha256=self._total.hexdigest(),
        )
        self._zip.writestr(MANIFEST, orjson.dumps(_document(manifest), option=orjson.OPT_INDENT_2))
        self._zip.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._partial, self._target)
        return manifest

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._zip.close()
        with contextlib.suppress(Exception):
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self._partial.unlink()


async def export_snapshot(
    location: DatabaseLocation, target: Path, *, backup_id: str, created_at: datetime, app_version: str
) -> Manifest:
    """Write a consistent snapshot of the database at `location` to `target`."""
    if location.dialect == "sqlite":
        return await asyncio.to_thread(_export_sqlite, location, target, backup_id, created_at, app_version)
    return await _export_postgres(location, target, backup_id, created_at, app_version)


def _export_sqlite(
    location: DatabaseLocation, target: Path, backup_id: str, created_at: datetime, app_version: str
) -> Manifest:
    assert location.sqlite_path is not None
    copy = target.with_name(f".{target.name}.sqlite3")
    writer = _Writer(target)
    try:
        os.close(os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))  # private before it holds data
        source = sqlite3.connect(location.sqlite_path, timeout=10)
        try:
            destination = sqlite3.connect(copy)
            try:
                # The online backup API: all pages in one step, i.e. within one read transaction.
                source.backup(destination)
            finally:
                destination.close()
        finally:
            source.close()
        snapshot = sqlite3.connect(copy)
        try:
            revision = _sqlite_revision(snapshot)
            for table in tables():
                writer.begin_table(table)
                cursor = snapshot.execute(_select(table))
                while batch := cursor.fetchmany(_FETCH_ROWS):
                    writer.write_rows(batch)
                writer.end_table()
        finally:
            snapshot.close()
        return writer.commit(
            backup_id=backup_id, created_at=created_at, app_version=app_version, revision=revision, dialect="sqlite"
        )
    except BaseException:
        writer.abort()
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            copy.unlink()


def _sqlite_revision(connection: sqlite3.Connection) -> str:
    row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    if row is None:
        raise InvalidInput("The database has no schema revision; run `admittance db upgrade` first")
    return str(row[0])


async def _export_postgres(
    location: DatabaseLocation, target: Path, backup_id: str, created_at: datetime, app_version: str
) -> Manifest:
    assert location.postgres_url is not None
    writer = await asyncio.to_thread(_Writer, target)
    try:
        connection = await asyncpg.connect(location.postgres_url, timeout=15)
        try:
            async with connection.transaction(isolation="repeatable_read", readonly=True):
                revision = await connection.fetchval("SELECT version_num FROM alembic_version")
                if revision is None:
                    raise InvalidInput("The database has no schema revision; run `admittance db upgrade` first")
                for table in tables():
                    writer.begin_table(table)
                    cursor = await connection.cursor(_select(table))
                    while batch := await cursor.fetch(_FETCH_ROWS):
                        await asyncio.to_thread(writer.write_rows, [tuple(row) for row in batch])
                    writer.end_table()
        finally:
            await connection.close()
        return await asyncio.to_thread(
            writer.commit,
            backup_id=backup_id,
            created_at=created_at,
            app_version=app_version,
            revision=str(revision),
            dialect="postgresql",
        )
    except BaseException:
        writer.abort()
        raise


# --- reading and checking --------------------------------------------------------------------


@contextlib.contextmanager
def _archive(path: Path) -> Iterator[zipfile.ZipFile]:
    try:
        with zipfile.ZipFile(path) as archive:
            yield archive
    except (zipfile.BadZipFile, zlib.error, EOFError, zipfile.LargeZipFile) as exc:
        raise BackupDamaged(f"The backup file is damaged or is not a zip archive ({exc}); nothing was changed") from exc
    except FileNotFoundError as exc:
        raise BackupDamaged("The backup file does not exist") from exc


def _text(document: dict[str, Any], key: str) -> str:
    value = document.get(key)
    if not isinstance(value, str) or not value:
        raise BackupDamaged(f"The backup manifest has no valid '{key}'; nothing was changed")
    return value


def _parse_manifest(raw: bytes) -> Manifest:
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BackupDamaged("The backup manifest is not valid JSON; nothing was changed") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise BackupDamaged("The file is not an Admittance backup (its manifest names no Admittance format)")
    version = document.get("formatVersion")
    if version != FORMAT_VERSION:
        raise BackupRefused(
            f"The backup is in format version {version!r}; this server reads format version {FORMAT_VERSION} "
            "only. Nothing was changed."
        )
    entries = document.get("tables")
    if not isinstance(entries, list):
        raise BackupDamaged("The backup manifest has no table list; nothing was changed")
    parsed: list[TableEntry] = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise BackupDamaged("The backup manifest has a malformed table entry; nothing was changed")
        columns = entry.get("columns")
        rows = entry.get("rows")
        if (
            not isinstance(columns, list)
            or not all(isinstance(c, str) for c in columns)
            or not isinstance(rows, int)
            or isinstance(rows, bool)
            or rows < 0
        ):
            raise BackupDamaged("The backup manifest has a malformed table entry; nothing was changed")
        parsed.append(TableEntry(_text(entry, "name"), tuple(columns), rows, _text(entry, "sha256")))
    return Manifest(
        backup_id=_text(document, "id"),
        created_at=_text(document, "createdAt"),
        app_version=_text(document, "appVersion"),
        revision=_text(document, "revision"),
        dialect=_text(document, "dialect"),
        tables=tuple(parsed),
        sha256=_text(document, "sha256"),
    )


def read_manifest(path: Path) -> Manifest:
    """The manifest only (for listings): the archive's directory and one small entry."""
    with _archive(path) as archive:
        return _manifest_of(archive)


def _manifest_of(archive: zipfile.ZipFile) -> Manifest:
    try:
        info = archive.getinfo(MANIFEST)
    except KeyError:
        raise BackupDamaged("The file is not an Admittance backup (it has no manifest.json)") from None
    if info.file_size > _MAX_MANIFEST_BYTES:
        raise BackupDamaged("The backup manifest is too large; nothing was changed")
    return _parse_manifest(archive.read(info))


def _decode(value: Any, kind: str, nullable: bool) -> Any:
    if value is None:
        if not nullable:
            raise ValueError("null in a column that requires a value")
        return None
    if kind == "bytea":
        if not isinstance(value, str):
            raise ValueError("binary values are base64 text")
        return base64.b64decode(value, validate=True)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ValueError("a boolean was expected")
        return value
    if kind in ("bigint", "integer"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError("an integer was expected")
        return value
    if not isinstance(value, str):
        raise ValueError("text was expected")
    return value


def _rows_of(archive: zipfile.ZipFile, table: Table, entry: TableEntry, total: Any = None) -> Iterator[tuple[Any, ...]]:
    """Decode one table's rows, checking each value's type, and at the end its row count and SHA-256
    against the manifest (so data changed after `verify` is caught before the transaction commits)."""
    columns = _columns(table)
    nullable = [bool(table.c[name].nullable) for name, _ in columns]
    digest = hashlib.sha256()
    count = 0
    name = f"tables/{table.name}.jsonl"
    try:
        stream = archive.open(name)
    except KeyError:
        raise BackupDamaged(f"The backup has no data for table {table.name}; nothing was changed") from None
    with stream:
        for line in stream:
            digest.update(line)
            if total is not None:
                total.update(line)
            count += 1
            try:
                values = orjson.loads(line)
                if not isinstance(values, list) or len(values) != len(columns):
                    raise ValueError("a row must be a JSON array with one value per column")
                row = tuple(
                    _decode(value, kind, may_be_null)
                    for value, (_, kind), may_be_null in zip(values, columns, nullable, strict=True)
                )
            except (ValueError, orjson.JSONDecodeError) as exc:
                raise BackupDamaged(
                    f"The backup's table {table.name} has an unreadable row (line {count}: {exc}); nothing was changed"
                ) from None
            yield row
    if count != entry.rows or digest.hexdigest() != entry.sha256:
        raise BackupDamaged(
            f"The backup's data for table {table.name} does not match its checksum; the file is damaged "
            "or was changed. Nothing was changed."
        )


def verify(path: Path, revision: str) -> Manifest:
    """Check the whole backup against this server's schema `revision` without touching the
    database; raises BackupDamaged or BackupRefused with a clear message."""
    with _archive(path) as archive:
        manifest = _manifest_of(archive)
        if manifest.revision != revision:
            raise BackupRefused(
                f"The backup was taken at schema revision {manifest.revision} (Admittance {manifest.app_version}); "
                f"this database is at revision {revision}. Restore it with the Admittance version that made it "
                "(then upgrade), or take a new backup. Nothing was changed."
            )
        _check_tables(manifest)
        total = hashlib.sha256()
        by_name = {entry.name: entry for entry in manifest.tables}
        for table in tables():
            for _row in _rows_of(archive, table, by_name[table.name], total):
                pass
        if total.hexdigest() != manifest.sha256:
            raise BackupDamaged("The backup's data does not match its checksum; nothing was changed")
        return manifest


def _check_tables(manifest: Manifest) -> None:
    expected = {table.name: tuple(column.name for column in table.columns) for table in tables()}
    found = {entry.name: entry.columns for entry in manifest.tables}
    if set(found) != set(expected):
        missing = sorted(set(expected) - set(found))
        extra = sorted(set(found) - set(expected))
        raise BackupRefused(
            f"The backup's tables do not match this schema (missing: {missing}, unknown: {extra}); nothing was changed"
        )
    for name, columns in expected.items():
        if found[name] != columns:
            raise BackupRefused(f"The backup's columns of table {name} do not match this schema; nothing was changed")


# --- restoring -------------------------------------------------------------------------------


async def restore_snapshot(executor: Executor, path: Path, manifest: Manifest) -> None:
    """Replace the rows of every table with the backup's, inside the caller's write transaction.

    The caller verified the file first; the checksums are checked again while reading, and any
    error raises, so the caller's transaction rolls back and the database keeps its rows.
    """
    ordered = tables()
    by_name = {entry.name: entry for entry in manifest.tables}
    if executor.dialect.name == "postgresql":
        # Writers wait until the restore commits; readers keep seeing the rows as they were.
        await executor.execute(f"LOCK TABLE {', '.join(table.name for table in ordered)} IN EXCLUSIVE MODE")
    for table in reversed(ordered):
        await executor.execute(f"DELETE FROM {table.name}")
    with _archive(path) as archive:
        for table in ordered:
            columns = _columns(table)
            batch: list[tuple[Any, ...]] = []
            size = 0
            rows = _rows_of(archive, table, by_name[table.name])
            for row in rows:
                batch.append(row)
                size += sum(len(v) for v in row if isinstance(v, str | bytes))
                if len(batch) >= _BATCH_ROWS or size >= _BATCH_BYTES:
                    await _insert(executor, table, columns, batch)
                    batch, size = [], 0
            await _insert(executor, table, columns, batch)
    if executor.dialect.name == "postgresql":
        for table in ordered:
            column = table.autoincrement_column
            if column is None:
                continue
            await executor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                f"COALESCE((SELECT max({column.name}) FROM {table.name}), 0) + 1, false)"
            )


async def _insert(
    executor: Executor, table: Table, columns: list[tuple[str, str]], batch: list[tuple[Any, ...]]
) -> None:
    if not batch:
        return
    try:
        await insert_rows(executor, table.name, columns, batch)
    except AdmittanceError as exc:
        raise BackupRefused(
            f"The backup's rows of table {table.name} cannot be stored in this database ({exc.message}); "
            "nothing was changed"
        ) from exc
