"""Initial schema: tenants, users and roles, registration requests, inventory seed, audit events.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

AutoId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

BUILTIN_ROLES = [
    ("ROLE_DEVICE_CONTROL_READ", "Read device registration requests"),
    ("ROLE_DEVICE_CONTROL_ADMIN", "Create, accept and delete device registration requests"),
    ("ROLE_USER_MANAGEMENT_READ", "Read users"),
    ("ROLE_USER_MANAGEMENT_ADMIN", "Manage users"),
    ("ROLE_INVENTORY_READ", "Read the device registry"),
    ("ROLE_INVENTORY_ADMIN", "Manage the device registry"),
    ("ROLE_IDENTITY_READ", "Read external ids"),
    ("ROLE_IDENTITY_ADMIN", "Manage external ids"),
    ("ROLE_TENANT_MANAGEMENT_ADMIN", "Manage tenants"),
    ("ROLE_DEVICE_BOOTSTRAP", "Poll for device credentials (the bootstrap user)"),
    ("ROLE_DEVICE", "A device with its own credentials"),
]


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(63), nullable=False),
        sa.Column("security_token_policy", sa.String(16), nullable=False),
        sa.Column("device_limit", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
    )
    roles = op.create_table(
        "roles",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_roles"),
    )
    op.create_table(
        "users",
        sa.Column("id", AutoId, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("username", sa.String(1100), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("password_changed_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_users_tenant_id_tenants", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
    )
    op.create_index("ux_users_tenant_username", "users", ["tenant_id", "username"], unique=True)
    op.create_index("ix_users_tenant_kind", "users", ["tenant_id", "kind"])
    op.create_table(
        "user_roles",
        sa.Column("user_id", AutoId, nullable=False),
        sa.Column("role", sa.String(100), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_user_roles_user_id_users", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["role"], ["roles.name"], name="fk_user_roles_role_roles", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "role", name="pk_user_roles"),
    )
    op.create_table(
        "registration_requests",
        sa.Column("id", sa.String(1000), nullable=False),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("owner", sa.String(1100), nullable=False),
        sa.Column("group_id", sa.String(1000), nullable=True),
        sa.Column("type", sa.String(1000), nullable=True),
        sa.Column("custom_properties", sa.Text(), nullable=False),
        sa.Column("security_token_digest", sa.String(64), nullable=True),
        sa.Column("enrollment_token_digest", sa.String(64), nullable=True),
        sa.Column("token_failures", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_registration_requests_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_registration_requests"),
    )
    op.create_index(
        "ix_registration_requests_tenant_created", "registration_requests", ["tenant_id", "created_at", "id"]
    )
    op.create_index("ix_registration_requests_status", "registration_requests", ["status", "tenant_id"])
    op.create_table(
        "managed_objects",
        sa.Column("id", AutoId, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("owner", sa.String(1100), nullable=False),
        sa.Column("name", sa.String(1000), nullable=True),
        sa.Column("type", sa.String(1000), nullable=True),
        sa.Column("fragments", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_managed_objects_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_managed_objects"),
    )
    op.create_index("ix_managed_objects_tenant_type", "managed_objects", ["tenant_id", "type"])
    op.create_table(
        "external_ids",
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("type", sa.String(1000), nullable=False),
        sa.Column("value", sa.String(1000), nullable=False),
        sa.Column("managed_object_id", AutoId, nullable=False),
        sa.ForeignKeyConstraint(
            ["managed_object_id"],
            ["managed_objects.id"],
            name="fk_external_ids_managed_object_id_managed_objects",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_external_ids_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "type", "value", name="pk_external_ids"),
    )
    op.create_index("ix_external_ids_managed_object", "external_ids", ["managed_object_id"])
    op.create_table(
        "audit_events",
        sa.Column("id", AutoId, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(1100), nullable=False),
        sa.Column("tag", sa.String(100), nullable=False),
        sa.Column("subject", sa.String(2100), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_tenant_subject", "audit_events", ["tenant_id", "subject", "at"])
    op.bulk_insert(roles, [{"name": n, "description": d, "builtin": True} for n, d in BUILTIN_ROLES])


def downgrade() -> None:
    for table in (
        "audit_events",
        "external_ids",
        "managed_objects",
        "registration_requests",
        "user_roles",
        "users",
        "roles",
        "tenants",
    ):
        op.drop_table(table)
