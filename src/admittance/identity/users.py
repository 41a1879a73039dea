"""Use cases of the directory's users as the Connectware-compatible API manages them: create (one or a
batch), list, read, change, delete; their registered certificates and their roles.

Who may call an endpoint at all is decided by the one policy on method and path (the HTTP guard).
This service adds what the path cannot say:

* Visibility: users of the caller's tenant; every tenant for callers in the management tenant. The
  management tenant's bootstrap identity is listed for everybody, read-only.
* No privilege escalation (identity/grants.py): a caller may grant a role or a permission only when
  its own effective permissions cover it, and may change or delete a user only when it covers
  everything that user holds (so a user administrator cannot take over a full administrator by
  setting their password). The identity roles (ROLE_DEVICE_BOOTSTRAP, ROLE_DEVICE) are given by the
  system only. A user's direct permissions live in their personal role, which follows the user.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from admittance.audit import AuditEvent, AuditTag
from admittance.identity.directory_model import (
    UNSET,
    DirectoryUser,
    GrantMethod,
    GrantType,
    NewCertificate,
    NewUser,
    Paged,
    Role,
    StoredPermission,
    UserChanges,
    UserQuery,
    normalize_fingerprint,
    personal_role_id,
    personal_role_name,
    validate_api_username,
    validate_grant_types,
    validate_publish_prefix,
)
from admittance.identity.grants import actor, grantable, replace_permissions, require_covers
from admittance.identity.model import UserKind
from admittance.identity.passwords import ChosenPasswords
from admittance.identity.store import DirectoryTransaction
from admittance.kernel.access import Permission, covers_all
from admittance.kernel.clock import Clock
from admittance.kernel.errors import Conflict, InvalidInput, InvalidState, NotFound, PermissionDenied
from admittance.kernel.principal import MANAGEMENT_TENANT, Principal
from admittance.kernel.storage import Storage

DEVICE_USERNAME_PREFIX = "device_"
MAX_BATCH_USERS = 100


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A new user checked outside the transaction, its password already hashed."""

    new: NewUser
    tenant_id: str
    password_hash: str


# The profile's fields as the API names them (the audit event lists the changed ones).
_PROFILE_FIELDS = (
    ("username", "username"),
    ("mqtt_publish_prefix", "mqttPublishPrefix"),
    ("identity_provider", "identityProvider"),
    ("grant_types", "grantTypes"),
    ("enforce_mfa_enrollment", "enforceMFAEnrollment"),
)


@dataclass(frozen=True, slots=True)
class _Profile:
    """The fields of a user that one profile update writes together."""

    username: str
    mqtt_publish_prefix: str | None
    identity_provider: str
    grant_types: tuple[GrantType, ...]
    enforce_mfa_enrollment: bool

    @classmethod
    def of(cls, user: DirectoryUser) -> _Profile:
        return cls(
            user.username,
            user.mqtt_publish_prefix,
            user.identity_provider,
            user.grant_types,
            user.enforce_mfa_enrollment,
        )


def _new_username(current: DirectoryUser, changes: UserChanges) -> str:
    if changes.username is UNSET or changes.username == current.username:
        return current.username
    if current.kind is not UserKind.HUMAN:
        raise InvalidState("The user name of a device or of the bootstrap identity cannot change", entity="user")
    return check_username(changes.username)


def _wanted_profile(current: DirectoryUser, username: str, changes: UserChanges) -> _Profile:
    """The profile after the changes, each changed field checked."""
    profile = _Profile.of(current)
    prefix = profile.mqtt_publish_prefix
    if changes.mqtt_publish_prefix is not UNSET:
        prefix = validate_publish_prefix(changes.mqtt_publish_prefix)
    grant_types = profile.grant_types
    if changes.grant_types is not UNSET:
        grant_types = validate_grant_types(changes.grant_types)
    provider = profile.identity_provider
    if changes.identity_provider is not UNSET:
        provider = changes.identity_provider.value
    enforce = profile.enforce_mfa_enrollment
    if changes.enforce_mfa_enrollment is not UNSET:
        enforce = changes.enforce_mfa_enrollment
    return _Profile(username, prefix, provider, grant_types, enforce)


async def _apply_profile(tx: DirectoryTransaction, user: DirectoryUser, wanted: _Profile) -> list[str]:
    """Write the profile if it changed (a renamed user's personal role follows); the changed fields."""
    current = _Profile.of(user)
    if wanted == current:
        return []
    await tx.directory.update_profile(
        user.id,
        username=wanted.username,
        mqtt_publish_prefix=wanted.mqtt_publish_prefix,
        identity_provider=wanted.identity_provider,
        grant_types=wanted.grant_types,
        enforce_mfa_enrollment=wanted.enforce_mfa_enrollment,
    )
    if wanted.username != user.username:
        personal = next((role for role in user.roles if role.personal_user_id == user.id), None)
        if personal is not None:
            await tx.directory.update_role(personal.id, personal_role_name(wanted.username), False)
    return [shown for name, shown in _PROFILE_FIELDS if getattr(current, name) != getattr(wanted, name)]


