"""Alembic environment: runs on the connection that admittance.storage.migrate hands it."""

from __future__ import annotations

from alembic import context

from admittance.storage.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,  # SQLite can only ALTER through table copies
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
