"""Console support: claiming and certificates (indexes for the console's certificates list).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The console's issued-certificates list pages newest first, in the caller's tenant (or every
    # tenant for the management tenant), as an index range rather than a sort of the whole table.
    op.create_index("ix_issued_certificates_tenant_created", "issued_certificates", ["tenant_id", "created_at"])
    op.create_index("ix_issued_certificates_created", "issued_certificates", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_issued_certificates_created", table_name="issued_certificates")
    op.drop_index("ix_issued_certificates_tenant_created", table_name="issued_certificates")
