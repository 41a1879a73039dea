"""What the client registry needs: its entries and windows in storage, the directory's stores (the
grant creates a user) and the PKI's (the grant issues the certificate) in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from admittance.identity.model import User
from admittance.identity.store import DirectoryTransaction
from admittance.kernel.access import Permission
from admittance.pki.store import PkiTransaction
from admittance.registry.model import ClientRegistration, EntryStatus


class ClientRegistryStore(Protocol):
    async def window(self, tenant_id: str) -> datetime | None:
        """When the tenant's window locks (possibly in the past); None when it was never opened or closed."""
        ...

    async def open_window(self, tenant_id: str, open_until: datetime, opened_by: str) -> None: ...

    async def close_window(self, tenant_id: str) -> bool:
        """False when there was no window row."""
        ...

    async def get(self, tenant_id: str, username: str) -> ClientRegistration | None:
        """The entry, with the PEM of its issued certificate when granted with one."""
        ...

    async def entries(self, tenant_id: str | None) -> list[ClientRegistration]:
        """Entries of a tenant (None: of every tenant), oldest first."""
        ...

    async def entries_by_status(
        self, tenant_id: str | None, status: EntryStatus, limit: int
    ) -> list[ClientRegistration]:
        """At most `limit` entries of one status: pending ones oldest first, granted ones newest first."""
        ...

    async def insert(self, entry: ClientRegistration) -> bool:
        """False when the tenant has an entry for the username already."""
        ...

    async def refresh(
        self,
        entry_id: str,
        roles: Sequence[str],
        permissions: Sequence[Permission],
        context: str,
        source: str,
        now: datetime,
    ) -> None:
        """A pending entry's latest request (what it asks for, where from, when)."""
        ...

    async def mark_granted(self, entry_id: str, user_id: int, certificate_serial: str | None, now: datetime) -> bool:
        """False when the entry is gone or not pending any more."""
        ...

    async def delete(self, entry_id: str) -> bool: ...


class RegistryUserStore(Protocol):
    async def get(self, tenant_id: str, username: str) -> User | None: ...


class ClientRegistryTransaction(DirectoryTransaction, PkiTransaction, Protocol):
    @property
    def client_registry(self) -> ClientRegistryStore: ...

    @property
    def users(self) -> RegistryUserStore: ...
