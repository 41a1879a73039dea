"""Storage adapters: one schema, SQLite (embedded default) and PostgreSQL, through raw drivers."""

from admittance.storage.database import Database, open_database

__all__ = ["Database", "open_database"]
