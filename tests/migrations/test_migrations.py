"""The migrations produce exactly the schema the metadata describes, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from admittance.storage import migrate
from admittance.storage.location import DatabaseLocation
from admittance.storage.schema import metadata


def test_migrated_schema_matches_the_metadata(location: DatabaseLocation) -> None:
    engine = migrate.sqlalchemy_engine(location)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_database_is_at_head_and_upgrade_is_idempotent(location: DatabaseLocation) -> None:
    migrate.upgrade(location)
    assert migrate.current_revision(location) == migrate.head_revision()


def test_builtin_roles_are_seeded(location: DatabaseLocation) -> None:
    engine = migrate.sqlalchemy_engine(location)
    try:
        with engine.connect() as connection:
            names = {row[0] for row in connection.exec_driver_sql("SELECT name FROM roles")}
    finally:
        engine.dispose()
    assert {"ROLE_DEVICE_BOOTSTRAP", "ROLE_DEVICE", "ROLE_DEVICE_CONTROL_ADMIN"} <= names
