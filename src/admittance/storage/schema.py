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
    LargeBinary,
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
    Column("claim_verification", String(16), nullable=False),  # nRF claim tokens: known-keys or structure-only
)

# Roles: the built-in ones (tenant_id NULL; their permissions are defined in code, kernel/access.py)
# and each tenant's own. `auto_generated` roles hold one user's direct permissions (Connectware).
roles = Table(
    "roles",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("description", Text, nullable=False),
    Column("builtin", Boolean, nullable=False),
    Column("tenant_id", String(63), nullable=True),
    Column("name", String(200), nullable=False),
    Column("is_shared", Boolean, nullable=False),
    Column("auto_generated", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ux_roles_tenant_name", "tenant_id", "name", unique=True),
)

role_permissions = Table(
    "role_permissions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("role_id", String(100), ForeignKey("roles.id", ondelete="CASCADE"), nullable=False),
    Column("context", String(8), nullable=False),
    Column("operation", String(16), nullable=False),
    Column("resource", String(1000), nullable=False),
    Index("ux_role_permissions_grant", "role_id", "context", "resource", "operation", unique=True),
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
    Column("auto_generated", Boolean, nullable=False),
    Column("mqtt_publish_prefix", Text, nullable=True),
    Column("identity_provider", String(16), nullable=False),
    Column("grant_types", Text, nullable=False),  # JSON [{"method", "isRequired"}]
    Column("enforce_mfa_enrollment", Boolean, nullable=False),
    Column("mfa_secret", Text, nullable=True),  # sealed (AES-GCM under a key derived from the secret key)
    Column("mfa_pending_secret", Text, nullable=True),  # sealed; enrollment started, first code not yet seen
    Column("mfa_last_step", BigInteger, nullable=True),  # the last TOTP time step accepted: no reuse
    Index("ux_users_tenant_username", "tenant_id", "username", unique=True),
    Index("ix_users_tenant_kind", "tenant_id", "kind"),
)

user_roles = Table(
    "user_roles",
    metadata,
    Column("user_id", AutoId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("role_id", String(100), ForeignKey("roles.id", ondelete="CASCADE"), nullable=False),
    PrimaryKeyConstraint("user_id", "role_id"),
    Index("ix_user_roles_role", "role_id"),
)

# Certificates a user may authenticate with, by fingerprint (SHA-256 of the DER, lower-case hex).
user_certificates = Table(
    "user_certificates",
    metadata,
    Column("user_id", AutoId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("fingerprint", String(128), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    PrimaryKeyConstraint("user_id", "fingerprint"),
    Index("ix_user_certificates_fingerprint", "fingerprint"),
)

# API tokens and MFA login challenges: random, prefixed, stored only as a keyed digest. `id` is the
# public fingerprint used to list and revoke a token; it reveals nothing of the token.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", AutoId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("label", String(200), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("session_seconds", BigInteger, nullable=True),  # an MFA challenge: the lifetime of the token it leads to
    Index("ux_api_tokens_digest", "digest", unique=True),
    Index("ix_api_tokens_user", "user_id", "kind"),
)

# MFA backup codes: keyed digests, each deleted when used.
mfa_backup_codes = Table(
    "mfa_backup_codes",
    metadata,
    Column("user_id", AutoId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("digest", String(64), nullable=False),
    PrimaryKeyConstraint("user_id", "digest"),
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
    # The console's queue pages newest first by keyset, across tenants and by status (migration 0006).
    Index("ix_registration_requests_created", "created_at", "id"),
    Index("ix_registration_requests_status_created", "status", "created_at", "id"),
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
    Index("ix_managed_objects_tenant_owner", "tenant_id", "owner"),
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

# Group membership: a group's child assets (subgroups and devices). A child may sit in several groups.
child_assets = Table(
    "child_assets",
    metadata,
    Column("parent_id", AutoId, ForeignKey("managed_objects.id", ondelete="CASCADE"), nullable=False),
    Column("child_id", AutoId, ForeignKey("managed_objects.id", ondelete="CASCADE"), nullable=False),
    Column("tenant_id", String(63), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    PrimaryKeyConstraint("parent_id", "child_id"),
    Index("ix_child_assets_child", "child_id"),
)

# Background jobs: a queue in the database. `cursor` is the number of input rows already applied;
# it advances in the same transaction as the rows it covers, so a killed job resumes exactly there.
jobs = Table(
    "jobs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(63), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("creator", String(1100), nullable=False),
    Column("status", String(16), nullable=False),
    Column("options", Text, nullable=False),
    Column("total", Integer, nullable=False),
    Column("cursor", Integer, nullable=False),
    Column("created_count", Integer, nullable=False),
    Column("updated_count", Integer, nullable=False),
    Column("failed_count", Integer, nullable=False),
    Column("error", Text, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("lease_owner", String(100), nullable=True),
    Column("lease_expires_at", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("started_at", BigInteger, nullable=True),
    Column("finished_at", BigInteger, nullable=True),
    Index("ix_jobs_status_created", "status", "created_at"),
    Index("ix_jobs_tenant_created", "tenant_id", "created_at"),
    Index("ix_jobs_kind_created", "kind", "created_at"),  # the console's list of imports
)

# A job's input (a manifest of up to tens of MB), apart from the job row so listing jobs stays light.
job_inputs = Table(
    "job_inputs",
    metadata,
    Column("job_id", String(36), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
    Column("content", LargeBinary, nullable=False),
)

# Per-row results worth keeping: failures (with the raw line, for the "fix and re-upload" CSV) and
# credential updates. Created rows are only counted.
job_rows = Table(
    "job_rows",
    metadata,
    Column("job_id", String(36), ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("line", Integer, nullable=False),
    Column("status", String(24), nullable=False),
    Column("device_id", String(1000), nullable=True),
    Column("reason", Text, nullable=True),
    Column("raw", Text, nullable=True),
    PrimaryKeyConstraint("job_id", "line"),
)

# A manifest uploaded in the console for a preview, until it is imported, discarded or expires:
# kept in the database so that any server process can show the preview and commit it, bound to the
# user who uploaded it. Short-lived (STAGED_FOR in jobs/service.py); expired ones go at the next upload.
staged_imports = Table(
    "staged_imports",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(63), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", AutoId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("size", Integer, nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Index("ix_staged_imports_expires", "expires_at"),
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
    Index("ix_audit_events_tag_at", "tag", "at"),  # the dashboard's registrations per day (migration 0006)
)

# Certificates the server trusts: its own device CA (the issuing one has a sealed key; `removable`
# false) and CA certificates an operator added (trust only). /api/certificates lists them.
trusted_certificates = Table(
    "trusted_certificates",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("purpose", String(16), nullable=False),  # device-ca (issuing), chain (above it), trusted (added)
    Column("certificate_pem", Text, nullable=False),
    Column("key_sealed", Text, nullable=True),  # the issuing CA's private key, sealed; never returned
    Column("sha1", String(40), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("removable", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ux_trusted_certificates_sha256", "sha256", unique=True),
)

# Every certificate the device CA issued, kept after its owner is gone (the CRL needs the serials).
issued_certificates = Table(
    "issued_certificates",
    metadata,
    Column("serial", String(64), primary_key=True),  # lower-case hex
    Column("tenant_id", String(63), nullable=False),
    Column("owner", String(1100), nullable=False),  # the username the certificate authenticates
    Column("subject", Text, nullable=False),
    Column("sha1", String(40), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("public_key_sha256", String(64), nullable=False),
    Column("not_before", BigInteger, nullable=False),
    Column("not_after", BigInteger, nullable=False),
    Column("issued_via", String(16), nullable=False),  # registry, est, renewal, api
    Column("certificate_pem", Text, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
    Column("revocation_reason", String(32), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Index("ux_issued_certificates_sha256", "sha256", unique=True),
    Index("ix_issued_certificates_owner", "tenant_id", "owner"),
    # The console's list pages newest first, in one tenant or all (migration 0008).
    Index("ix_issued_certificates_tenant_created", "tenant_id", "created_at"),
    Index("ix_issued_certificates_created", "created_at"),
    # A broker that logs certificate clients in by their common name asks by it (migration 0009).
    Index("ix_issued_certificates_owner_only", "owner"),
)

# The client registry's window, per tenant: open while open_until is in the future. In the database,
# so that every server process agrees.
client_registry_windows = Table(
    "client_registry_windows",
    metadata,
    Column("tenant_id", String(63), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
    Column("open_until", BigInteger, nullable=False),
    Column("opened_by", String(1100), nullable=False),
)

# Self-registrations (Connectware's client registry): pending until an operator grants them.
client_registrations = Table(
    "client_registrations",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(63), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("username", String(254), nullable=False),
    Column("credential_type", String(16), nullable=False),  # password or certificate
    Column("password_digest", String(64), nullable=True),  # keyed digest: recognizes the requester cheaply
    Column("password_hash", Text, nullable=True),  # argon2id, for the user created at the grant
    Column("csr_pem", Text, nullable=True),
    Column("public_key_sha256", String(64), nullable=True),
    Column("roles", Text, nullable=False),  # JSON list of the role ids asked for
    Column("permissions", Text, nullable=False),  # JSON list of the permissions asked for
    Column("context", Text, nullable=False),
    Column("pairing_code", String(16), nullable=False),
    Column("status", String(16), nullable=False),  # pending, granted
    Column("certificate_serial", String(64), nullable=True),
    Column("user_id", AutoId, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("source", String(100), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ux_client_registrations_tenant_username", "tenant_id", "username", unique=True),
    # The console lists one status of a tenant in creation order (migration 0008).
    Index("ix_client_registrations_tenant_status", "tenant_id", "status", "created_at"),
)

# Backups and restores (/api/maintenance/db), newest last; one may run at a time.
maintenance_runs = Table(
    "maintenance_runs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(16), nullable=False),  # backup, restore
    Column("started_at", BigInteger, nullable=False),
    Column("finished_at", BigInteger, nullable=True),
    Column("succeeded", Boolean, nullable=True),
    Column("status_message", Text, nullable=False),
    Column("file_name", Text, nullable=True),
    Column("sha256", String(64), nullable=True),
    Column("actor", String(1100), nullable=False),
    Index("ix_maintenance_runs_kind_started", "kind", "started_at"),
)

# --- nRF Cloud-compatible claiming (issue 6) ---------------------------------------------------

# Device identity public keys a manufacturer imported (device UUID -> P-256 key), per tenant: with
# `known-keys` verification only tokens signed by the registered key can claim.
nrf_identity_keys = Table(
    "nrf_identity_keys",
    metadata,
    Column("tenant_id", String(63), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("device_uuid", String(36), nullable=False),
    Column("public_key_pem", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant_id", "device_uuid"),
)

# Nonces of accepted claim tokens: a (device UUID, nonce) pair is accepted once, whoever presents it.
nrf_token_nonces = Table(
    "nrf_token_nonces",
    metadata,
    Column("device_uuid", String(36), nullable=False),
    Column("nonce", String(32), nullable=False),  # hex of the 16 bytes
    Column("seen_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("device_uuid", "nonce"),
)

# Server-issued challenges (AT%ATTESTTOKEN="<challenge>"): the token must carry one, once.
nrf_challenges = Table(
    "nrf_challenges",
    metadata,
    Column("nonce", String(32), primary_key=True),
    Column("tenant_id", String(63), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("used_at", BigInteger, nullable=True),
)

# A claimed device: one owner (tenant) at a time, the device UUID from the token as its id.
claimed_devices = Table(
    "claimed_devices",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(63), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("device_type", Integer, nullable=False),
    Column("firmware_id", String(36), nullable=False),
    Column("imei", String(32), nullable=True),
    Column("ownership_status", String(16), nullable=False),
    Column("status", String(16), nullable=False),  # READY, BLOCKED
    Column("claimed_by", String(1100), nullable=False),
    Column("restricted", Boolean, nullable=False),  # claimed by an admin/owner: hidden from editors/viewers
    Column("identity_key_pem", Text, nullable=True),  # the key its token verified with: verifies device JWTs
    Column("managed_object_id", AutoId, ForeignKey("managed_objects.id", ondelete="SET NULL"), nullable=True),
    Column("claimed_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_claimed_devices_tenant_claimed", "tenant_id", "claimed_at", "id"),
)

claimed_device_tags = Table(
    "claimed_device_tags",
    metadata,
    Column("device_id", String(36), ForeignKey("claimed_devices.id", ondelete="CASCADE"), nullable=False),
    Column("tag", String(100), nullable=False),
    PrimaryKeyConstraint("device_id", "tag"),
    Index("ix_claimed_device_tags_tag", "tag"),
)

# Tags a team defined (claimed-device tags and provisioning tags), with a description.
nrf_tags = Table(
    "nrf_tags",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(63), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),  # claimed, provisioning
    Column("tag", String(100), nullable=False),
    Column("description", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ux_nrf_tags_tenant_kind_tag", "tenant_id", "kind", "tag", unique=True),
)

# A device's provisioning command queue (at most 20), in order.
provisioning_commands = Table(
    "provisioning_commands",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("device_id", String(36), ForeignKey("claimed_devices.id", ondelete="CASCADE"), nullable=False),
    Column("tenant_id", String(63), nullable=False),
    Column("position", Integer, nullable=False),
    Column("description", Text, nullable=False),
    Column("request", Text, nullable=False),  # JSON {<type>: {...}}
    Column("response", Text, nullable=True),  # JSON
    Column("status", String(16), nullable=False),  # PENDING, IN_PROGRESS, SUCCEEDED, FAILED, CANCELLED
    Column("rule_id", String(36), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_provisioning_commands_device", "device_id", "position"),
)

# Provisioning rules: commands queued on every device carrying one of the tags; DRAFT until
# activated, immutable once active.
provisioning_rules = Table(
    "provisioning_rules",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(63), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("state", String(16), nullable=False),  # DRAFT, ACTIVE
    Column("commands", Text, nullable=False),  # JSON list of {description?, request}
    Column("tags", Text, nullable=False),  # JSON list
    Column("sign_csr", Boolean, nullable=False),  # answer a CSR response with a clientCertificate command
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_provisioning_rules_tenant", "tenant_id", "created_at"),
)

# Where each subject (a user by name, an nRF claimed device by its id) last authenticated: written
# in batches (identity/last_seen.py), so no request writes it.
last_seen = Table(
    "last_seen",
    metadata,
    Column("tenant_id", String(63), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("subject", String(1100), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("door", String(24), nullable=False),
    Column("address", String(64), nullable=True),
    PrimaryKeyConstraint("tenant_id", "subject"),
)
