"""Access control for the Connectware-compatible API: roles with ids and permissions, user settings
(publish prefix, grant types, MFA), certificates by fingerprint, API tokens, MFA backup codes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

AutoId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_DEFAULT_GRANT_TYPES = '[{"method":"password","isRequired":false}]'
NEW_BUILTIN_ROLES = (
    ("connectware-admin", "Full read and write access to every HTTP path and MQTT topic"),
    ("minimum-access", "Sign in and read one's own session"),
)


def upgrade() -> None:
    # A role's key becomes its id; its display name is a column of its own (custom roles can be renamed).
    # Both databases rename in place and keep the foreign keys pointing at the renamed columns.
    op.execute("ALTER TABLE roles RENAME COLUMN name TO id")
    op.execute("ALTER TABLE user_roles RENAME COLUMN role TO role_id")
    op.add_column("roles", sa.Column("tenant_id", sa.String(63), nullable=True))
    op.add_column("roles", sa.Column("name", sa.String(200), nullable=False, server_default=""))
    op.add_column("roles", sa.Column("is_shared", sa.Boolean(), nullable=False, server_default=sa.true()))
    op.add_column("roles", sa.Column("auto_generated", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("roles", sa.Column("created_at", sa.BigInteger(), nullable=False, server_default="0"))
    op.execute("UPDATE roles SET name = id")
    roles = sa.table(
        "roles",
        sa.column("id", sa.String),
        sa.column("description", sa.Text),
        sa.column("builtin", sa.Boolean),
        sa.column("name", sa.String),
    )
    op.bulk_insert(roles, [{"id": n, "description": d, "builtin": True, "name": n} for n, d in NEW_BUILTIN_ROLES])
    op.create_index("ux_roles_tenant_name", "roles", ["tenant_id", "name"], unique=True)
    op.create_index("ix_user_roles_role", "user_roles", ["role_id"])
    op.create_table(
        "role_permissions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("role_id", sa.String(100), nullable=False),
        sa.Column("context", sa.String(8), nullable=False),
        sa.Column("operation", sa.String(16), nullable=False),
        sa.Column("resource", sa.String(1000), nullable=False),
        sa.ForeignKeyConstraint(
            ["role_id"], ["roles.id"], name="fk_role_permissions_role_id_roles", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_role_permissions"),
    )
    op.create_index(
        "ux_role_permissions_grant", "role_permissions", ["role_id", "context", "resource", "operation"], unique=True
    )
    for column in (
        sa.Column("auto_generated", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("mqtt_publish_prefix", sa.Text(), nullable=True),
        sa.Column("identity_provider", sa.String(16), nullable=False, server_default="local"),
        sa.Column("grant_types", sa.Text(), nullable=False, server_default=_DEFAULT_GRANT_TYPES),
        sa.Column("enforce_mfa_enrollment", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("mfa_secret", sa.Text(), nullable=True),
        sa.Column("mfa_pending_secret", sa.Text(), nullable=True),
        sa.Column("mfa_last_step", sa.BigInteger(), nullable=True),
    ):
        op.add_column("users", column)
    # Devices and the bootstrap identity are made by the system, not by a person.
    op.execute("UPDATE users SET auto_generated = TRUE WHERE kind <> 'human'")
    # Existing administrators keep full powers on the new API.
    op.execute(
        "INSERT INTO user_roles (user_id, role_id) SELECT user_id, 'connectware-admin' FROM user_roles "
        "WHERE role_id = 'ROLE_TENANT_MANAGEMENT_ADMIN'"
    )
    op.create_table(
        "user_certificates",
        sa.Column("user_id", AutoId, nullable=False),
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_user_certificates_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "fingerprint", name="pk_user_certificates"),
    )
    op.create_index("ix_user_certificates_fingerprint", "user_certificates", ["fingerprint"])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("user_id", AutoId, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("session_seconds", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_api_tokens_user_id_users", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
    )
    op.create_index("ux_api_tokens_digest", "api_tokens", ["digest"], unique=True)
    op.create_index("ix_api_tokens_user", "api_tokens", ["user_id", "kind"])
    op.create_table(
        "mfa_backup_codes",
        sa.Column("user_id", AutoId, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_mfa_backup_codes_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "digest", name="pk_mfa_backup_codes"),
    )


def downgrade() -> None:
    for table in ("mfa_backup_codes", "api_tokens", "user_certificates", "role_permissions"):
        op.drop_table(table)
    op.drop_index("ix_user_roles_role", "user_roles")
    op.drop_index("ux_roles_tenant_name", "roles")
    op.execute("DELETE FROM roles WHERE id IN ('connectware-admin', 'minimum-access')")
    with op.batch_alter_table("users") as batch:
        for name in (
            "auto_generated",
            "mqtt_publish_prefix",
            "identity_provider",
            "grant_types",
            "enforce_mfa_enrollment",
            "mfa_secret",
            "mfa_pending_secret",
            "mfa_last_step",
        ):
            batch.drop_column(name)
    with op.batch_alter_table("roles") as batch:
        for name in ("tenant_id", "name", "is_shared", "auto_generated", "created_at"):
            batch.drop_column(name)
    op.execute("ALTER TABLE user_roles RENAME COLUMN role_id TO role")
    op.execute("ALTER TABLE roles RENAME COLUMN id TO name")