def check_username(username: str) -> str:
    """A name people may choose: the API's rules, and not one of the names reserved for devices."""
    validate_api_username(username)
    if username.lower().startswith(DEVICE_USERNAME_PREFIX):
        raise InvalidInput(
            f"user names starting with {DEVICE_USERNAME_PREFIX} are reserved for devices",
            entity="user",
            field="username",
        )
    return username


class UserService:
    def __init__(self, storage: Storage[DirectoryTransaction], passwords: ChosenPasswords, clock: Clock) -> None:
        self._storage = storage
        self._passwords = passwords
        self._clock = clock

    async def create_user(self, principal: Principal, new: NewUser) -> DirectoryUser:
        prepared = await self._prepare(principal, new)
        async with self._storage.transaction() as tx:
            user_id = await self._insert(tx, principal, prepared)
            return (await tx.directory.users([user_id], self._clock.now()))[0]

    async def create_users(self, principal: Principal, batch: Sequence[NewUser]) -> list[int]:
        """All or nothing, in one transaction."""
        if not batch:
            raise InvalidInput("the batch must contain at least one user", entity="user")
        if len(batch) > MAX_BATCH_USERS:
            raise InvalidInput(f"a batch may contain at most {MAX_BATCH_USERS} users", entity="user")
        seen: set[tuple[str | None, str]] = set()
        for new in batch:
            key = (new.tenant_id, new.username)
            if key in seen:
                raise Conflict(f"The username {new.username} appears twice in the batch.", entity="user")
            seen.add(key)
        prepared = [await self._prepare(principal, new) for new in batch]
        async with self._storage.transaction() as tx:
            return [await self._insert(tx, principal, item) for item in prepared]

    async def create_user_in(
        self, tx: DirectoryTransaction, principal: Principal, new: NewUser, password_hash: str | None
    ) -> DirectoryUser:
        """Create a user inside the caller's transaction (the client registry's grant), with every check
        of create_user; the password was hashed beforehand (`new.password` is ignored). None: no
        password opens the account (a random one is set), refused when the grant types ask for one."""
        tenant_id = self._check_new(principal, new)
        if password_hash is None:
            if any(grant.method is GrantMethod.PASSWORD for grant in new.grant_types):
                raise InvalidInput("password is required for a user who signs in with a password", field="password")
            password_hash = self._passwords.unusable()
        user_id = await self._insert(tx, principal, _Prepared(new, tenant_id, password_hash))
        return (await tx.directory.users([user_id], self._clock.now()))[0]

    async def list_users(self, principal: Principal, query: UserQuery) -> Paged[DirectoryUser]:
        scope = None if principal.in_management_tenant else principal.tenant_id
        offset = (query.page - 1) * query.rows_per_page
        async with self._storage.read() as tx:
            ids, total = await tx.directory.user_page(
                scope, query.usernames, query.exclude_auto_generated, offset, query.rows_per_page, query.search
            )
            users = await tx.directory.users(ids, self._clock.now()) if ids else []
        return Paged(users, total, query.page, query.rows_per_page)

    async def get_user(self, principal: Principal, user_id: int) -> DirectoryUser:
        async with self._storage.read() as tx:
            return await self._visible_user(tx, principal, user_id)

    async def update_user(self, principal: Principal, user_id: int, changes: UserChanges) -> DirectoryUser:
        current = await self.get_user(principal, user_id)
        username = _new_username(current, changes)
        password_hash = None
        if changes.password is not UNSET:
            password_hash = await self._passwords.hash(changes.password, username)
        wanted = _wanted_profile(current, username, changes)
        if changes.enabled is False and user_id == principal.user_id:
            raise InvalidState("You cannot disable your own account", entity="user")
        by = actor(principal)
        now = self._clock.now()
        async with self._storage.transaction() as tx:
            user = await self._writable_user(tx, principal, user_id)
            events: list[AuditEvent] = []
            changed = await _apply_profile(tx, user, wanted)
            if changes.enabled is not UNSET and changes.enabled is not user.enabled:
                await tx.directory.set_enabled(user.id, changes.enabled)
                changed.append("enabled")
            if password_hash is not None:
                await tx.directory.set_password_hash(user.id, password_hash)
                events.append(self._event(AuditTag.USER_PASSWORD_CHANGED, user, by, username))
            if changes.disable_mfa:
                await tx.directory.clear_mfa(user.id)
                events.append(self._event(AuditTag.USER_MFA_RESET, user, by, username))
            if changes.roles is not UNSET:
                roles = [role_id for role_id in dict.fromkeys(changes.roles) if role_id != personal_role_id(user.id)]
                await self._set_roles(tx, principal, user, roles, username, events)
            if changes.permissions is not UNSET:
                await self._set_direct_permissions(tx, principal, user, username, changes.permissions, now)
                changed.append("permissions")
            if changed:
                events.append(self._event(AuditTag.USER_UPDATED, user, by, username, fields=changed))
            await tx.audit.record_many(events)
            return (await tx.directory.users([user.id], now))[0]

    async def delete_user(self, principal: Principal, user_id: int) -> None:
        if user_id == principal.user_id:
            raise InvalidState("You cannot delete your own account", entity="user")
        async with self._storage.transaction() as tx:
            user = await self._writable_user(tx, principal, user_id)
            await tx.directory.delete_role(personal_role_id(user.id))
            await tx.directory.delete_user(user.id)
            await tx.audit.record(self._event(AuditTag.USER_DELETED, user, actor(principal), user.username))

    async def add_certificate(self, principal: Principal, user_id: int, fingerprint: str) -> None:
        normalized = normalize_fingerprint(fingerprint)
        async with self._storage.transaction() as tx:
            user = await self._writable_user(tx, principal, user_id)
            owner = await tx.directory.certificate_owner(normalized)
            if owner == user.id:
                return
            if owner is not None:
                raise Conflict("That certificate fingerprint belongs to another user.", entity="certificate")
            await tx.directory.add_certificate(user.id, NewCertificate(normalized), self._clock.now())
            await tx.audit.record(
                self._event(
                    AuditTag.USER_CERTIFICATE_ADDED, user, actor(principal), user.username, fingerprint=normalized
                )
            )

    async def remove_certificate(self, principal: Principal, user_id: int, fingerprint: str) -> None:
        normalized = normalize_fingerprint(fingerprint)
        async with self._storage.transaction() as tx:
            user = await self._writable_user(tx, principal, user_id)
            if not await tx.directory.remove_certificate(user.id, normalized):
                raise NotFound("The user has no certificate with that fingerprint", entity="certificate")
            await tx.audit.record(
                self._event(
                    AuditTag.USER_CERTIFICATE_REMOVED, user, actor(principal), user.username, fingerprint=normalized
                )
            )

    async def grant_role(self, principal: Principal, user_id: int, role_id: str) -> None:
        async with self._storage.transaction() as tx:
            user = await self._writable_user(tx, principal, user_id)
            if role_id in user.role_ids:
                return
            (role,) = await grantable(tx, principal, user, [role_id])
            await tx.directory.grant_role(user.id, role.id)
            await tx.audit.record(
                self._event(AuditTag.USER_ROLE_GRANTED, user, actor(principal), user.username, role=role.id)
            )

    async def revoke_role(self, principal: Principal, user_id: int, role_id: str) -> None:
        async with self._storage.transaction() as tx:
            user = await self._writable_user(tx, principal, user_id)
            if role_id == personal_role_id(user.id):
                raise InvalidInput(
                    "A user's personal role holds their direct permissions: change them with PUT /api/users/{id}",
                    entity="role",
                    field="roleId",
                )
            if not await tx.directory.revoke_role(user.id, role_id):
                raise NotFound(f"The user does not have the role {role_id}", entity="role")
            await tx.audit.record(
                self._event(AuditTag.USER_ROLE_REVOKED, user, actor(principal), user.username, role=role_id)
            )

    # -- internals --------------------------------------------------------------------------------

    def _check_new(self, principal: Principal, new: NewUser) -> str:
        """The checks of a new user that need no database; its tenant."""
        check_username(new.username)
        tenant_id = new.tenant_id or principal.tenant_id
        if not principal.can_see_tenant(tenant_id):
            raise PermissionDenied("You can create users in your own tenant only")
        validate_grant_types(new.grant_types)
        validate_publish_prefix(new.mqtt_publish_prefix)
        for certificate in new.certificates:
            normalize_fingerprint(certificate.fingerprint)
        require_covers(principal, new.initial_permissions, "these initial permissions")
        return tenant_id

    async def _prepare(self, principal: Principal, new: NewUser) -> _Prepared:
        tenant_id = self._check_new(principal, new)
        if new.password is not None:
            password_hash = await self._passwords.hash(new.password, new.username)
        elif any(grant.method is GrantMethod.PASSWORD for grant in new.grant_types):
            raise InvalidInput("password is required for a user who signs in with a password", field="password")
        else:  # no password sign-in: an unknown random one, so that no password opens the account
            password_hash = self._passwords.unusable()
        return _Prepared(new, tenant_id, password_hash)

    async def _insert(self, tx: DirectoryTransaction, principal: Principal, prepared: _Prepared) -> int:
        new, tenant_id = prepared.new, prepared.tenant_id
        if await tx.tenants.get(tenant_id) is None:
            raise InvalidInput(f"There is no tenant {tenant_id}", entity="user", field="tenant")
        now = self._clock.now()
        user_id = await tx.directory.create_user(
            tenant_id,
            new.username,
            prepared.password_hash,
            UserKind.HUMAN,
            auto_generated=new.auto_generated,
            mqtt_publish_prefix=validate_publish_prefix(new.mqtt_publish_prefix),
            identity_provider=new.identity_provider.value,
            grant_types=new.grant_types,
            enforce_mfa_enrollment=new.enforce_mfa_enrollment,
        )
        created = DirectoryUser(
            user_id, tenant_id, new.username, UserKind.HUMAN, new.auto_generated, None, "local", (), False, False
        )
        roles = await grantable(tx, principal, created, list(dict.fromkeys(new.roles)))
        for role in roles:
            await tx.directory.grant_role(user_id, role.id)
        if new.initial_permissions:
            await self._set_direct_permissions(tx, principal, created, new.username, new.initial_permissions, now)
        for certificate in new.certificates:
            fingerprint = normalize_fingerprint(certificate.fingerprint)
            if await tx.directory.certificate_owner(fingerprint) is not None:
                raise Conflict("That certificate fingerprint belongs to another user.", entity="certificate")
            await tx.directory.add_certificate(user_id, NewCertificate(fingerprint, certificate.expires_at), now)
        await tx.audit.record(
            self._event(
                AuditTag.USER_CREATED,
                created,
                actor(principal),
                new.username,
                roles=[role.id for role in roles],
                permissions=len(new.initial_permissions),
            )
        )
        return user_id

    async def _set_roles(
        self,
        tx: DirectoryTransaction,
        principal: Principal,
        user: DirectoryUser,
        wanted: list[str],
        username: str,
        events: list[AuditEvent],
    ) -> None:
        held = {role.id for role in user.roles if role.personal_user_id != user.id}
        added = [role_id for role_id in wanted if role_id not in held]
        for role in await grantable(tx, principal, user, added):
            await tx.directory.grant_role(user.id, role.id)
            events.append(self._event(AuditTag.USER_ROLE_GRANTED, user, actor(principal), username, role=role.id))
        for role_id in sorted(held - set(wanted)):
            await tx.directory.revoke_role(user.id, role_id)
            events.append(self._event(AuditTag.USER_ROLE_REVOKED, user, actor(principal), username, role=role_id))

    async def _set_direct_permissions(
        self,
        tx: DirectoryTransaction,
        principal: Principal,
        user: DirectoryUser,
        username: str,
        permissions: Iterable[Permission],
        now: datetime,
    ) -> None:
        wanted = tuple(dict.fromkeys(permissions))
        role_id = personal_role_id(user.id)
        personal = await tx.directory.role(role_id)
        if personal is None:
            if not wanted:
                return
            require_covers(principal, wanted, "these permissions")
            role = Role(
                role_id,
                user.tenant_id,
                personal_role_name(username),
                False,
                True,
                False,
                tuple(StoredPermission(str(uuid.uuid4()), grant) for grant in wanted),
            )
            await tx.directory.create_role(role, now)
            await tx.directory.grant_role(user.id, role_id)
            return
        await replace_permissions(tx, principal, personal, wanted)

    async def _visible_user(self, tx: DirectoryTransaction, principal: Principal, user_id: int) -> DirectoryUser:
        found = await tx.directory.users([user_id], self._clock.now())
        user = found[0] if found else None
        if user is None or not _can_see(principal, user):
            raise NotFound(f"There is no user with id {user_id}", entity="user")
        return user

    async def _writable_user(self, tx: DirectoryTransaction, principal: Principal, user_id: int) -> DirectoryUser:
        user = await self._visible_user(tx, principal, user_id)
        if not principal.can_see_tenant(user.tenant_id):
            raise PermissionDenied("This user belongs to the management tenant and is read-only here")
        if user.id != principal.user_id and not covers_all(principal.permissions, user.permissions):
            raise PermissionDenied("You cannot change a user who holds permissions you do not hold yourself")
        return user

    def _event(self, tag: AuditTag, user: DirectoryUser, actor: str, subject: str, **detail: object) -> AuditEvent:
        return AuditEvent(
            tag=tag, tenant_id=user.tenant_id, actor=actor, subject=subject, at=self._clock.now(), detail=dict(detail)
        )


def _can_see(principal: Principal, user: DirectoryUser) -> bool:
    return principal.can_see_tenant(user.tenant_id) or (
        user.tenant_id == MANAGEMENT_TENANT and user.kind is UserKind.BOOTSTRAP
    )
