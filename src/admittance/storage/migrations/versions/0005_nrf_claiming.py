"""nRF Cloud-compatible claiming: identity keys, token nonces and challenges, claimed devices and
their tags, provisioning commands and rules, the tenants' claim verification mode, the team roles.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

AutoId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NRF_ROLES = (
    ("nrf-cloud-viewer", "nRF Cloud team viewer: read the Provisioning Service"),
    ("nrf-cloud-editor", "nRF Cloud team editor: claim devices, manage their tags and provisioning commands"),
    ("nrf-cloud-admin", "nRF Cloud team admin: the whole Provisioning Service"),
    ("nrf-cloud-owner", "nRF Cloud team owner: the whole Provisioning Service"),
)


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant_id_tenants", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.add_column(
        "tenants", sa.Column("claim_verification", sa.String(16), nullable=False, server_default="known-keys")
    )
    roles = sa.table(
        "roles",
        sa.column("id", sa.String),
        sa.column("description", sa.Text),
        sa.column("builtin", sa.Boolean),
        sa.column("name", sa.String),
    )
    op.bulk_insert(roles, [{"id": n, "description": d, "builtin": True, "name": n} for n, d in NRF_ROLES])
    op.create_table(
        "nrf_identity_keys",
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("device_uuid", sa.String(36), nullable=False),
        sa.Column("public_key_pem", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        _tenant_fk("nrf_identity_keys"),
        sa.PrimaryKeyConstraint("tenant_id", "device_uuid", name="pk_nrf_identity_keys"),
    )
    op.create_table(
        "nrf_token_nonces",
        sa.Column("device_uuid", sa.String(36), nullable=False),
        sa.Column("nonce", sa.String(32), nullable=False),
        sa.Column("seen_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("device_uuid", "nonce", name="pk_nrf_token_nonces"),
    )
    op.create_table(
        "nrf_challenges",
        sa.Column("nonce", sa.String(32), nullable=False),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("used_at", sa.BigInteger(), nullable=True),
        _tenant_fk("nrf_challenges"),
        sa.PrimaryKeyConstraint("nonce", name="pk_nrf_challenges"),
    )
    op.create_table(
        "claimed_devices",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("device_type", sa.Integer(), nullable=False),
        sa.Column("firmware_id", sa.String(36), nullable=False),
        sa.Column("imei", sa.String(32), nullable=True),
        sa.Column("ownership_status", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("claimed_by", sa.String(1100), nullable=False),
        sa.Column("restricted", sa.Boolean(), nullable=False),
        sa.Column("identity_key_pem", sa.Text(), nullable=True),
        sa.Column("managed_object_id", AutoId, nullable=True),
        sa.Column("claimed_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        _tenant_fk("claimed_devices"),
        sa.ForeignKeyConstraint(
            ["managed_object_id"],
            ["managed_objects.id"],
            name="fk_claimed_devices_managed_object_id_managed_objects",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_claimed_devices"),
    )
    op.create_index("ix_claimed_devices_tenant_claimed", "claimed_devices", ["tenant_id", "claimed_at", "id"])
    op.create_table(
        "claimed_device_tags",
        sa.Column("device_id", sa.String(36), nullable=False),
        sa.Column("tag", sa.String(100), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["claimed_devices.id"],
            name="fk_claimed_device_tags_device_id_claimed_devices",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("device_id", "tag", name="pk_claimed_device_tags"),
    )
    op.create_index("ix_claimed_device_tags_tag", "claimed_device_tags", ["tag"])
    op.create_table(
        "nrf_tags",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("tag", sa.String(100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        _tenant_fk("nrf_tags"),
        sa.PrimaryKeyConstraint("id", name="pk_nrf_tags"),
    )
    op.create_index("ux_nrf_tags_tenant_kind_tag", "nrf_tags", ["tenant_id", "kind", "tag"], unique=True)
    op.create_table(
        "provisioning_commands",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("device_id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rule_id", sa.String(36), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["claimed_devices.id"],
            name="fk_provisioning_commands_device_id_claimed_devices",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_provisioning_commands"),
    )
    op.create_index("ix_provisioning_commands_device", "provisioning_commands", ["device_id", "position"])
    op.create_table(
        "provisioning_rules",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("commands", sa.Text(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("sign_csr", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        _tenant_fk("provisioning_rules"),
        sa.PrimaryKeyConstraint("id", name="pk_provisioning_rules"),
    )
    op.create_index("ix_provisioning_rules_tenant", "provisioning_rules", ["tenant_id", "created_at"])


def downgrade() -> None:
    for table in (
        "provisioning_rules",
        "provisioning_commands",
        "nrf_tags",
        "claimed_device_tags",
        "claimed_devices",
        "nrf_challenges",
        "nrf_token_nonces",
        "nrf_identity_keys",
    ):
        op.drop_table(table)
    op.execute("DELETE FROM roles WHERE id LIKE 'nrf-cloud-%'")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("claim_verification")
