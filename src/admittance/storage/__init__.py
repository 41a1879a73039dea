"""Storage adapters: one schema, SQLite (embedded default) and PostgreSQL, through raw drivers."""

from admittance.storage.connect import open_database
from admittance.storage.database import Database

__all__ = ["Database", "open_database"]
