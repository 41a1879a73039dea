"""What the audit log needs from storage."""

from __future__ import annotations

from typing import Protocol

from admittance.audit.model import AuditEvent


class AuditStore(Protocol):
    async def record(self, event: AuditEvent) -> None: ...

    async def record_many(self, events: list[AuditEvent]) -> None: ...

    async def list_for_subject(self, tenant_id: str, subject: str, limit: int = 100) -> list[AuditEvent]: ...

    async def recent_for_subjects(self, tenant_id: str, subjects: list[str], limit: int = 50) -> list[AuditEvent]:
        """The newest events about any of `subjects`, newest first."""
        ...
