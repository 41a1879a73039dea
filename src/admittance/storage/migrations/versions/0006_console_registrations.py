"""Console support: registrations (schema changes the console's registrations pages need, if any).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The registrations queue pages newest first by keyset (created_at, id), for every tenant or one
    # status, as an index range however many requests there are.
    op.create_index("ix_registration_requests_created", "registration_requests", ["created_at", "id"])
    op.create_index("ix_registration_requests_status_created", "registration_requests", ["status", "created_at", "id"])
    # The dashboard's registrations and admissions per day read audit events by tag and time.
    op.create_index("ix_audit_events_tag_at", "audit_events", ["tag", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_tag_at", table_name="audit_events")
    op.drop_index("ix_registration_requests_status_created", table_name="registration_requests")
    op.drop_index("ix_registration_requests_created", table_name="registration_requests")
