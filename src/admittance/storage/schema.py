"""The one schema definition. Alembic migrations must match it (a test checks).

Timestamps are epoch milliseconds (BIGINT) in both databases: one representation, no naive
datetimes, no driver-specific conversions. JSON documents are TEXT.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
AutoId = BigInteger().with_variant(Integer(), "sqlite")

tenants = Table(
    "tenants",
    metadata,
    Column("id", String(63), primary_key=True),
    Column("security_token_policy", String(16), nullable=False),
    Column("device_limit", Integer, nullable=True),
    Column("created_at", BigInteger, nullable=False),
)

roles = Table(
    "roles",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("description", Text, nullable=False),
    Column("builtin", Boolean, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("tenant_id", String(63), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("username", String(1100), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("password_changed_at", BigInteger, nullable=False),
    Index("ux_users_tenant_username", "tenant_id", "username", unique=True),
    Index("ix_users_tenant_kind", "tenant_id", "kind"),
)

user_roles = Table(
    "user_roles",
    metadata,
    Column("user_id", AutoId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("role", String(100), ForeignKey("roles.name", ondelete="CASCADE"), nullable=False),
    PrimaryKeyConstraint("user_id", "role"),
)

registration_requests = Table(
    "registration_requests",
    metadata,
    Column("id", String(1000), primary_key=True),
    Column("tenant_id", String(63), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(32), nullable=False),
    Column("owner", String(1100), nullable=False),
    Column("group_id", String(1000), nullable=True),
    Column("type", String(1000), nullable=True),
    Column("custom_properties", Text, nullable=False),
    Column("security_token_digest", String(64), nullable=True),
    Column("enrollment_token_digest", String(64), nullable=True),
    Column("token_failures", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_registration_requests_tenant_created", "tenant_id", "created_at", "id"),
    Index("ix_registration_requests_status", "status", "tenant_id"),
)

managed_objects = Table(
    "managed_objects",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("tenant_id", String(63), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("owner", String(1100), nullable=False),
    Column("name", String(1000), nullable=True),
    Column("type", String(1000), nullable=True),
    Column("fragments", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_managed_objects_tenant_type", "tenant_id", "type"),
)

external_ids = Table(
    "external_ids",
    metadata,
    Column("tenant_id", String(63), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("type", String(1000), nullable=False),
    Column("value", String(1000), nullable=False),
    Column("managed_object_id", AutoId, ForeignKey("managed_objects.id", ondelete="CASCADE"), nullable=False),
    PrimaryKeyConstraint("tenant_id", "type", "value"),
    Index("ix_external_ids_managed_object", "managed_object_id"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("tenant_id", String(63), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("actor", String(1100), nullable=False),
    Column("tag", String(100), nullable=False),
    Column("subject", String(2100), nullable=False),
    Column("detail", Text, nullable=False),
    Index("ix_audit_events_tenant_subject", "tenant_id", "subject", "at"),
)
