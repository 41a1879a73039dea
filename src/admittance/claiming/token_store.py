"""What claim tokens need from storage: identity keys, seen nonces, challenges, the tenant's mode."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from admittance.audit import AuditStore


@dataclass(frozen=True, slots=True)
class IdentityKey:
    device_uuid: str
    public_key_pem: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Challenge:
    nonce: str  # 32 hex digits
    tenant_id: str
    expires_at: datetime
    used_at: datetime | None


class ClaimTokenStore(Protocol):
    async def claim_verification(self, tenant_id: str) -> str | None: ...

    async def set_claim_verification(self, tenant_id: str, mode: str) -> bool:
        """False when there is no such tenant."""
        ...

    async def identity_key(self, tenant_id: str, device_uuid: str) -> str | None: ...

    async def upsert_identity_keys(self, tenant_id: str, keys: Sequence[tuple[str, str]], now: datetime) -> int:
        """Insert or replace (device UUID, PEM) pairs; returns how many were new."""
        ...

    async def identity_keys(self, tenant_id: str, after: str | None, limit: int) -> list[IdentityKey]: ...

    async def count_identity_keys(self, tenant_id: str) -> int: ...

    async def delete_identity_key(self, tenant_id: str, device_uuid: str) -> bool: ...

    async def record_nonce(self, device_uuid: str, nonce: str, now: datetime) -> bool:
        """Atomic: False when the pair was seen before (a replay)."""
        ...

    async def nonce_seen(self, device_uuid: str, nonce: str) -> bool: ...

    async def insert_challenge(self, nonce: str, tenant_id: str, expires_at: datetime) -> None: ...

    async def challenge(self, nonce: str) -> Challenge | None: ...

    async def use_challenge(self, nonce: str, tenant_id: str, now: datetime) -> bool:
        """Conditional: only an unused, unexpired challenge of the tenant is marked used."""
        ...


class ClaimTokenTransaction(Protocol):
    @property
    def claim_tokens(self) -> ClaimTokenStore: ...

    @property
    def audit(self) -> AuditStore: ...


class ClaimTokenStorage(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[ClaimTokenTransaction]: ...

    def read(self) -> AbstractAsyncContextManager[ClaimTokenTransaction]: ...
