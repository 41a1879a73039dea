"""Use cases of device registration: operators create, list, accept and delete requests; devices poll."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from admittance.audit import AuditEvent, AuditTag
from admittance.devices.model import (
    IssuedCredentials,
    NotYet,
    PollAction,
    PollSubject,
    RegistrationRequest,
    RegistrationStatus,
    RequestState,
    decide_accept,
    decide_poll,
    device_username,
    not_available_message,
    validate_device_id,
    validate_enrollable_id,
)
from admittance.devices.store import DevicesStorage, DevicesTransaction, IssueRequest, QueueQuery
from admittance.identity.authentication import Authenticator
from admittance.identity.model import PresentedCredentials, SecurityTokenPolicy
from admittance.kernel.clock import Clock, to_millis
from admittance.kernel.errors import Conflict, InvalidInput, InvalidState, NotFound, PermissionDenied
from admittance.kernel.paging import Page, PageRequest
from admittance.kernel.principal import Principal, Role
from admittance.kernel.secrets import Pepper, random_password

ENTITY = "registration_request"
_TOKEN = "security-token"  # noqa: S105 - a hash purpose label, not a secret
_ENROLLMENT = "enrollment-token"


@dataclass(frozen=True, slots=True)
class NewRegistration:
    id: str
    tenant_id: str | None = None
    group_id: str | None = None
    type: str | None = None
    custom_properties: dict[str, Any] | None = None
    enrollment_token: str | None = None


@dataclass(frozen=True, slots=True)
class AcceptAllResult:
    id: str
    successful: bool
    error: str | None = None


@dataclass(frozen=True, slots=True)
class QueuePage:
    """A page of the registration queue (newest first) with the keyset cursors of its neighbours."""

    items: list[RegistrationRequest]
    next_after: tuple[int, str] | None  # pass as `after` for the next (older) page
    prev_before: tuple[int, str] | None  # pass as `before` for the previous (newer) page


@dataclass(frozen=True, slots=True)
class DayActivity:
    day: date  # UTC
    registered: int  # requests created
    accepted: int  # requests accepted (admissions)


@dataclass(frozen=True, slots=True)
class RegistrationLimit:
    is_reached: bool
    limit: int | None
    device_count: int


class RegistrationService:
    def __init__(
        self,
        storage: DevicesStorage,
        authenticator: Authenticator,
        pepper: Pepper,
        clock: Clock,
        *,
        max_token_failures: int = 3,
    ) -> None:
        self._storage = storage
        self._authenticator = authenticator
        self._pepper = pepper
        self._clock = clock
        self._max_token_failures = max_token_failures

    # --- operator side -------------------------------------------------------------------------

    async def create(self, principal: Principal, new: NewRegistration) -> RegistrationRequest:
        principal.require(Role.DEVICE_CONTROL_ADMIN)
        validate_enrollable_id(new.id) if new.enrollment_token else validate_device_id(new.id)
        tenant_id = new.tenant_id or principal.tenant_id
        if not principal.can_see_tenant(tenant_id):
            raise PermissionDenied("Only the management tenant can register devices for another tenant")
        now = self._clock.now()
        request = RegistrationRequest(
            id=new.id,
            tenant_id=tenant_id,
            status=RegistrationStatus.WAITING_FOR_CONNECTION,
            owner=principal.username,
            created_at=now,
            updated_at=now,
            group_id=new.group_id,
            type=new.type,
            custom_properties=new.custom_properties or {},
            enrollment_token_digest=(
                self._pepper.digest(_ENROLLMENT, new.enrollment_token) if new.enrollment_token else None
            ),
        )
        async with self._storage.transaction() as tx:
            if await tx.tenants.get(tenant_id) is None:
                raise InvalidInput(f"There is no tenant {tenant_id}", entity="tenant", field="tenantId")
            if not await tx.registrations.insert(request):
                raise Conflict(f"A registration request for device id {new.id} exists already.", entity=ENTITY)
            await tx.audit.record(self._event(AuditTag.REGISTRATION_CREATED, request, principal.username))
        return request

    async def get(self, principal: Principal, request_id: str) -> RegistrationRequest:
        principal.require(Role.DEVICE_CONTROL_READ, Role.DEVICE_CONTROL_ADMIN)
        async with self._storage.read() as tx:
            return await self._visible(tx, principal, request_id)

    async def list_requests(
        self, principal: Principal, page: PageRequest, status: RegistrationStatus | None = None
    ) -> Page[RegistrationRequest]:
        principal.require(Role.DEVICE_CONTROL_READ, Role.DEVICE_CONTROL_ADMIN)
        scope = None if principal.in_management_tenant else principal.tenant_id
        async with self._storage.read() as tx:
            return await tx.registrations.page(scope, status, page)

    async def queue(
        self,
        principal: Principal,
        *,
        status: RegistrationStatus | None = None,
        id_prefix: str | None = None,
        after: tuple[int, str] | None = None,
        before: tuple[int, str] | None = None,
        size: int = 50,
    ) -> QueuePage:
        """The queue newest first, paged by keyset (the console): as fast on the last page of
        100,000 requests as on the first."""
        principal.require(Role.DEVICE_CONTROL_READ, Role.DEVICE_CONTROL_ADMIN)
        scope = None if principal.in_management_tenant else principal.tenant_id
        query = QueueQuery(scope, status, id_prefix or None, after, None if after else before, max(1, min(size, 500)))
        async with self._storage.read() as tx:
            items, more = await tx.registrations.queue(query)
        backwards = query.before is not None
        if backwards and not more:  # back at the newest: the first page, whole
            return await self.queue(principal, status=status, id_prefix=id_prefix, size=size)
        first, last = (_cursor(items[0]), _cursor(items[-1])) if items else (None, None)
        has_newer = more if backwards else query.after is not None
        has_older = True if backwards else more
        return QueuePage(items, last if has_older and items else None, first if has_newer and items else None)

    async def counts(self, principal: Principal) -> dict[RegistrationStatus, int]:
        """How many requests are in each status (the dashboard)."""
        principal.require(Role.DEVICE_CONTROL_READ, Role.DEVICE_CONTROL_ADMIN)
        scope = None if principal.in_management_tenant else principal.tenant_id
        async with self._storage.read() as tx:
            return await tx.registrations.count_by_status(scope)

    async def activity(self, principal: Principal, days: int = 14) -> list[DayActivity]:
        """Requests created and accepted per UTC day over the last `days` days, today included,
        from the audit trail (an admitted request is gone from the queue once it has credentials)."""
        principal.require(Role.DEVICE_CONTROL_READ, Role.DEVICE_CONTROL_ADMIN)
        scope = None if principal.in_management_tenant else principal.tenant_id
        today = self._clock.now().astimezone(UTC).date()
        first = today - timedelta(days=days - 1)
        since = datetime(first.year, first.month, first.day, tzinfo=UTC)
        created, accepted = AuditTag.REGISTRATION_CREATED.value, AuditTag.REGISTRATION_ACCEPTED.value
        async with self._storage.read() as tx:
            found = await tx.registrations.daily_counts(scope, (created, accepted), since)
        per_day: dict[date, dict[str, int]] = {}
        for row in found:
            day = date(1970, 1, 1) + timedelta(days=row.day)
            per_day.setdefault(day, {})[row.tag] = row.count
        span = (first + timedelta(days=offset) for offset in range(days))
        return [
            DayActivity(day, per_day.get(day, {}).get(created, 0), per_day.get(day, {}).get(accepted, 0))
            for day in span
        ]

    async def token_policy(self, principal: Principal, tenant_id: str | None = None) -> SecurityTokenPolicy:
        """A tenant's security token policy (the console asks for the token on accept when the device
        sent one and the policy does not ignore it); the principal's own tenant by default."""
        principal.require(Role.DEVICE_CONTROL_READ, Role.DEVICE_CONTROL_ADMIN)
        tenant_id = tenant_id or principal.tenant_id
        if not principal.can_see_tenant(tenant_id):
            raise NotFound(f"There is no tenant {tenant_id}", entity="tenant")
        async with self._storage.read() as tx:
            tenant = await tx.tenants.get(tenant_id)
        return tenant.security_token_policy if tenant else SecurityTokenPolicy.OPTIONAL

    async def accept(
        self, principal: Principal, request_id: str, security_token: str | None = None
    ) -> RegistrationRequest:
        principal.require(Role.DEVICE_CONTROL_ADMIN)
        mismatch = False
        async with self._storage.transaction() as tx:
            request = await self._visible(tx, principal, request_id, for_update=True)
            tenant = await tx.tenants.get(request.tenant_id)
            policy = tenant.security_token_policy if tenant else SecurityTokenPolicy.OPTIONAL
            decision = decide_accept(
                request,
                token_matches=self._token_matches(request, security_token),
                policy=policy,
                max_token_failures=self._max_token_failures,
            )
            if decision.accept:
                await self._check_limit(tx, request.tenant_id)
                request = await self._move(
                    tx, request, RegistrationStatus.ACCEPTED, principal.username, AuditTag.REGISTRATION_ACCEPTED
                )
            elif decision.token_mismatch:
                mismatch = True
                request = await self._count_token_failure(tx, request, decision.block, principal.username)
        if mismatch:
            raise InvalidInput(
                f"The security token does not match the one the device {request_id} sent"
                + ("; the request is now BLOCKED." if request.status is RegistrationStatus.BLOCKED else "."),
                entity=ENTITY,
                field="securityToken",
            )
        return request

    async def block(self, principal: Principal, request_id: str) -> RegistrationRequest:
        principal.require(Role.DEVICE_CONTROL_ADMIN)
        async with self._storage.transaction() as tx:
            request = await self._visible(tx, principal, request_id, for_update=True)
            if request.status is RegistrationStatus.BLOCKED:
                return request
            return await self._move(
                tx, request, RegistrationStatus.BLOCKED, principal.username, AuditTag.REGISTRATION_BLOCKED
            )

    async def accept_all(self, principal: Principal) -> list[AcceptAllResult]:
        """Accept every pending request that carries no security token (those need the token)."""
        principal.require(Role.DEVICE_CONTROL_ADMIN)
        scope = None if principal.in_management_tenant else principal.tenant_id
        async with self._storage.read() as tx:
            pending = await tx.registrations.list_by_status(scope, RegistrationStatus.PENDING_ACCEPTANCE)
        results = []
        for request in pending:
            if request.security_token_digest is not None:
                continue
            try:
                await self.accept(principal, request.id)
                results.append(AcceptAllResult(request.id, True))
            except (InvalidState, InvalidInput, NotFound) as exc:
                results.append(AcceptAllResult(request.id, False, exc.message))
        return results

    async def delete(self, principal: Principal, request_id: str) -> None:
        principal.require(Role.DEVICE_CONTROL_ADMIN, Role.USER_MANAGEMENT_ADMIN)
        async with self._storage.transaction() as tx:
            request = await self._visible(tx, principal, request_id, for_update=True)
            await tx.registrations.delete(request_id)
            await tx.audit.record(self._event(AuditTag.REGISTRATION_DELETED, request, principal.username))

    async def limit(self, principal: Principal) -> RegistrationLimit:
        principal.require(Role.DEVICE_CONTROL_READ, Role.DEVICE_CONTROL_ADMIN)
        async with self._storage.read() as tx:
            tenant = await tx.tenants.get(principal.tenant_id)
            count = await tx.users.count_devices(principal.tenant_id)
        limit = tenant.device_limit if tenant else None
        return RegistrationLimit(limit is not None and count >= limit, limit, count)

    # --- device side ---------------------------------------------------------------------------

    async def request_credentials(
        self, presented: PresentedCredentials, device_id: str, security_token: str | None = None
    ) -> IssuedCredentials:
        """A device polls: NotFound ("not yet") until accepted; then credentials, exactly once."""
        outcome = await self.poll(presented, device_id, security_token)
        if isinstance(outcome, NotYet):
            raise NotFound(outcome.message, entity=ENTITY)
        return outcome

    async def poll(
        self, presented: PresentedCredentials, device_id: str, security_token: str | None = None
    ) -> IssuedCredentials | NotYet:
        """The device polling path. "Not yet" is its normal answer, so it is a value, not an exception."""
        view = await self._storage.poll_view(presented.tenant_id, presented.username, device_id)
        principal = await self._authenticator.verify(presented, view.user)
        principal.require(Role.DEVICE_BOOTSTRAP)
        request = view.request
        if request is None or not principal.can_see_tenant(request.tenant_id):
            return NotYet(not_available_message(None, device_id))
        decision = decide_poll(
            request,
            token_sent=bool(security_token),
            token_matches=self._token_matches(request, security_token),
            policy=view.policy or SecurityTokenPolicy.OPTIONAL,
            max_token_failures=self._max_token_failures,
        )
        if decision.action is PollAction.ISSUE:
            return await self._issue(principal, device_id)
        if decision.action is not PollAction.WAIT:
            await self._apply_poll(principal, request, decision.action, security_token)
        return NotYet(not_available_message(request, device_id))

    async def _apply_poll(
        self, principal: Principal, seen: RequestState, action: PollAction, token: str | None
    ) -> None:
        async with self._storage.transaction() as tx:
            request = await tx.registrations.get(seen.id, for_update=True)
            if request is None or request.status is not seen.status:
                return  # another poll or the operator got there first; the next poll sees it
            if action is PollAction.TOKEN_MISMATCH:
                block = request.token_failures + 1 >= self._max_token_failures
                await self._count_token_failure(tx, request, block, principal.username)
                return
            status = {
                PollAction.MARK_PENDING: RegistrationStatus.PENDING_ACCEPTANCE,
                PollAction.BLOCK: RegistrationStatus.BLOCKED,
            }.get(action, request.status)
            digest = request.security_token_digest
            if digest is None and token and action in (PollAction.MARK_PENDING, PollAction.RECORD_TOKEN):
                digest = self._pepper.digest(_TOKEN, token)
            await tx.registrations.update_state(
                request.id,
                expected=request.status,
                status=status,
                security_token_digest=digest,
                token_failures=request.token_failures,
                updated_at=self._clock.now(),
            )
            tag = {
                PollAction.MARK_PENDING: AuditTag.REGISTRATION_POLLED,
                PollAction.BLOCK: AuditTag.REGISTRATION_BLOCKED,
            }.get(action)
            if tag is not None:
                await tx.audit.record(self._event(tag, request, principal.username))

    async def _issue(self, principal: Principal, device_id: str) -> IssuedCredentials | NotYet:
        password = random_password(32)
        username = device_username(device_id)
        event = AuditEvent(
            AuditTag.CREDENTIALS_ISSUED,
            principal.tenant_id,
            principal.username,
            device_id,
            self._clock.now(),
            {"username": username},
        )
        outcome = await self._storage.issue_credentials(
            IssueRequest(device_id, username, self._pepper.password_hash(password), Role.DEVICE.value, event)
        )
        if outcome.name_taken:
            raise Conflict(f"The user name {username} belongs to a user who is not a device.", entity="user")
        if outcome.tenant_id is None:  # a concurrent poll took it: it alone gets the credentials
            return NotYet(not_available_message(None, device_id))
        return IssuedCredentials(device_id, outcome.tenant_id, username, password)

    # --- shared steps --------------------------------------------------------------------------

    async def _visible(
        self, tx: DevicesTransaction, principal: Principal, request_id: str, *, for_update: bool = False
    ) -> RegistrationRequest:
        request = await tx.registrations.get(request_id, for_update=for_update)
        if request is None or not principal.can_see_tenant(request.tenant_id):
            raise NotFound(f"There is no registration request for device id {request_id}.", entity=ENTITY)
        return request

    async def _move(
        self,
        tx: DevicesTransaction,
        request: RegistrationRequest,
        status: RegistrationStatus,
        actor: str,
        tag: AuditTag,
    ) -> RegistrationRequest:
        now = self._clock.now()
        changed = await tx.registrations.update_state(
            request.id,
            expected=request.status,
            status=status,
            security_token_digest=request.security_token_digest,
            token_failures=request.token_failures,
            updated_at=now,
        )
        if not changed:
            raise InvalidState(f"The request for device {request.id} changed meanwhile; retry.", entity=ENTITY)
        await tx.audit.record(self._event(tag, request, actor))
        return replace(request, status=status, updated_at=now)

    async def _count_token_failure(
        self, tx: DevicesTransaction, request: RegistrationRequest, block: bool, actor: str
    ) -> RegistrationRequest:
        now = self._clock.now()
        status = RegistrationStatus.BLOCKED if block else request.status
        await tx.registrations.update_state(
            request.id,
            expected=request.status,
            status=status,
            security_token_digest=request.security_token_digest,
            token_failures=request.token_failures + 1,
            updated_at=now,
        )
        await tx.audit.record(self._event(AuditTag.REGISTRATION_TOKEN_MISMATCH, request, actor))
        if block:
            await tx.audit.record(self._event(AuditTag.REGISTRATION_BLOCKED, request, actor))
        return replace(request, status=status, token_failures=request.token_failures + 1, updated_at=now)

    async def _check_limit(self, tx: DevicesTransaction, tenant_id: str) -> None:
        tenant = await tx.tenants.get(tenant_id)
        if tenant is None or tenant.device_limit is None:
            return
        if await tx.users.count_devices(tenant_id) >= tenant.device_limit:
            raise InvalidState(
                f"You reached the limit of {tenant.device_limit} devices in tenant {tenant_id}.", entity=ENTITY
            )

    def _token_matches(self, request: PollSubject, token: str | None) -> bool | None:
        if request.security_token_digest is None:
            return None
        if not token:
            return False
        return self._pepper.matches(_TOKEN, token, request.security_token_digest)

    def _event(self, tag: AuditTag, request: RegistrationRequest, actor: str, **detail: object) -> AuditEvent:
        return AuditEvent(
            tag=tag,
            tenant_id=request.tenant_id,
            actor=actor,
            subject=request.id,
            at=self._clock.now(),
            detail=dict(detail),
        )


def _cursor(request: RegistrationRequest) -> tuple[int, str]:
    return to_millis(request.created_at), request.id
