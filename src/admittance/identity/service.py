"""Use cases of the identity context: tenants, users, passwords, and authenticating a request."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NoReturn

from admittance.audit import AuditEvent, AuditTag
from admittance.identity.authentication import Authenticator
from admittance.identity.model import (
    PasswordPolicy,
    PresentedCredentials,
    SecurityTokenPolicy,
    Tenant,
    User,
    UserKind,
    validate_tenant_id,
    validate_username,
)
from admittance.identity.store import IdentityStorage
from admittance.kernel.clock import Clock
from admittance.kernel.errors import Conflict, InvalidInput, NotFound
from admittance.kernel.passwords import CredentialVerifier, PasswordHasher
from admittance.kernel.principal import ADMIN_ROLES, MANAGEMENT_TENANT, Principal, Role
from admittance.kernel.secrets import random_password

SYSTEM_ACTOR = "system"
ADMIN_USERNAME = "admin"
BOOTSTRAP_USERNAME = "devicebootstrap"


@dataclass(frozen=True, slots=True)
class FirstStart:
    """What the first start created; the generated passwords are shown once and never stored."""

    default_tenant: str
    admin_password: str | None
    bootstrap_password: str | None

    def __repr__(self) -> str:
        return f"FirstStart(default_tenant={self.default_tenant!r})"


# Device users are named device_<external id>; people cannot take such names.
DEVICE_USERNAME_PREFIX = "device_"


class IdentityService:
    def __init__(
        self,
        storage: IdentityStorage,
        authenticator: Authenticator,
        verifier: CredentialVerifier,
        hasher: PasswordHasher,
        clock: Clock,
        password_policy: PasswordPolicy,
    ) -> None:
        self._storage = storage
        self._authenticator = authenticator
        self._verifier = verifier
        self._hasher = hasher
        self._clock = clock
        self._policy = password_policy

    async def authenticate(self, presented: PresentedCredentials) -> Principal:
        record = await self._storage.auth_record(presented.tenant_id, presented.username)
        return await self._authenticator.verify(presented, record)

    async def reject_malformed(self, source: str, reason: str) -> NoReturn:
        await self._authenticator.reject_malformed(source, reason)

    async def initialize(
        self, default_tenant: str, admin_password: str | None, bootstrap_password: str | None
    ) -> FirstStart | None:
        """First start: the management tenant, the operator's tenant, `admin` and the bootstrap user.

        One transaction, so a crash leaves nothing half-made. None when already initialized.
        Passwords not given are generated and returned, to be shown once.
        """
        validate_tenant_id(default_tenant)
        if await self._storage.tenant_exists(MANAGEMENT_TENANT):
            return None
        admin = admin_password or random_password(24)
        bootstrap = bootstrap_password or random_password(32)
        if admin_password:
            self._policy.check(admin_password, ADMIN_USERNAME)
        if bootstrap_password:
            self._policy.check(bootstrap_password, BOOTSTRAP_USERNAME)
        admin_hash = await self._verifier.run_blocking_hash(admin)
        bootstrap_hash = await self._hash(bootstrap, generated=bootstrap_password is None)
        try:
            async with self._storage.transaction() as tx:
                for tenant_id in dict.fromkeys((MANAGEMENT_TENANT, default_tenant)):
                    await tx.tenants.create(tenant_id, SecurityTokenPolicy.OPTIONAL, None)
                    await tx.audit.record(self._event(AuditTag.TENANT_CREATED, tenant_id, SYSTEM_ACTOR, tenant_id))
                await tx.users.create(
                    default_tenant,
                    ADMIN_USERNAME,
                    admin_hash,
                    UserKind.HUMAN,
                    sorted(role.value for role in ADMIN_ROLES),
                )
                await tx.users.create(
                    MANAGEMENT_TENANT,
                    BOOTSTRAP_USERNAME,
                    bootstrap_hash,
                    UserKind.BOOTSTRAP,
                    [Role.DEVICE_BOOTSTRAP.value],
                )
                for tenant_id, username in ((default_tenant, ADMIN_USERNAME), (MANAGEMENT_TENANT, BOOTSTRAP_USERNAME)):
                    await tx.audit.record(self._event(AuditTag.USER_CREATED, tenant_id, SYSTEM_ACTOR, username))
        except Conflict:
            return None  # another process initialized first
        return FirstStart(
            default_tenant=default_tenant,
            admin_password=None if admin_password else admin,
            bootstrap_password=None if bootstrap_password else bootstrap,
        )

    async def tenant_exists(self, tenant_id: str) -> bool:
        return await self._storage.tenant_exists(tenant_id)

    async def create_tenant(
        self,
        tenant_id: str,
        *,
        policy: SecurityTokenPolicy = SecurityTokenPolicy.OPTIONAL,
        device_limit: int | None = None,
        actor: str = SYSTEM_ACTOR,
    ) -> Tenant:
        validate_tenant_id(tenant_id)
        if device_limit is not None and device_limit < 0:
            raise InvalidInput("device limit must not be negative", entity="tenant", field="deviceLimit")
        async with self._storage.transaction() as tx:
            tenant = await tx.tenants.create(tenant_id, policy, device_limit)
            await tx.audit.record(self._event(AuditTag.TENANT_CREATED, tenant_id, actor, tenant_id))
        return tenant

    async def list_tenants(self) -> list[Tenant]:
        async with self._storage.read() as tx:
            return await tx.tenants.all()

    async def set_security_token_policy(self, tenant_id: str, policy: SecurityTokenPolicy) -> None:
        async with self._storage.transaction() as tx:
            if await tx.tenants.get(tenant_id) is None:
                raise NotFound(f"There is no tenant {tenant_id}", entity="tenant")
            await tx.tenants.set_policy(tenant_id, policy)

    async def create_user(
        self,
        tenant_id: str,
        username: str,
        password: str,
        roles: Iterable[str],
        *,
        kind: UserKind = UserKind.HUMAN,
        generated: bool = False,
        actor: str = SYSTEM_ACTOR,
    ) -> User:
        """Create a user. `generated` marks a server-generated password (fast keyed hash)."""
        validate_username(username)
        if kind is UserKind.HUMAN and username.lower().startswith(DEVICE_USERNAME_PREFIX):
            raise InvalidInput(
                f"user names starting with {DEVICE_USERNAME_PREFIX} are reserved for devices",
                entity="user",
                field="username",
            )
        role_set = self._validate_roles(roles)
        if not generated:
            self._policy.check(password, username)
        password_hash = await self._hash(password, generated)
        async with self._storage.transaction() as tx:
            if await tx.tenants.get(tenant_id) is None:
                raise NotFound(f"There is no tenant {tenant_id}", entity="tenant")
            user = await tx.users.create(tenant_id, username, password_hash, kind, role_set)
            await tx.audit.record(
                self._event(AuditTag.USER_CREATED, tenant_id, actor, username, roles=sorted(role_set))
            )
        return user

    async def list_users(self, tenant_id: str) -> list[User]:
        async with self._storage.read() as tx:
            if await tx.tenants.get(tenant_id) is None:
                raise NotFound(f"There is no tenant {tenant_id}", entity="tenant")
            return await tx.users.in_tenant(tenant_id)

    async def set_password(
        self, tenant_id: str, username: str, password: str, *, generated: bool = False, actor: str = SYSTEM_ACTOR
    ) -> None:
        if not generated:
            self._policy.check(password, username)
        password_hash = await self._hash(password, generated)
        async with self._storage.transaction() as tx:
            if not await tx.users.set_password_hash(tenant_id, username, password_hash):
                raise NotFound(f"There is no user {tenant_id}/{username}", entity="user")
            await tx.audit.record(self._event(AuditTag.USER_PASSWORD_CHANGED, tenant_id, actor, username))

    async def _hash(self, password: str, generated: bool) -> str:
        if generated:
            return self._hasher.hash_generated(password)
        return await self._verifier.run_blocking_hash(password)

    @staticmethod
    def _validate_roles(roles: Iterable[str]) -> frozenset[str]:
        known = {role.value for role in Role}
        role_set = frozenset(roles)
        unknown = sorted(role_set - known)
        if unknown:
            raise InvalidInput(f"unknown roles: {', '.join(unknown)}", entity="user", field="roles")
        return role_set

    def _event(self, tag: AuditTag, tenant_id: str, actor: str, subject: str, **detail: object) -> AuditEvent:
        return AuditEvent(
            tag=tag, tenant_id=tenant_id, actor=actor, subject=subject, at=self._clock.now(), detail=dict(detail)
        )
