"""Use cases of the directory: users, roles and permissions as the Connectware-compatible API manages them.

Who may call an endpoint at all is decided by the one policy on method and path (the HTTP guard).
This service adds what the path cannot say:

* Visibility: users and custom roles of the caller's tenant; every tenant for callers in the
  management tenant. The management tenant's bootstrap identity is listed for everybody, read-only.
* No privilege escalation: a caller may grant a role or a permission (to a user or to a role) only
  when its own effective permissions cover it (kernel.access.covers_all), and may change or delete
  a user only when it covers everything that user holds (so a user administrator cannot take over
  a full administrator by setting their password). The identity roles (ROLE_DEVICE_BOOTSTRAP,
  ROLE_DEVICE) are given by the system only.
* Built-in roles are immutable (InvalidState); personal roles (a user's direct permissions) follow
  their user.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from admittance.audit import AuditEvent, AuditTag
from admittance.identity.directory_model import (
    PERSONAL_ROLE_PREFIX,
    UNSET,
    DirectoryUser,
    GrantMethod,
    NewCertificate,
    NewRole,
    NewUser,
    Paged,
    PermissionGroup,
    PermissionUse,
    Role,
    RoleChanges,
    RoleQuery,
    RoleUsage,
    StoredPermission,
    UserChanges,
    UserQuery,
    builtin_role,
    builtin_roles,
    is_identity_role,
    normalize_fingerprint,
    personal_role_id,
    personal_role_name,
    validate_api_username,
    validate_grant_types,
    validate_publish_prefix,
    validate_role_name,
)
from admittance.identity.directory_store import DirectoryStorage, DirectoryTransaction
from admittance.identity.model import PasswordPolicy, UserKind
from admittance.kernel.access import Permission, covers_all, parse_permission
from admittance.kernel.clock import Clock
from admittance.kernel.errors import Conflict, InvalidInput, InvalidState, NotFound, PermissionDenied
from admittance.kernel.passwords import CredentialVerifier, PasswordHasher
from admittance.kernel.principal import MANAGEMENT_TENANT, Principal
from admittance.kernel.secrets import random_password

DEVICE_USERNAME_PREFIX = "device_"
MAX_BATCH_USERS = 100
MAX_ROLE_MEMBERS_LISTED = 1000


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A new user checked outside the transaction, its password already hashed."""

    new: NewUser
    tenant_id: str
    password_hash: str


