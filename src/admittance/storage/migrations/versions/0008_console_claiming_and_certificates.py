"""Console support: claiming and certificates (indexes for the console's certificates and client registry lists).

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
    # The client registry page lists the pending requests (and the latest granted ones) of a tenant.
    op.create_index(
        "ix_client_registrations_tenant_status", "client_registrations", ["tenant_id", "status", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_client_registrations_tenant_status", table_name="client_registrations")
    op.drop_index("ix_issued_certificates_created", table_name="issued_certificates")
    op.drop_index("ix_issued_certificates_tenant_created", table_name="issued_certificates")
