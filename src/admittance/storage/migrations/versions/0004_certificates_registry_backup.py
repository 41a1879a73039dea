"""Certificates (the trusted store, issued certificates), the client registry, and backup/restore runs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

AutoId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "trusted_certificates",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("key_sealed", sa.Text(), nullable=True),
        sa.Column("sha1", sa.String(40), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("removable", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_trusted_certificates"),
    )
    op.create_index("ux_trusted_certificates_sha256", "trusted_certificates", ["sha256"], unique=True)
    op.create_table(
        "issued_certificates",
        sa.Column("serial", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("owner", sa.String(1100), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("sha1", sa.String(40), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("public_key_sha256", sa.String(64), nullable=False),
        sa.Column("not_before", sa.BigInteger(), nullable=False),
        sa.Column("not_after", sa.BigInteger(), nullable=False),
        sa.Column("issued_via", sa.String(16), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.Column("revocation_reason", sa.String(32), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("serial", name="pk_issued_certificates"),
    )
    op.create_index("ux_issued_certificates_sha256", "issued_certificates", ["sha256"], unique=True)
    op.create_index("ix_issued_certificates_owner", "issued_certificates", ["tenant_id", "owner"])
    op.create_table(
        "client_registry_windows",
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("open_until", sa.BigInteger(), nullable=False),
        sa.Column("opened_by", sa.String(1100), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_client_registry_windows_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_client_registry_windows"),
    )
    op.create_table(
        "client_registrations",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("username", sa.String(254), nullable=False),
        sa.Column("credential_type", sa.String(16), nullable=False),
        sa.Column("password_digest", sa.String(64), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("csr_pem", sa.Text(), nullable=True),
        sa.Column("public_key_sha256", sa.String(64), nullable=True),
        sa.Column("roles", sa.Text(), nullable=False),
        sa.Column("permissions", sa.Text(), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("pairing_code", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("certificate_serial", sa.String(64), nullable=True),
        sa.Column("user_id", AutoId, nullable=True),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_client_registrations_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_client_registrations_user_id_users", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_client_registrations"),
    )
    op.create_index(
        "ux_client_registrations_tenant_username", "client_registrations", ["tenant_id", "username"], unique=True
    )
    op.create_table(
        "maintenance_runs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.Column("succeeded", sa.Boolean(), nullable=True),
        sa.Column("status_message", sa.Text(), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("actor", sa.String(1100), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_maintenance_runs"),
    )
    op.create_index("ix_maintenance_runs_kind_started", "maintenance_runs", ["kind", "started_at"])


def downgrade() -> None:
    for table in (
        "maintenance_runs",
        "client_registrations",
        "client_registry_windows",
        "issued_certificates",
        "trusted_certificates",
    ):
        op.drop_table(table)
