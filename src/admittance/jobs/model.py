"""Jobs and their per-row results. The queue knows no job kind: each context names its own kinds
(`JobKind("device-import")`) and registers a handler for them with the composition root."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, NewType

from admittance.kernel.access import parse_permission
from admittance.kernel.principal import Principal

JobKind = NewType("JobKind", str)


class JobStatus(StrEnum):
    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED)


@dataclass(frozen=True, slots=True)
class JobPolicy:
    in_server: bool = True  # `admittance serve` runs a worker in its own process
    worker_id: str = ""  # names this process's job leases; empty: host name and process id
    lease_seconds: float = 60.0  # a job whose worker stopped renewing this long is taken over
    max_attempts: int = 3  # a job that lost its worker this often is failed, not retried


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


class RowStatus(StrEnum):
    """What a step did with one row of a job's input; a job counts each."""

    CREATED = "CREATED"
    CREDENTIAL_UPDATED = "CREDENTIAL_UPDATED"
    FAILED = "FAILED"


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


def principal_options(principal: Principal) -> dict[str, object]:
    """The submitter, kept with the job: the worker acts with the rights they had when submitting."""
    return {
        "user_id": principal.user_id,
        "tenant_id": principal.tenant_id,
        "username": principal.username,
        "roles": sorted(principal.roles),
        "permissions": [[grant.context, grant.operation, grant.resource] for grant in sorted(principal.permissions)],
    }


def principal_from(options: dict[str, object]) -> Principal:
    document = dict(options)
    roles = document.pop("roles")
    assert isinstance(roles, list)
    stored = document.pop("permissions", [])
    assert isinstance(stored, list)
    granted = [parse_permission(*grant) for grant in stored]
    return Principal.of(
        int(str(document["user_id"])), str(document["tenant_id"]), str(document["username"]), roles, granted
    )
