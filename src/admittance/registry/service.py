"""The client registry's use cases: devices register themselves while an operator holds the window
open, and an operator grants each request (docs/compat/connectware/client-registry.md).

* The window is per tenant and stored in the database (`open_until`), so every server process agrees;
  it locks again by itself when `open_until` passes, or on demand.
* `register` is public. A new request while the window is locked: LOCKED (423). Once open: a pending
  entry (202) with a pairing code. Re-sending the same request polls: still pending, or GRANTED (201,
  with the certificate when a CSR was sent) even after the window closed.
* Only the original requester can poll an entry: the same password (compared as keyed digests) and/or
  a CSR with the same public key. Anything else is counted like a failed login against the account
  name and the address, and answered with 409 (a pending entry: a squatter cannot replace it) or the
  uniform 401 (a granted one: nobody else can collect it); the entry is left unchanged.
* Passwords are never stored in clear: a keyed digest to recognise the requester, and the argon2id hash
  (computed once, off the event loop) for the user created at the grant.
* `confirm` creates the user with the directory's rules (privilege escalation, role ids) and issues the
  certificate from the stored CSR in the same transaction.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from cryptography.hazmat.primitives import serialization

from admittance.audit import AuditEvent, AuditTag
from admittance.identity.authentication import Authenticator
from admittance.identity.directory_model import DirectoryUser, GrantMethod, GrantType, NewCertificate, NewUser
from admittance.identity.grants import actor
from admittance.identity.model import PresentedCredentials
from admittance.identity.passwords import ChosenPasswords
from admittance.identity.users import UserService, check_username
from admittance.kernel.access import BUILTIN_ROLES
from admittance.kernel.clock import Clock
from admittance.kernel.errors import Conflict, InvalidInput, NotFound, RateLimited
from admittance.kernel.principal import Principal
from admittance.kernel.ratelimit import Lockout
from admittance.kernel.secrets import Pepper
from admittance.kernel.storage import Storage
from admittance.pki.csr import check_csr, parse_csr, public_key_sha256
from admittance.pki.issuing import CertificateIssuer
from admittance.pki.model import IssuedCertificate, IssuedVia
from admittance.registry.model import (
    ENTITY,
    REFRESH_SECONDS,
    CheckedRequest,
    ClientRegistration,
    Confirmation,
    CredentialType,
    EntryStatus,
    Outcome,
    RegisterResult,
    RegistrationRequest,
    RegistryPolicy,
    check_duration,
    check_wishes,
    pairing_code_for_key,
    random_pairing_code,
)
from admittance.registry.store import ClientRegistryTransaction

_DIGEST_PURPOSE = "client-registry"


class ClientRegistryService:
    def __init__(
        self,
        storage: Storage[ClientRegistryTransaction],
        authenticator: Authenticator,
        passwords: ChosenPasswords,
        pepper: Pepper,
        clock: Clock,
        users: UserService,
        certificates: CertificateIssuer,
        policy: RegistryPolicy | None = None,
    ) -> None:
        self._storage = storage
        self._authenticator = authenticator
        self._passwords = passwords
        self._pepper = pepper
        self._clock = clock
        self._users = users
        self._certificates = certificates
        policy = policy or RegistryPolicy()
        self._new_by_source = Lockout(
            clock,
            max_failures=policy.new_per_source,
            wait_increment_seconds=policy.new_wait_seconds,
            max_wait_seconds=policy.new_max_wait_seconds,
            reset_after_seconds=policy.new_reset_seconds,
        )

    # -- the window -------------------------------------------------------------------------------

    async def open(self, principal: Principal, duration_ms: object = None) -> datetime:
        """Open (or extend, or shorten) the caller's tenant's window; when it locks again."""
        duration = check_duration(duration_ms)
        now = self._clock.now()
        open_until = now + timedelta(milliseconds=duration)
        async with self._storage.transaction() as tx:
            await tx.client_registry.open_window(principal.tenant_id, open_until, actor(principal))
            await tx.audit.record(
                self._event(AuditTag.CLIENT_REGISTRY_OPENED, principal.tenant_id, actor(principal), duration=duration)
            )
        return open_until

    async def close(self, principal: Principal) -> None:
        async with self._storage.transaction() as tx:
            was_open = await tx.client_registry.window(principal.tenant_id)
            await tx.client_registry.close_window(principal.tenant_id)
            still_open = was_open is not None and was_open > self._clock.now()
            await tx.audit.record(
                self._event(AuditTag.CLIENT_REGISTRY_CLOSED, principal.tenant_id, actor(principal), was_open=still_open)
            )

    async def open_until(self, tenant_id: str) -> datetime | None:
        """When the tenant's window locks; None while it is locked."""
        async with self._storage.read() as tx:
            until = await tx.client_registry.window(tenant_id)
        return until if until is not None and until > self._clock.now() else None

    # -- the client's side ------------------------------------------------------------------------

    async def register(self, request: RegistrationRequest) -> RegisterResult:
        started = self._authenticator.started()
        self._authenticator.check_account(request.tenant_id, request.username, request.source)
        checked = self._check(request)
        for _ in range(3):  # a lost race (an insert or a deletion meanwhile) is settled by reading again
            async with self._storage.read() as tx:
                existing = await tx.client_registry.get(request.tenant_id, request.username)
            if existing is not None:
                result = await self._poll(existing, request, checked, started)
            else:
                result = await self._new(request, checked)
            if result is not None:
                return result
        raise Conflict("The registration changed meanwhile; send the request again.", entity=ENTITY)

    def _check(self, request: RegistrationRequest) -> CheckedRequest:
        """The rules, before anything is read or written (InvalidInput / MalformedInput)."""
        check_username(request.username)
        if request.password is None and request.csr is None:
            raise InvalidInput("password or csr is required", entity=ENTITY, field="password")
        digest = None
        if request.password is not None:
            self._passwords.check(request.password, request.username)
            digest = self._digest(request.tenant_id, request.username, request.password)
        check_wishes(request)
        if request.csr is None:
            return CheckedRequest(CredentialType.PASSWORD, digest, None, None, None)
        csr = parse_csr(request.csr)
        check_csr(csr, request.username)
        pem = csr.public_bytes(serialization.Encoding.PEM).decode("ascii")
        return CheckedRequest(CredentialType.CERTIFICATE, digest, csr, pem, public_key_sha256(csr.public_key()))

    async def _new(self, request: RegistrationRequest, checked: CheckedRequest) -> RegisterResult | None:
        tenant_id, username = request.tenant_id, request.username
        async with self._storage.read() as tx:
            taken = await tx.users.get(tenant_id, username) is not None
            until = await tx.client_registry.window(tenant_id)
        if taken:
            raise Conflict(f"The user {username} exists already.", entity="user")
        now = self._clock.now()
        if until is None or until <= now:
            return RegisterResult(Outcome.LOCKED)
        wait = self._new_by_source.retry_after(request.source)
        if wait > 0:
            raise RateLimited("Too many new registrations from this address, try again later", retry_after_seconds=wait)
        password_hash = None
        if request.password is not None:
            password_hash = await self._passwords.hash_checked(request.password)
        if checked.public_key_sha256 is not None:
            code = pairing_code_for_key(username, checked.public_key_sha256)
        else:
            code = random_pairing_code()
        now = self._clock.now()
        entry = ClientRegistration(
            id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            username=username,
            credential_type=checked.credential_type,
            password_digest=checked.password_digest,
            password_hash=password_hash,
            csr_pem=checked.csr_pem,
            public_key_sha256=checked.public_key_sha256,
            roles=tuple(dict.fromkeys(request.roles)),
            permissions=tuple(dict.fromkeys(request.permissions)),
            context=request.context,
            pairing_code=code,
            status=EntryStatus.PENDING,
            certificate_serial=None,
            user_id=None,
            source=request.source,
            created_at=now,
            updated_at=now,
        )
        async with self._storage.transaction() as tx:
            until = await tx.client_registry.window(tenant_id)
            if until is None or until <= now:
                return RegisterResult(Outcome.LOCKED)
            if await tx.users.get(tenant_id, username) is not None:
                raise Conflict(f"The user {username} exists already.", entity="user")
            if not await tx.client_registry.insert(entry):
                return None  # another request for the name got in first: poll it
            await tx.audit.record(
                self._event(
                    AuditTag.CLIENT_REGISTRATION_REQUESTED,
                    tenant_id,
                    f"{tenant_id}/{username}",
                    subject=username,
                    credentialType=entry.credential_type.value,
                    pairingCode=code,
                    source=request.source,
                    roles=list(entry.roles),
                    permissions=len(entry.permissions),
                )
            )
        self._new_by_source.record_failure(request.source)
        return RegisterResult(Outcome.PENDING, pairing_code=code)

    async def _poll(
        self, entry: ClientRegistration, request: RegistrationRequest, checked: CheckedRequest, started: float
    ) -> RegisterResult | None:
        same = self._same_requester(entry, request, checked)
        if entry.granted and entry.user_id is None:
            # Its user was deleted since the grant: the grant is void, the name may be requested anew.
            async with self._storage.transaction() as tx:
                current = await tx.client_registry.get(entry.tenant_id, entry.username)
                if current is not None and current.id == entry.id and current.user_id is None:
                    await tx.client_registry.delete(entry.id)
                    await tx.audit.record(
                        self._event(
                            AuditTag.CLIENT_REGISTRATION_REMOVED,
                            entry.tenant_id,
                            "system",
                            subject=entry.username,
                            reason="the granted user was deleted",
                        )
                    )
            return None
        presented = PresentedCredentials(request.tenant_id, request.username, request.password or "", request.source)
        if entry.granted:
            if not same:
                await self._authenticator.reject(
                    presented, started, "client registry: the credentials do not match the granted registration"
                )
            return RegisterResult(Outcome.GRANTED, certificate_pem=entry.certificate_pem, user_id=entry.user_id)
        if not same:
            await self._authenticator.reject(
                presented,
                started,
                "client registry: the credentials do not match the pending registration",
                Conflict(f"A registration for {request.username} is pending with other credentials.", entity=ENTITY),
            )
        roles = tuple(dict.fromkeys(request.roles))
        permissions = tuple(dict.fromkeys(request.permissions))
        now = self._clock.now()
        changed = (roles, permissions, request.context) != (entry.roles, entry.permissions, entry.context)
        if changed or (now - entry.updated_at).total_seconds() >= REFRESH_SECONDS or entry.source != request.source:
            async with self._storage.transaction() as tx:
                await tx.client_registry.refresh(entry.id, roles, permissions, request.context, request.source, now)
        return RegisterResult(Outcome.PENDING, pairing_code=entry.pairing_code)

    def _same_requester(self, entry: ClientRegistration, request: RegistrationRequest, checked: CheckedRequest) -> bool:
        """The same secrets as the first request: its password (keyed digests) and/or its key."""
        same = True
        if entry.password_digest is not None or request.password is not None:
            same = (
                entry.password_digest is not None
                and checked.password_digest is not None
                and hmac.compare_digest(entry.password_digest.encode(), checked.password_digest.encode())
            )
        if entry.public_key_sha256 is not None or checked.public_key_sha256 is not None:
            same = (
                same
                and entry.public_key_sha256 is not None
                and checked.public_key_sha256 is not None
                and hmac.compare_digest(entry.public_key_sha256.encode(), checked.public_key_sha256.encode())
            )
        return same

    def _digest(self, tenant_id: str, username: str, password: str) -> str:
        return self._pepper.digest(f"{_DIGEST_PURPOSE}:{tenant_id}/{username}", password)

    # -- the operator's side ----------------------------------------------------------------------

    async def entries(self, principal: Principal) -> list[ClientRegistration]:
        scope = None if principal.in_management_tenant else principal.tenant_id
        async with self._storage.read() as tx:
            return await tx.client_registry.entries(scope)

    async def entries_by_status(
        self, principal: Principal, status: EntryStatus, limit: int
    ) -> list[ClientRegistration]:
        """A bounded list for the console: pending requests oldest first, granted ones newest first."""
        scope = None if principal.in_management_tenant else principal.tenant_id
        async with self._storage.read() as tx:
            return await tx.client_registry.entries_by_status(scope, status, limit)

    async def entry(self, principal: Principal, username: str, tenant_id: str | None = None) -> ClientRegistration:
        """One request of the caller's tenant (any tenant's for the management tenant)."""
        tenant = self._tenant(principal, tenant_id)
        async with self._storage.read() as tx:
            found = await tx.client_registry.get(tenant, username)
        if found is None:
            raise NotFound(f"There is no registration request for {username}", entity=ENTITY)
        return found

    async def confirm(self, principal: Principal, confirmation: Confirmation) -> DirectoryUser:
        tenant_id = self._tenant(principal, confirmation.tenant_id)
        username = confirmation.username
        now = self._clock.now()
        async with self._storage.transaction() as tx:
            entry = await tx.client_registry.get(tenant_id, username)
            if entry is None:
                raise NotFound(f"There is no registration request for {username}", entity=ENTITY)
            if entry.granted:
                raise Conflict(f"The registration of {username} was granted already.", entity=ENTITY)
            csr = parse_csr(entry.csr_pem) if entry.csr_pem is not None else None
            grant_types = confirmation.grant_types
            if grant_types is None:
                grant_types = tuple(
                    GrantType(method, False)
                    for method, present in (
                        (GrantMethod.PASSWORD, entry.password_hash is not None),
                        (GrantMethod.CERTIFICATE, csr is not None),
                    )
                    if present
                )
            new = NewUser(
                username=username,
                password=None,
                mqtt_publish_prefix=confirmation.mqtt_publish_prefix,
                grant_types=grant_types,
                initial_permissions=entry.permissions if confirmation.permissions is None else confirmation.permissions,
                roles=await self._asked_roles(tx, tenant_id, entry.roles)
                if confirmation.roles is None
                else confirmation.roles,
                tenant_id=tenant_id,
            )
            user = await self._users.create_user_in(tx, principal, new, entry.password_hash)
            issued: IssuedCertificate | None = None
            if csr is not None:
                issued = await self._certificates.issue_in(
                    tx,
                    csr,
                    tenant_id=tenant_id,
                    owner=username,
                    common_name=username,
                    issued_via=IssuedVia.REGISTRY.value,
                    actor=actor(principal),
                )
                if await tx.directory.certificate_owner(issued.sha256) is None:
                    await tx.directory.add_certificate(user.id, NewCertificate(issued.sha256, issued.not_after), now)
            serial = issued.serial if issued is not None else None
            if not await tx.client_registry.mark_granted(entry.id, user.id, serial, now):
                raise Conflict(f"The registration of {username} changed meanwhile; try again.", entity=ENTITY)
            await tx.audit.record(
                self._event(
                    AuditTag.CLIENT_REGISTRATION_GRANTED,
                    tenant_id,
                    actor(principal),
                    subject=username,
                    userId=user.id,
                    pairingCode=entry.pairing_code,
                    certificateSerial=serial,
                    roles=list(new.roles),
                    permissions=len(new.initial_permissions),
                )
            )
            return (await tx.directory.users([user.id], now))[0]

    @staticmethod
    async def _asked_roles(tx: ClientRegistryTransaction, tenant_id: str, asked: Sequence[str]) -> tuple[str, ...]:
        """The role ids for the role *names* a device asked for (Connectware's register takes names;
        confirm grants ids). Built-in roles are named by their ids; an id is taken as it is."""
        stored = await tx.directory.roles(tenant_id)
        by_name = {role.name: role.id for role in stored}
        known_ids = {role.id for role in stored} | set(BUILTIN_ROLES)
        unknown = [name for name in asked if name not in by_name and name not in known_ids]
        if unknown:
            raise InvalidInput(
                f"The device asked for roles that do not exist in tenant {tenant_id}: {', '.join(unknown)}; "
                "name the roles to grant in `roles`",
                entity=ENTITY,
                field="roles",
            )
        return tuple(dict.fromkeys(name if name in known_ids else by_name[name] for name in asked))

    async def remove(self, principal: Principal, username: str, tenant_id: str | None = None) -> None:
        """Reject a pending request, or forget a granted one (its user stays)."""
        tenant = self._tenant(principal, tenant_id)
        async with self._storage.transaction() as tx:
            entry = await tx.client_registry.get(tenant, username)
            if entry is None or not await tx.client_registry.delete(entry.id):
                raise NotFound(f"There is no registration request for {username}", entity=ENTITY)
            await tx.audit.record(
                self._event(
                    AuditTag.CLIENT_REGISTRATION_REMOVED,
                    tenant,
                    actor(principal),
                    subject=username,
                    status=entry.status.value,
                    pairingCode=entry.pairing_code,
                )
            )

    # -- internals --------------------------------------------------------------------------------

    @staticmethod
    def _tenant(principal: Principal, tenant_id: str | None) -> str:
        tenant = tenant_id or principal.tenant_id
        if not principal.can_see_tenant(tenant):
            raise NotFound(f"There is no tenant {tenant}", entity="tenant")
        return tenant

    def _event(
        self, tag: AuditTag, tenant_id: str, actor: str, *, subject: str = "client-registry", **detail: object
    ) -> AuditEvent:
        return AuditEvent(
            tag=tag,
            tenant_id=tenant_id,
            actor=actor,
            subject=subject,
            at=self._clock.now(),
            detail=dict(detail),
        )