class DirectoryService:
    def __init__(
        self,
        storage: DirectoryStorage,
        verifier: CredentialVerifier,
        hasher: PasswordHasher,
        clock: Clock,
        password_policy: PasswordPolicy,
    ) -> None:
        self._storage = storage
        self._verifier = verifier
        self._hasher = hasher
        self._clock = clock
        self._policy = password_policy

    # -- users ------------------------------------------------------------------------------------

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
            password_hash = self._hasher.hash_generated(random_password(32))
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
        username = current.username
        if changes.username is not UNSET and changes.username != current.username:
            if current.kind is not UserKind.HUMAN:
                raise InvalidState(
                    "The user name of a device or of the bootstrap identity cannot change", entity="user"
                )
            username = self._check_username(changes.username)
        password_hash = None
        if changes.password is not UNSET:
            self._policy.check(changes.password, username)
            password_hash = await self._verifier.run_blocking_hash(changes.password)
        prefix = current.mqtt_publish_prefix
        if changes.mqtt_publish_prefix is not UNSET:
            prefix = validate_publish_prefix(changes.mqtt_publish_prefix)
        grant_types = current.grant_types
        if changes.grant_types is not UNSET:
            grant_types = validate_grant_types(changes.grant_types)
        provider = current.identity_provider
        if changes.identity_provider is not UNSET:
            provider = changes.identity_provider.value
        enforce = current.enforce_mfa_enrollment
        if changes.enforce_mfa_enrollment is not UNSET:
            enforce = changes.enforce_mfa_enrollment
        if changes.enabled is False and user_id == principal.user_id:
            raise InvalidState("You cannot disable your own account", entity="user")
        actor = _actor(principal)
        now = self._clock.now()
        async with self._storage.transaction() as tx:
            user = await self._writable_user(tx, principal, user_id)
            events: list[AuditEvent] = []
            changed: list[str] = []
            if (username, prefix, provider, grant_types, enforce) != (
                user.username,
                user.mqtt_publish_prefix,
                user.identity_provider,
                user.grant_types,
                user.enforce_mfa_enrollment,
            ):
                await tx.directory.update_profile(
                    user.id,
                    username=username,
                    mqtt_publish_prefix=prefix,
                    identity_provider=provider,
                    grant_types=grant_types,
                    enforce_mfa_enrollment=enforce,
                )
                changed += [
                    name
                    for name, old, new in (
                        ("username", user.username, username),
                        ("mqttPublishPrefix", user.mqtt_publish_prefix, prefix),
                        ("identityProvider", user.identity_provider, provider),
                        ("grantTypes", user.grant_types, grant_types),
                        ("enforceMFAEnrollment", user.enforce_mfa_enrollment, enforce),
                    )
                    if old != new
                ]
                if username != user.username:
                    personal = next((role for role in user.roles if role.personal_user_id == user.id), None)
                    if personal is not None:
                        await tx.directory.update_role(personal.id, personal_role_name(username), False)
            if changes.enabled is not UNSET and changes.enabled is not user.enabled:
                await tx.directory.set_enabled(user.id, changes.enabled)
                changed.append("enabled")
            if password_hash is not None:
                await tx.directory.set_password_hash(user.id, password_hash)
                events.append(self._event(AuditTag.USER_PASSWORD_CHANGED, user, actor, username))
            if changes.disable_mfa:
                await tx.directory.clear_mfa(user.id)
                events.append(self._event(AuditTag.USER_MFA_RESET, user, actor, username))
            if changes.roles is not UNSET:
                wanted = [role_id for role_id in dict.fromkeys(changes.roles) if role_id != personal_role_id(user.id)]
                await self._set_roles(tx, principal, user, wanted, username, events)
            if changes.permissions is not UNSET:
                await self._set_direct_permissions(tx, principal, user, username, changes.permissions, now)
                changed.append("permissions")
            if changed:
                events.append(self._event(AuditTag.USER_UPDATED, user, actor, username, fields=changed))
            await tx.audit.record_many(events)
            return (await tx.directory.users([user.id], now))[0]

    async def delete_user(self, principal: Principal, user_id: int) -> None:
        if user_id == principal.user_id:
            raise InvalidState("You cannot delete your own account", entity="user")
        async with self._storage.transaction() as tx:
            user = await self._writable_user(tx, principal, user_id)
            await tx.directory.delete_role(personal_role_id(user.id))
            await tx.directory.delete_user(user.id)
            await tx.audit.record(self._event(AuditTag.USER_DELETED, user, _actor(principal), user.username))

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
                    AuditTag.USER_CERTIFICATE_ADDED, user, _actor(principal), user.username, fingerprint=normalized
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
                    AuditTag.USER_CERTIFICATE_REMOVED, user, _actor(principal), user.username, fingerprint=normalized
                )
            )

    async def grant_role(self, principal: Principal, user_id: int, role_id: str) -> None:
        async with self._storage.transaction() as tx:
            user = await self._writable_user(tx, principal, user_id)
            if role_id in user.role_ids:
                return
            (role,) = await self._grantable(tx, principal, user, [role_id])
            await tx.directory.grant_role(user.id, role.id)
            await tx.audit.record(
                self._event(AuditTag.USER_ROLE_GRANTED, user, _actor(principal), user.username, role=role.id)
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
                self._event(AuditTag.USER_ROLE_REVOKED, user, _actor(principal), user.username, role=role_id)
            )

    # -- roles ------------------------------------------------------------------------------------

    async def create_role(self, principal: Principal, new: NewRole) -> Role:
        name = validate_role_name(new.name)
        permissions = tuple(dict.fromkeys(new.permissions))
        self._require_covers(principal, permissions, "these permissions")
        role = Role(
            str(uuid.uuid4()),
            principal.tenant_id,
            name,
            new.is_shared,
            new.auto_generated,
            False,
            tuple(StoredPermission(str(uuid.uuid4()), grant) for grant in permissions),
        )
        async with self._storage.transaction() as tx:
            await tx.directory.create_role(role, self._clock.now())
            await tx.audit.record(
                self._role_event(AuditTag.ROLE_CREATED, role, principal, name=name, permissions=len(permissions))
            )
        return role

    async def list_roles(self, principal: Principal, name: str | None = None) -> list[Role]:
        async with self._storage.read() as tx:
            roles = await self._visible_roles(tx, principal)
        return [role for role in roles if name is None or role.name == name]

    async def roles_page(self, principal: Principal, query: RoleQuery) -> Paged[RoleUsage]:
        async with self._storage.read() as tx:
            roles = [
                role
                for role in await self._visible_roles(tx, principal)
                if (not query.names or role.name in query.names)
                and (query.auto_generated is None or role.auto_generated is query.auto_generated)
                and (query.is_shared is None or role.is_shared is query.is_shared)
            ]
            offset = (query.page - 1) * query.rows_per_page
            page = roles[offset : offset + query.rows_per_page]
            scope = None if principal.in_management_tenant else principal.tenant_id
            members = await tx.directory.role_members([role.id for role in page], scope, MAX_ROLE_MEMBERS_LISTED)
        usages = [RoleUsage(role, members.get(role.id, [])) for role in page]
        return Paged(usages, len(roles), query.page, query.rows_per_page)

    async def get_role(self, principal: Principal, role_id: str) -> Role:
        async with self._storage.read() as tx:
            return await self._visible_role(tx, principal, role_id)

    async def update_role(self, principal: Principal, role_id: str, changes: RoleChanges) -> Role:
        async with self._storage.transaction() as tx:
            role = await self._mutable_role(tx, principal, role_id)
            name, shared = role.name, role.is_shared
            if changes.name is not UNSET and changes.name != role.name:
                self._personal_check(role, "renamed")
                name = validate_role_name(changes.name)
            if changes.is_shared is not UNSET and changes.is_shared is not role.is_shared:
                self._personal_check(role, "shared")
                shared = changes.is_shared
            if (name, shared) != (role.name, role.is_shared):
                await tx.directory.update_role(role.id, name, shared)
            if changes.permissions is not UNSET:
                await self._replace_permissions(tx, principal, role, changes.permissions)
            await tx.audit.record(self._role_event(AuditTag.ROLE_UPDATED, role, principal, name=name))
            updated = await tx.directory.role(role.id)
        assert updated is not None
        return updated

    async def delete_role(self, principal: Principal, role_id: str) -> None:
        async with self._storage.transaction() as tx:
            role = await self._mutable_role(tx, principal, role_id)
            self._personal_check(role, "deleted (delete the user or clear their permissions)")
            holders = await tx.directory.delete_role(role.id)
            await tx.audit.record(self._role_event(AuditTag.ROLE_DELETED, role, principal, users=holders))

    async def permission_of_role(self, principal: Principal, role_id: str, permission_id: str) -> StoredPermission:
        role = await self.get_role(principal, role_id)
        return self._permission_in(role, permission_id)

    async def add_permission(self, principal: Principal, role_id: str, permission: Permission) -> StoredPermission:
        self._require_covers(principal, [permission], "this permission")
        stored = StoredPermission(str(uuid.uuid4()), permission)
        async with self._storage.transaction() as tx:
            role = await self._mutable_role(tx, principal, role_id)
            await tx.directory.add_permission(role.id, stored)
            await tx.audit.record(
                self._role_event(AuditTag.ROLE_PERMISSION_ADDED, role, principal, **_describe(stored))
            )
        return stored

    async def update_permission(
        self,
        principal: Principal,
        role_id: str,
        permission_id: str,
        resource: object,
        operation: object,
        context: object | None,
    ) -> StoredPermission:
        async with self._storage.transaction() as tx:
            role = await self._mutable_role(tx, principal, role_id)
            current = self._permission_in(role, permission_id)
            grant = parse_permission(
                current.permission.context.value if context is None else context, operation, resource
            )
            self._require_covers(principal, [grant], "this permission")
            stored = StoredPermission(current.id, grant)
            if grant != current.permission:
                await tx.directory.update_permission(role.id, stored)
                await tx.audit.record(
                    self._role_event(AuditTag.ROLE_PERMISSION_UPDATED, role, principal, **_describe(stored))
                )
        return stored

    async def delete_permission(self, principal: Principal, role_id: str, permission_id: str) -> None:
        async with self._storage.transaction() as tx:
            role = await self._mutable_role(tx, principal, role_id)
            stored = self._permission_in(role, permission_id)
            await tx.directory.delete_permission(role.id, stored.id)
            await tx.audit.record(
                self._role_event(AuditTag.ROLE_PERMISSION_REMOVED, role, principal, **_describe(stored))
            )

    # -- permissions ------------------------------------------------------------------------------

    async def permission_groups(
        self, principal: Principal, ids: Sequence[str], page: int, rows_per_page: int
    ) -> Paged[PermissionGroup]:
        """Usage of each (resource, context) by roles and users, for /api/permissions/page."""
        async with self._storage.read() as tx:
            roles = await self._visible_roles(tx, principal)
            owners = await tx.directory.usernames(
                [owner for owner in (role.personal_user_id for role in roles) if owner is not None]
            )
        wanted = frozenset(ids)
        groups: dict[tuple[str, str], list[PermissionUse]] = {}
        for role in roles:
            owner = role.personal_user_id
            user = (owner, owners[owner]) if owner is not None and owner in owners else None
            for stored in role.permissions:
                if wanted and stored.id not in wanted:
                    continue
                grant = stored.permission
                key = (grant.resource, grant.context.value)
                groups.setdefault(key, []).append(PermissionUse(role, grant.operation.value, user))
        ordered = [PermissionGroup(resource, context, usage) for (resource, context), usage in sorted(groups.items())]
        offset = (page - 1) * rows_per_page
        return Paged(ordered[offset : offset + rows_per_page], len(ordered), page, rows_per_page)

    async def permission_ids(self, principal: Principal) -> list[tuple[Permission, list[str]]]:
        """Each distinct permission with the ids it has in the roles the caller can see."""
        async with self._storage.read() as tx:
            roles = await self._visible_roles(tx, principal)
        found: dict[Permission, list[str]] = {}
        for role in roles:
            for stored in role.permissions:
                found.setdefault(stored.permission, []).append(stored.id)
        return sorted(found.items(), key=lambda item: (item[0].resource, item[0].context, item[0].operation))

    # -- internals --------------------------------------------------------------------------------

    def _check_username(self, username: str) -> str:
        validate_api_username(username)
        if username.lower().startswith(DEVICE_USERNAME_PREFIX):
            raise InvalidInput(
                f"user names starting with {DEVICE_USERNAME_PREFIX} are reserved for devices",
                entity="user",
                field="username",
            )
        return username

    def _check_new(self, principal: Principal, new: NewUser) -> str:
        """The checks of a new user that need no database; its tenant."""
        self._check_username(new.username)
        tenant_id = new.tenant_id or principal.tenant_id
        if not principal.can_see_tenant(tenant_id):
            raise PermissionDenied("You can create users in your own tenant only")
        validate_grant_types(new.grant_types)
        validate_publish_prefix(new.mqtt_publish_prefix)
        for certificate in new.certificates:
            normalize_fingerprint(certificate.fingerprint)
        self._require_covers(principal, new.initial_permissions, "these initial permissions")
        return tenant_id

    async def _prepare(self, principal: Principal, new: NewUser) -> _Prepared:
        tenant_id = self._check_new(principal, new)
        if new.password is not None:
            self._policy.check(new.password, new.username)
            password_hash = await self._verifier.run_blocking_hash(new.password)
        elif any(grant.method is GrantMethod.PASSWORD for grant in new.grant_types):
            raise InvalidInput("password is required for a user who signs in with a password", field="password")
        else:  # no password sign-in: an unknown random one, so that no password opens the account
            password_hash = self._hasher.hash_generated(random_password(32))
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
        roles = await self._grantable(tx, principal, created, list(dict.fromkeys(new.roles)))
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
                _actor(principal),
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
        for role in await self._grantable(tx, principal, user, added):
            await tx.directory.grant_role(user.id, role.id)
            events.append(self._event(AuditTag.USER_ROLE_GRANTED, user, _actor(principal), username, role=role.id))
        for role_id in sorted(held - set(wanted)):
            await tx.directory.revoke_role(user.id, role_id)
            events.append(self._event(AuditTag.USER_ROLE_REVOKED, user, _actor(principal), username, role=role_id))

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
            self._require_covers(principal, wanted, "these permissions")
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
        await self._replace_permissions(tx, principal, personal, wanted)

    async def _replace_permissions(
        self, tx: DirectoryTransaction, principal: Principal, role: Role, permissions: Iterable[Permission]
    ) -> None:
        wanted = tuple(dict.fromkeys(permissions))
        kept = {stored.permission: stored for stored in role.permissions}
        self._require_covers(principal, [grant for grant in wanted if grant not in kept], "these permissions")
        replaced = [kept.get(grant) or StoredPermission(str(uuid.uuid4()), grant) for grant in wanted]
        await tx.directory.replace_permissions(role.id, replaced)

    async def _grantable(
        self, tx: DirectoryTransaction, principal: Principal, user: DirectoryUser, role_ids: Sequence[str]
    ) -> list[Role]:
        roles: list[Role] = []
        for role_id in role_ids:
            if not isinstance(role_id, str) or not role_id:
                raise InvalidInput("role ids must be non-empty strings", entity="user", field="roles")
            if is_identity_role(role_id):
                raise InvalidInput(
                    f"The role {role_id} is given by the system only (it says what the caller is)",
                    entity="user",
                    field="roles",
                )
            role = builtin_role(role_id) or await tx.directory.role(role_id)
            if role is None or (not role.builtin and role.tenant_id != user.tenant_id):
                raise InvalidInput(f"There is no role with id {role_id} (roles are named by id)", field="roles")
            if role.id.startswith(PERSONAL_ROLE_PREFIX):
                raise InvalidInput(f"The role {role_id} is another user's personal role", field="roles")
            self._require_covers(principal, role.granted, f"the role {role.name}")
            roles.append(role)
        return roles

    @staticmethod
    def _require_covers(principal: Principal, permissions: Iterable[Permission], what: str) -> None:
        if not covers_all(principal.permissions, permissions):
            raise PermissionDenied(f"You cannot grant {what}: you do not hold every permission it grants yourself")

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

    async def _visible_roles(self, tx: DirectoryTransaction, principal: Principal) -> list[Role]:
        scope = None if principal.in_management_tenant else principal.tenant_id
        return builtin_roles() + await tx.directory.roles(scope)

    async def _visible_role(self, tx: DirectoryTransaction, principal: Principal, role_id: str) -> Role:
        role = builtin_role(role_id) or await tx.directory.role(role_id)
        if role is None or (role.tenant_id is not None and not principal.can_see_tenant(role.tenant_id)):
            raise NotFound(f"There is no role with id {role_id}", entity="role")
        return role

    async def _mutable_role(self, tx: DirectoryTransaction, principal: Principal, role_id: str) -> Role:
        role = await self._visible_role(tx, principal, role_id)
        if role.builtin:
            raise InvalidState(f"The built-in role {role.name} cannot be changed or deleted", entity="role")
        return role

    @staticmethod
    def _personal_check(role: Role, what: str) -> None:
        if role.personal_user_id is not None:
            raise InvalidState(f"A user's personal role cannot be {what}", entity="role")

    @staticmethod
    def _permission_in(role: Role, permission_id: str) -> StoredPermission:
        for stored in role.permissions:
            if stored.id == permission_id:
                return stored
        raise NotFound(f"The role {role.id} has no permission with id {permission_id}", entity="permission")

    def _event(self, tag: AuditTag, user: DirectoryUser, actor: str, subject: str, **detail: object) -> AuditEvent:
        return AuditEvent(
            tag=tag, tenant_id=user.tenant_id, actor=actor, subject=subject, at=self._clock.now(), detail=dict(detail)
        )

    def _role_event(self, tag: AuditTag, role: Role, principal: Principal, **detail: object) -> AuditEvent:
        return AuditEvent(
            tag=tag,
            tenant_id=role.tenant_id or principal.tenant_id,
            actor=_actor(principal),
            subject=f"role:{role.id}",
            at=self._clock.now(),
            detail=dict(detail),
        )


def _actor(principal: Principal) -> str:
    return f"{principal.tenant_id}/{principal.username}"


def _can_see(principal: Principal, user: DirectoryUser) -> bool:
    return principal.can_see_tenant(user.tenant_id) or (
        user.tenant_id == MANAGEMENT_TENANT and user.kind is UserKind.BOOTSTRAP
    )


def _describe(stored: StoredPermission) -> dict[str, object]:
    grant = stored.permission
    return {
        "permission": stored.id,
        "context": grant.context.value,
        "operation": grant.operation.value,
        "resource": grant.resource,
    }
