"""What the identity context needs from storage, in domain terms: tenants, users, and the directory
(users with roles and permissions as the Connectware-compatible API manages them).

Unique names are settled by the database: `create_*` raise Conflict when the name is taken.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from admittance.audit import AuditStore
from admittance.identity.directory_model import DirectoryUser, GrantType, NewCertificate, Role, StoredPermission
from admittance.identity.model import (
    MfaState,
    NewToken,
    SecurityTokenPolicy,
    Tenant,
    TokenInfo,
    TokenRecord,
    User,
    UserAuthRecord,
    UserKind,
    UserRef,
)
from admittance.kernel.storage import Storage


class TenantStore(Protocol):
    async def create(self, tenant_id: str, policy: SecurityTokenPolicy, device_limit: int | None) -> Tenant:
        """Raises Conflict when the id is taken."""
        ...

    async def get(self, tenant_id: str) -> Tenant | None: ...

    async def all(self) -> list[Tenant]: ...

    async def set_policy(self, tenant_id: str, policy: SecurityTokenPolicy) -> None: ...


class UserStore(Protocol):
    async def create(
        self, tenant_id: str, username: str, password_hash: str, kind: UserKind, roles: Iterable[str]
    ) -> User:
        """Raises Conflict when the username is taken in the tenant."""
        ...

    async def upsert_device_user(self, tenant_id: str, username: str, password_hash: str, role: str) -> None:
        """Create the device user, or reset its password and enable it. Raises Conflict when the name
        belongs to a user who is not a device."""
        ...

    async def get(self, tenant_id: str, username: str) -> User | None: ...

    async def auth_record(self, tenant_id: str, username: str) -> UserAuthRecord | None: ...

    async def in_tenant(self, tenant_id: str) -> list[User]: ...

    async def set_password_hash(self, tenant_id: str, username: str, password_hash: str) -> bool: ...

    async def count_devices(self, tenant_id: str) -> int: ...


class IdentityTransaction(Protocol):
    @property
    def tenants(self) -> TenantStore: ...

    @property
    def users(self) -> UserStore: ...

    @property
    def audit(self) -> AuditStore: ...


class IdentityStorage(Storage[IdentityTransaction], Protocol):
    async def auth_record(self, tenant_id: str, username: str) -> UserAuthRecord | None:
        """A read outside any transaction, for the authentication of every request."""
        ...

    async def tenant_exists(self, tenant_id: str) -> bool: ...


class DirectoryStore(Protocol):
    # -- users ------------------------------------------------------------------------------------
    async def create_user(
        self,
        tenant_id: str,
        username: str,
        password_hash: str,
        kind: UserKind,
        *,
        auto_generated: bool,
        mqtt_publish_prefix: str | None,
        identity_provider: str,
        grant_types: Sequence[GrantType],
        enforce_mfa_enrollment: bool,
    ) -> int:
        """The new user's id. Raises Conflict when the username is taken in the tenant."""
        ...

    async def users(self, user_ids: Sequence[int], now: datetime) -> list[DirectoryUser]:
        """Full users (roles with permissions, certificates, live session tokens), in the given order."""
        ...

    async def user_page(
        self,
        tenant_id: str | None,
        usernames: Sequence[str],
        exclude_auto_generated: bool,
        offset: int,
        limit: int,
        search: str = "",
    ) -> tuple[list[int], int]:
        """Ids of one page of users, ordered by username, and the total. `tenant_id` None: every
        tenant; else that tenant and the management tenant's bootstrap identity. `search`: only
        usernames containing it, in any case."""
        ...

    async def update_profile(
        self,
        user_id: int,
        *,
        username: str,
        mqtt_publish_prefix: str | None,
        identity_provider: str,
        grant_types: Sequence[GrantType],
        enforce_mfa_enrollment: bool,
    ) -> None:
        """Raises Conflict when the new username is taken in the tenant."""
        ...

    async def set_password_hash(self, user_id: int, password_hash: str) -> None: ...

    async def set_enabled(self, user_id: int, enabled: bool) -> None: ...

    async def clear_mfa(self, user_id: int) -> None:
        """Forget the TOTP secrets, the last accepted step and the backup codes."""
        ...

    async def delete_user(self, user_id: int) -> None: ...

    async def grant_role(self, user_id: int, role_id: str) -> bool:
        """False when the user held it already."""
        ...

    async def revoke_role(self, user_id: int, role_id: str) -> bool:
        """False when the user did not hold it."""
        ...

    async def certificate_owner(self, fingerprint: str) -> int | None: ...

    async def add_certificate(self, user_id: int, certificate: NewCertificate, now: datetime) -> None: ...

    async def remove_certificate(self, user_id: int, fingerprint: str) -> bool: ...

    # -- roles ------------------------------------------------------------------------------------
    async def role(self, role_id: str) -> Role | None:
        """A stored (custom or personal) role with its permissions."""
        ...

    async def roles(self, tenant_id: str | None) -> list[Role]:
        """Stored roles of a tenant (None: of every tenant), with their permissions, ordered by name."""
        ...

    async def create_role(self, role: Role, now: datetime) -> None:
        """Raises Conflict when the name is taken in the tenant."""
        ...

    async def update_role(self, role_id: str, name: str, is_shared: bool) -> None:
        """Raises Conflict when the name is taken in the tenant."""
        ...

    async def delete_role(self, role_id: str) -> int:
        """Delete the role and its grants; the number of users who held it."""
        ...

    async def add_permission(self, role_id: str, permission: StoredPermission) -> None:
        """Raises Conflict when the role grants the same permission already."""
        ...

    async def update_permission(self, role_id: str, permission: StoredPermission) -> None:
        """Raises Conflict when the role grants the same permission already."""
        ...

    async def delete_permission(self, role_id: str, permission_id: str) -> bool: ...

    async def replace_permissions(self, role_id: str, permissions: Sequence[StoredPermission]) -> None: ...

    async def role_members(
        self, role_ids: Sequence[str], tenant_id: str | None, per_role: int
    ) -> dict[str, list[tuple[int, str]]]:
        """Up to `per_role` (id, username) of each role's users, ordered by username; `tenant_id` None:
        of every tenant."""
        ...

    async def usernames(self, user_ids: Sequence[int]) -> dict[int, str]: ...


