"""What the devices context needs from storage, in domain terms."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from admittance.audit import AuditEvent, AuditStore
from admittance.devices.inventory_model import ExternalId, ManagedObject
from admittance.devices.model import RegistrationRequest, RegistrationStatus, RequestState
from admittance.identity.model import SecurityTokenPolicy, UserAuthRecord
from admittance.identity.store import TenantStore, UserStore
from admittance.kernel.paging import Page, PageRequest


class RegistrationStore(Protocol):
    async def insert(self, request: RegistrationRequest) -> bool:
        """False when a request with that id exists already (settled by the primary key)."""
        ...

    async def get(self, request_id: str, *, for_update: bool = False) -> RegistrationRequest | None: ...

    async def page(
        self, tenant_id: str | None, status: RegistrationStatus | None, page: PageRequest
    ) -> Page[RegistrationRequest]: ...

    async def list_by_status(self, tenant_id: str | None, status: RegistrationStatus) -> list[RegistrationRequest]: ...

    async def update_state(
        self,
        request_id: str,
        *,
        expected: RegistrationStatus,
        status: RegistrationStatus,
        security_token_digest: str | None,
        token_failures: int,
        updated_at: datetime,
    ) -> bool:
        """Compare-and-set on the status: False when the status is no longer `expected`."""
        ...

    async def delete(self, request_id: str) -> bool: ...

    async def take_accepted(self, request_id: str) -> RegistrationRequest | None:
        """Delete the request if it is ACCEPTED and return it: the exactly-once step of issuance."""
        ...


class InventoryStore(Protocol):
    async def create_managed_object(
        self,
        tenant_id: str,
        owner: str,
        name: str | None,
        mo_type: str | None,
        fragments: dict[str, Any],
        now: datetime,
    ) -> ManagedObject: ...

    async def get_managed_object(self, tenant_id: str, mo_id: int) -> ManagedObject | None: ...

    async def add_external_id(self, external_id: ExternalId) -> bool:
        """False when the (type, value) pair is taken in the tenant."""
        ...

    async def find_external_id(self, tenant_id: str, id_type: str, value: str) -> ExternalId | None: ...


class DevicesTransaction(Protocol):
    @property
    def tenants(self) -> TenantStore: ...

    @property
    def users(self) -> UserStore: ...

    @property
    def registrations(self) -> RegistrationStore: ...

    @property
    def inventory(self) -> InventoryStore: ...

    @property
    def audit(self) -> AuditStore: ...


@dataclass(frozen=True, slots=True)
class IssueRequest:
    """Install a device's new credentials for its ACCEPTED request; `audit`'s tenant is replaced by
    the request's."""

    device_id: str
    username: str
    password_hash: str
    role: str
    audit: AuditEvent


@dataclass(frozen=True, slots=True)
class IssueOutcome:
    tenant_id: str | None  # None: there was no ACCEPTED request (another poll took it), or the name is taken
    name_taken: bool = False  # the user name belongs to a person; nothing changed


@dataclass(frozen=True, slots=True)
class PollView:
    """Everything a device poll needs, read in one round trip."""

    user: UserAuthRecord | None
    request: RequestState | None
    policy: SecurityTokenPolicy | None  # of the request's tenant


class DevicesStorage(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[DevicesTransaction]: ...

    def read(self) -> AbstractAsyncContextManager[DevicesTransaction]:
        """The same stores on the read path: for use cases that change nothing."""
        ...

    async def poll_view(self, tenant_id: str, username: str, request_id: str) -> PollView: ...

    async def issue_credentials(self, issue: IssueRequest) -> IssueOutcome:
        """The exactly-once step: take the ACCEPTED request, create or reset the device user with
        its role, and record the audit event, atomically; at most one caller ever gets a tenant."""
        ...

    async def find_external_id(self, tenant_id: str, id_type: str, value: str) -> ExternalId | None: ...

    async def get_managed_object(self, tenant_id: str, mo_id: int) -> ManagedObject | None: ...
