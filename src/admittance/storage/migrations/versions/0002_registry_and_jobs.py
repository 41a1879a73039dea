"""Device registry group membership (child assets), owner lookups, and the background job queue.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

AutoId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # A device's managed object is found by its owner (the device user) as well as by external id.
    op.create_index("ix_managed_objects_tenant_owner", "managed_objects", ["tenant_id", "owner"])
    op.create_table(
        "child_assets",
        sa.Column("parent_id", AutoId, nullable=False),
        sa.Column("child_id", AutoId, nullable=False),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["managed_objects.id"], name="fk_child_assets_parent_id_managed_objects", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["child_id"], ["managed_objects.id"], name="fk_child_assets_child_id_managed_objects", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_child_assets_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("parent_id", "child_id", name="pk_child_assets"),
    )
    op.create_index("ix_child_assets_child", "child_assets", ["child_id"])
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("creator", sa.String(1100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("options", sa.Text(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("cursor", sa.Integer(), nullable=False),
        sa.Column("created_count", sa.Integer(), nullable=False),
        sa.Column("updated_count", sa.Integer(), nullable=False),
        sa.Column("failed_count", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(100), nullable=True),
        sa.Column("lease_expires_at", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=True),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_jobs_tenant_id_tenants", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
    )
    op.create_index("ix_jobs_status_created", "jobs", ["status", "created_at"])
    op.create_index("ix_jobs_tenant_created", "jobs", ["tenant_id", "created_at"])
    op.create_table(
        "job_inputs",
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_job_inputs_job_id_jobs", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", name="pk_job_inputs"),
    )
    op.create_table(
        "job_rows",
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("device_id", sa.String(1000), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("raw", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_job_rows_job_id_jobs", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "line", name="pk_job_rows"),
    )


def downgrade() -> None:
    for table in ("job_rows", "job_inputs", "jobs", "child_assets"):
        op.drop_table(table)
    op.drop_index("ix_managed_objects_tenant_owner", "managed_objects")
