"""Brokers: where each subject was last seen, and issued certificates by the name they were issued to.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per subject (a user by name, or an nRF claimed device by its id), written in batches.
    op.create_table(
        "last_seen",
        sa.Column("tenant_id", sa.String(63), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("subject", sa.String(1100), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("door", sa.String(24), nullable=False),
        sa.Column("address", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "subject"),
    )
    # A broker that logs certificate clients in by their common name asks by it, in no tenant.
    op.create_index("ix_issued_certificates_owner_only", "issued_certificates", ["owner"])


def downgrade() -> None:
    op.drop_index("ix_issued_certificates_owner_only", table_name="issued_certificates")
    op.drop_table("last_seen")
