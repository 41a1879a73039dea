"""The SQL storage: units of work bundling every store on one connection, and the fast read paths."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from admittance.devices.inventory_model import ExternalId, ManagedObject
from admittance.devices.model import RegistrationStatus, RequestState
from admittance.devices.store import IssueOutcome, IssueRequest, PollView
from admittance.identity.model import SecurityTokenPolicy, UserAuthRecord
from admittance.kernel.clock import Clock
from admittance.storage.database import Database, Executor
from admittance.storage.sql import inventory, issuance, rows
from admittance.storage.sql.audit import SqlAuditStore
from admittance.storage.sql.bulk import SqlBulkStore
from admittance.storage.sql.certificates import SqlCertificateStore
from admittance.storage.sql.claiming import SqlClaimedDeviceStore
from admittance.storage.sql.claiming_tokens import SqlClaimTokenStore
from admittance.storage.sql.client_registry import SqlClientRegistryStore
from admittance.storage.sql.directory import SqlDirectoryStore
from admittance.storage.sql.enrollment import SqlEnrollmentStore
from admittance.storage.sql.identity import SqlTenantStore, SqlUserStore, auth_record
from admittance.storage.sql.imports import SqlPendingPasswordStore, SqlStagedImportStore
from admittance.storage.sql.inventory import SqlInventoryStore
from admittance.storage.sql.jobs import SqlJobStore
from admittance.storage.sql.provisioning import SqlProvisioningStore
from admittance.storage.sql.registrations import SqlRegistrationStore
from admittance.storage.sql.sessions import SqlSessionStore


class SqlUnitOfWork:
    """Every store, bound to one connection (and so to one transaction, when there is one)."""

    def __init__(self, executor: Executor, clock: Clock) -> None:
        self.tenants = SqlTenantStore(executor, clock)
        self.users = SqlUserStore(executor, clock)
        self.registrations = SqlRegistrationStore(executor)
        self.inventory = SqlInventoryStore(executor)
        self.audit = SqlAuditStore(executor)
        self.bulk = SqlBulkStore(executor)
        self.jobs = SqlJobStore(executor)
        self.staged_imports = SqlStagedImportStore(executor)
        self.pending_passwords = SqlPendingPasswordStore(executor)
        self.directory = SqlDirectoryStore(executor, clock)
        self.sessions = SqlSessionStore(executor, clock)
        self.certificates = SqlCertificateStore(executor, clock)
        self.client_registry = SqlClientRegistryStore(executor)
        self.enrollment = SqlEnrollmentStore(executor, clock)
        self.claim_tokens = SqlClaimTokenStore(executor)
        self.claimed_devices = SqlClaimedDeviceStore(executor)
        self.provisioning = SqlProvisioningStore(executor)
        self.executor = executor


class SqlStorage:
    def __init__(self, database: Database, clock: Clock) -> None:
        self.database = database
        self._clock = clock
        dialect = database.dialect
        self._poll_sql = (
            f"SELECT u.id, u.tenant_id, u.username, u.password_hash, u.enabled, {dialect.role_list} AS roles, "
            "r.id AS r_id, r.tenant_id AS r_tenant_id, r.status AS r_status, "
            "r.security_token_digest AS r_digest, r.token_failures AS r_failures, "
            "t.security_token_policy AS policy FROM users u "
            "LEFT JOIN registration_requests r ON r.id = :request_id "
            "LEFT JOIN tenants t ON t.id = r.tenant_id "
            "WHERE u.tenant_id = :tenant AND u.username = :username"
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlUnitOfWork]:
        async with self.database.transaction() as executor:
            yield SqlUnitOfWork(executor, self._clock)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[SqlUnitOfWork]:
        async with self.database.read() as executor:
            yield SqlUnitOfWork(executor, self._clock)

    async def poll_view(self, tenant_id: str, username: str, request_id: str) -> PollView:
        """The device polling path: user, roles, request and its tenant's policy in one round trip."""
        row = await self.database.fetch_one(
            self._poll_sql, {"tenant": tenant_id, "username": username, "request_id": request_id}
        )
        if row is None:
            return PollView(None, None, None)
        request = None
        if row["r_id"] is not None:
            request = RequestState(
                row["r_id"], row["r_tenant_id"], RegistrationStatus(row["r_status"]), row["r_digest"], row["r_failures"]
            )
        policy = SecurityTokenPolicy(row["policy"]) if row["policy"] else None
        return PollView(rows.auth_record(row), request, policy)

    async def issue_credentials(self, issue: IssueRequest) -> IssueOutcome:
        return await issuance.issue_credentials(self.database, self._clock, issue)

    async def auth_record(self, tenant_id: str, username: str) -> UserAuthRecord | None:
        async with self.database.read() as executor:
            return await auth_record(executor, tenant_id, username)

    async def tenant_exists(self, tenant_id: str) -> bool:
        row = await self.database.fetch_one("SELECT 1 AS present FROM tenants WHERE id = :id", {"id": tenant_id})
        return row is not None

    async def find_external_id(self, tenant_id: str, id_type: str, value: str) -> ExternalId | None:
        async with self.database.read() as executor:
            return await inventory.find_external_id(executor, tenant_id, id_type, value)

    async def get_managed_object(self, tenant_id: str, mo_id: int) -> ManagedObject | None:
        async with self.database.read() as executor:
            return await inventory.get_managed_object(executor, tenant_id, mo_id)
