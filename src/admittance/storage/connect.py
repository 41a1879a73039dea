"""Opening the database a location names: SQLite (embedded) or PostgreSQL. The drivers' modules import
only the Protocols of storage/database.py, so the graph has no cycle."""

from __future__ import annotations

from admittance.storage.database import Database
from admittance.storage.location import DatabaseLocation


def open_database(location: DatabaseLocation, *, pool_size: int = 10) -> Database:
    if location.dialect == "sqlite":
        from admittance.storage.sqlite import SqliteDatabase

        assert location.sqlite_path is not None
        return SqliteDatabase(location.sqlite_path)
    from admittance.storage.postgres import PostgresDatabase

    assert location.postgres_url is not None
    return PostgresDatabase(location.postgres_url, max_size=pool_size)
