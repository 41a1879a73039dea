"""What the devices context needs from storage, in domain terms."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from admittance.audit import AuditEvent, AuditStore
from admittance.devices.inventory_model import AssetReference, ExternalId, InventoryFilter, ManagedObject, Relations
from admittance.devices.model import RegistrationRequest, RegistrationStatus, RequestState
from admittance.identity.model import SecurityTokenPolicy, UserAuthRecord
from admittance.identity.store import TenantStore, UserStore
from admittance.kernel.paging import Page, PageRequest
from admittance.kernel.storage import Storage


@dataclass(frozen=True, slots=True)
class QueueQuery:
    """A page of the registration queue, newest first, by keyset: `after` the last row of the page
    before (the next page) or `before` the first row of the page after (the previous page)."""

    tenant_id: str | None  # None: every tenant (the management tenant)
    status: RegistrationStatus | None = None
    id_prefix: str | None = None  # case-insensitive
    after: tuple[int, str] | None = None  # (created_at millis, id)
    before: tuple[int, str] | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class DailyCount:
    day: int  # days since 1970-01-01 (UTC)
    tag: str
    count: int


class RegistrationStore(Protocol):
    async def insert(self, request: RegistrationRequest) -> bool:
        """False when a request with that id exists already (settled by the primary key)."""
        ...

    async def get(self, request_id: str, *, for_update: bool = False) -> RegistrationRequest | None: ...

    async def page(
        self, tenant_id: str | None, status: RegistrationStatus | None, page: PageRequest
    ) -> Page[RegistrationRequest]: ...

    async def list_by_status(self, tenant_id: str | None, status: RegistrationStatus) -> list[RegistrationRequest]: ...

    async def queue(self, query: QueueQuery) -> tuple[list[RegistrationRequest], bool]:
        """Up to `limit` requests newest first, and whether more follow in the paging direction."""
        ...

    async def count_by_status(self, tenant_id: str | None) -> dict[RegistrationStatus, int]: ...

    async def daily_counts(self, tenant_id: str | None, tags: Sequence[str], since: datetime) -> list[DailyCount]:
        """Audit events of these tags per UTC day since `since` (registrations, admissions over time)."""
        ...

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
    """Managed objects, external ids and group membership. Every method is confined to `tenant_id`."""

    async def create_managed_object(
        self,
        tenant_id: str,
        owner: str,
        name: str | None,
        mo_type: str | None,
        fragments: dict[str, Any],
        now: datetime,
    ) -> ManagedObject: ...

    async def get_managed_object(
        self, tenant_id: str, mo_id: int, *, for_update: bool = False
    ) -> ManagedObject | None: ...

    async def page_managed_objects(
        self, tenant_id: str, filters: InventoryFilter, page: PageRequest
    ) -> Page[ManagedObject]:
        """In id order."""
        ...

    async def relations(self, tenant_id: str, mo_ids: Sequence[int], limit: int) -> dict[int, Relations]:
        """Child assets and asset parents of each object, in id order, at most `limit` of each: one query
        for all of them. Objects without any are absent."""
        ...

    async def update_managed_object(self, mo: ManagedObject) -> bool:
        """Write name, type, fragments and updated_at. False when the object is gone."""
        ...

    async def delete_managed_objects(self, tenant_id: str, root_id: int, *, cascade: bool) -> list[ManagedObject]:
        """Delete the object (with `cascade`, also every child asset below it, recursively) with its external
        ids and memberships; the deleted objects, root first when it existed."""
        ...

    async def delete_device_user(self, tenant_id: str, username: str) -> bool:
        """Delete the user if it is a device user (never a person or the bootstrap user)."""
        ...

    async def add_external_id(self, external_id: ExternalId) -> bool:
        """False when the (type, value) pair is taken in the tenant."""
        ...

    async def find_external_id(self, tenant_id: str, id_type: str, value: str) -> ExternalId | None: ...

    async def external_ids_of(self, tenant_id: str, mo_id: int) -> list[ExternalId]:
        """In (type, value) order."""
        ...

    async def delete_external_id(self, tenant_id: str, id_type: str, value: str) -> bool: ...

    async def page_child_assets(self, tenant_id: str, parent_id: int, page: PageRequest) -> Page[AssetReference]:
        """In child id order."""
        ...

    async def lock_hierarchy(self, tenant_id: str) -> None:
        """Serialize membership changes of the tenant until the transaction ends (cycle checks stay true)."""
        ...

    async def in_subtree(self, tenant_id: str, root_id: int, candidate_id: int) -> bool:
        """True when `candidate_id` is `root_id` or one of its child assets, at any depth."""
        ...

    async def add_child_asset(self, tenant_id: str, parent_id: int, child_id: int) -> bool:
        """False when the child is already assigned to that parent."""
        ...

    async def remove_child_asset(self, tenant_id: str, parent_id: int, child_id: int) -> bool: ...


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


class DevicesStorage(Storage[DevicesTransaction], Protocol):
    async def poll_view(self, tenant_id: str, username: str, request_id: str) -> PollView: ...

    async def issue_credentials(self, issue: IssueRequest) -> IssueOutcome:
        """The exactly-once step: take the ACCEPTED request, create or reset the device user with
        its role, and record the audit event, atomically; at most one caller ever gets a tenant."""
        ...

    async def find_external_id(self, tenant_id: str, id_type: str, value: str) -> ExternalId | None: ...

    async def get_managed_object(self, tenant_id: str, mo_id: int) -> ManagedObject | None: ...
