"""What the identity context needs from storage, in domain terms.

Unique names are settled by the database: `create_*` raise Conflict when the name is taken.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from admittance.audit import AuditStore
from admittance.identity.model import SecurityTokenPolicy, Tenant, User, UserAuthRecord, UserKind


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


class IdentityStorage(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[IdentityTransaction]: ...

    def read(self) -> AbstractAsyncContextManager[IdentityTransaction]:
        """The same stores on the read path: for use cases that change nothing."""
        ...

    async def auth_record(self, tenant_id: str, username: str) -> UserAuthRecord | None:
        """A read outside any transaction, for the authentication of every request."""
        ...

    async def tenant_exists(self, tenant_id: str) -> bool: ...
