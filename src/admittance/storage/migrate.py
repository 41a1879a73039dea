"""Schema migrations with Alembic, run from the CLI and at server start (blocking; not on a request path)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine

from admittance.storage.location import DatabaseLocation

# Several server processes may start at once on one PostgreSQL: one migrates, the others wait.
_ADVISORY_LOCK_ID = 7_310_112_001


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", "admittance.storage:migrations")
    config.attributes["connection"] = connection
    return config


def _engine(location: DatabaseLocation) -> Engine:
    if location.dialect == "sqlite":
        assert location.sqlite_path is not None
        location.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(location.sqlalchemy_url())

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()

        return engine
    return create_engine(location.sqlalchemy_url())


def upgrade(location: DatabaseLocation) -> None:
    engine = _engine(location)
    try:
        with engine.begin() as connection:
            if location.dialect == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _ADVISORY_LOCK_ID})
            command.upgrade(_config(connection), "head")
    finally:
        engine.dispose()


def current_revision(location: DatabaseLocation) -> str | None:
    engine = _engine(location)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str | None:
    config = Config()
    config.set_main_option("script_location", "admittance.storage:migrations")
    return ScriptDirectory.from_config(config).get_current_head()


def sqlalchemy_engine(location: DatabaseLocation) -> Engine:
    """For tests that compare the migrated schema with the metadata."""
    return _engine(location)
