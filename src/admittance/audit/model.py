"""The audit event and its tags ("scope:subject:action", as warehouse names its events)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class AuditTag(StrEnum):
    REGISTRATION_CREATED = "devices:registration:create"
    REGISTRATION_POLLED = "devices:registration:first-poll"
    REGISTRATION_ACCEPTED = "devices:registration:accept"
    REGISTRATION_TOKEN_MISMATCH = "devices:registration:token-mismatch"  # noqa: S105 - an audit tag name, not a secret
    REGISTRATION_BLOCKED = "devices:registration:block"
    REGISTRATION_DELETED = "devices:registration:delete"
    CREDENTIALS_ISSUED = "devices:credentials:issue"
    DEVICE_IMPORTED = "devices:bulk:create"
    DEVICE_REIMPORTED = "devices:bulk:update-credentials"
    BULK_IMPORTED = "devices:bulk:import"
    JOB_SUBMITTED = "jobs:job:submit"
    UPLOAD_STAGED = "jobs:upload:stage"  # a manifest kept for its preview (console)
    UPLOAD_DISCARDED = "jobs:upload:discard"
    JOB_FINISHED = "jobs:job:finish"
    PASSWORDS_WRAPPED = "identity:password:wrap"
    MANAGED_OBJECT_CREATED = "inventory:managed-object:create"
    EXTERNAL_ID_CREATED = "inventory:external-id:create"
    TENANT_CREATED = "identity:tenant:create"
    USER_CREATED = "identity:user:create"
    USER_PASSWORD_CHANGED = "identity:user:set-password"  # noqa: S105 - an audit tag name, not a secret
    AUTH_FAILED = "identity:authentication:fail"
    MANAGED_OBJECT_UPDATED = "inventory:managed-object:update"
    MANAGED_OBJECT_DELETED = "inventory:managed-object:delete"
    EXTERNAL_ID_DELETED = "inventory:external-id:delete"
    CHILD_ASSET_ASSIGNED = "inventory:child-asset:assign"
    CHILD_ASSET_UNASSIGNED = "inventory:child-asset:unassign"
    USER_DELETED = "identity:user:delete"
    # The directory (/api users, roles, permissions)
    USER_UPDATED = "identity:user:update"
    USER_ROLE_GRANTED = "identity:user:grant-role"
    USER_ROLE_REVOKED = "identity:user:revoke-role"
    USER_CERTIFICATE_ADDED = "identity:user:add-certificate"
    USER_CERTIFICATE_REMOVED = "identity:user:remove-certificate"
    USER_MFA_RESET = "identity:user:disable-mfa"
    ROLE_CREATED = "identity:role:create"
    ROLE_UPDATED = "identity:role:update"
    ROLE_DELETED = "identity:role:delete"
    ROLE_PERMISSION_ADDED = "identity:role:add-permission"
    ROLE_PERMISSION_UPDATED = "identity:role:update-permission"
    ROLE_PERMISSION_REMOVED = "identity:role:remove-permission"
    SESSION_CREATED = "identity:session:create"
    SESSIONS_REVOKED = "identity:session:revoke"
    MFA_ENROLLMENT_STARTED = "identity:mfa:start"
    MFA_ENABLED = "identity:mfa:enable"
    MFA_DISABLED = "identity:mfa:disable"
    MFA_BACKUP_CODES_REGENERATED = "identity:mfa:regenerate-backup-codes"
    # Database maintenance (/api/maintenance/db, admittance backup|restore)
    DATABASE_BACKED_UP = "maintenance:database:backup"
    DATABASE_BACKUP_DOWNLOADED = "maintenance:database:download"
    DATABASE_RESTORED = "maintenance:database:restore"
    DATABASE_RESTORE_FAILED = "maintenance:database:restore-fail"
    CERTIFICATE_ENROLLED = "devices:certificate:enroll"  # EST simpleenroll with a one-time password
    # The device PKI
    CA_CREATED = "pki:ca:create"
    CA_IMPORTED = "pki:ca:import"
    CERTIFICATE_ISSUED = "pki:certificate:issue"
    CERTIFICATE_RENEWED = "pki:certificate:renew"
    CERTIFICATE_REVOKED = "pki:certificate:revoke"
    TRUSTED_CERTIFICATE_ADDED = "pki:trusted-certificate:add"
    TRUSTED_CERTIFICATE_REMOVED = "pki:trusted-certificate:remove"
    # The client registry (/api/client-registry)
    CLIENT_REGISTRY_OPENED = "identity:client-registry:open"
    CLIENT_REGISTRY_CLOSED = "identity:client-registry:close"
    CLIENT_REGISTRATION_REQUESTED = "identity:client-registration:request"
    CLIENT_REGISTRATION_GRANTED = "identity:client-registration:grant"
    CLIENT_REGISTRATION_REMOVED = "identity:client-registration:remove"
    # nRF Cloud claimed devices and tags
    NRF_DEVICE_CLAIMED = "claiming:device:claim"
    NRF_DEVICE_UNCLAIMED = "claiming:device:unclaim"
    NRF_DEVICE_BLOCKED = "claiming:device:block"
    NRF_DEVICE_UNBLOCKED = "claiming:device:unblock"
    NRF_DEVICE_TAGS_SET = "claiming:device:set-tags"
    NRF_TAG_CREATED = "claiming:tag:create"
    NRF_TAG_UPDATED = "claiming:tag:update"
    NRF_TAG_DELETED = "claiming:tag:delete"
    # nRF Cloud claim tokens (identity key registry, verification mode, challenges)
    NRF_IDENTITY_KEYS_IMPORTED = "claiming:identity-key:import"
    NRF_IDENTITY_KEY_DELETED = "claiming:identity-key:delete"
    NRF_CLAIM_VERIFICATION_SET = "claiming:claim-verification:set"
    NRF_CHALLENGE_ISSUED = "claiming:challenge:issue"
    # nRF Cloud provisioning (commands, rules, the device protocol)
    PROVISIONING_COMMAND_CREATED = "claiming:provisioning-command:create"
    PROVISIONING_COMMAND_CANCELLED = "claiming:provisioning-command:cancel"
    PROVISIONING_COMMAND_DELIVERED = "claiming:provisioning-command:deliver"
    PROVISIONING_COMMAND_ANSWERED = "claiming:provisioning-command:answer"
    PROVISIONING_RULE_CREATED = "claiming:provisioning-rule:create"
    PROVISIONING_RULE_UPDATED = "claiming:provisioning-rule:update"
    PROVISIONING_RULE_ACTIVATED = "claiming:provisioning-rule:activate"
    PROVISIONING_RULE_DELETED = "claiming:provisioning-rule:delete"
    PROVISIONING_RULE_APPLIED = "claiming:provisioning-rule:apply"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    tag: AuditTag
    tenant_id: str
    actor: str  # "tenant/username", or "system"
    subject: str
    at: datetime
    detail: dict[str, Any] = field(default_factory=dict)
