"""Jobs and their per-row results."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from admittance.devices.bulk.rows import RowStatus


class JobKind(StrEnum):
    DEVICE_IMPORT = "device-import"  # a manifest; `cursor` = rows applied
    # argon2id over pending keyed digests; `cursor` = the last user id done
    PASSWORD_WRAP = "password-wrap"  # noqa: S105 - a job kind, not a secret
    NRF_BULK_CLAIM = "nrf-bulk-claim"  # nRF Cloud claim tokens; `cursor` = rows done


class JobStatus(StrEnum):
    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED)


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    tenant_id: str
    kind: JobKind
    creator: str
    status: JobStatus
    created_at: datetime
    updated_at: datetime
    total: int = 0
    cursor: int = 0
    created_count: int = 0
    updated_count: int = 0
    failed_count: int = 0
    attempts: int = 0
    error: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    lease_owner: str | None = None

    @property
    def processed(self) -> int:
        return self.created_count + self.updated_count + self.failed_count


@dataclass(frozen=True, slots=True)
class JobRow:
    """A row worth keeping: a failure (with the row, secrets emptied) or a credential update."""

    line: int
    status: RowStatus
    device_id: str | None
    reason: str | None = None
    raw: str = ""


@dataclass(frozen=True, slots=True)
class Progress:
    """What one committed step adds to a job."""

    cursor: int
    created: int = 0
    updated: int = 0
    failed: int = 0
    rows: list[JobRow] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class StagedImport:
    """A manifest uploaded for a preview (the console), kept until it is imported, discarded or
    expires; only the user who uploaded it may see or import it."""

    id: str
    tenant_id: str
    user_id: int
    filename: str
    size: int
    created_at: datetime
    expires_at: datetime