class DirectoryTransaction(Protocol):
    @property
    def tenants(self) -> TenantStore: ...

    @property
    def directory(self) -> DirectoryStore: ...

    @property
    def audit(self) -> AuditStore: ...


class SessionStore(Protocol):
    async def create_token(self, token: NewToken) -> None: ...

    async def token_by_digest(self, digest: str) -> TokenRecord | None: ...

    async def consume_challenge(self, digest: str) -> TokenRecord | None:
        """Delete the MFA challenge with this digest and return it (None when there is none)."""
        ...

    async def tokens_of(self, user_id: int, now: datetime) -> list[TokenInfo]:
        """Unexpired session tokens, oldest first."""
        ...

    async def revoke(self, user_id: int, token_id: str | None, keep: str | None) -> int:
        """Delete one token (by id) or all tokens of the user except `keep`; the number deleted."""
        ...

    async def delete_expired(self, user_id: int, now: datetime) -> None: ...

    async def user_ref(self, user_id: int) -> UserRef | None: ...

    async def mfa_state(self, user_id: int) -> MfaState | None: ...

    async def set_pending_secret(self, user_id: int, sealed: str) -> None: ...

    async def enroll(self, user_id: int, pending: str, step: int) -> bool:
        """Make the pending secret the enrolled one (if it is still the pending one and nothing is
        enrolled), with `step` as the last used step."""
        ...

    async def advance_step(self, user_id: int, step: int) -> bool:
        """Set the last used TOTP step if it is newer than the stored one (false: the code was used)."""
        ...

    async def replace_backup_codes(self, user_id: int, digests: Sequence[str]) -> None: ...

    async def use_backup_code(self, user_id: int, digest: str) -> bool:
        """Delete the code; true when it existed (single use)."""
        ...

    async def disable_mfa(self, user_id: int) -> bool: ...


class SessionTransaction(Protocol):
    @property
    def sessions(self) -> SessionStore: ...

    @property
    def users(self) -> UserStore: ...

    @property
    def audit(self) -> AuditStore: ...


class SessionStorage(Storage[SessionTransaction], Protocol):
    async def auth_record(self, tenant_id: str, username: str) -> UserAuthRecord | None: ...
