"""Registration requests and their lifecycle, as pure rules.

operator creates ─► WAITING_FOR_CONNECTION
device polls     ─► PENDING_ACCEPTANCE        (answered "not yet")
operator accepts ─► ACCEPTED                  (only from PENDING_ACCEPTANCE)
device polls     ─► credentials issued once; the request is gone
token mismatches ─► BLOCKED                   (delete and create again)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from admittance.identity.model import SecurityTokenPolicy
from admittance.kernel.errors import InvalidInput, InvalidState
from admittance.kernel.text import has_control_chars

MAX_DEVICE_ID_CHARS = 1000
# Index entries in PostgreSQL are limited to ~2.7 kB; 1000 four-byte characters would not fit.
MAX_DEVICE_ID_BYTES = 2000
DEVICE_USERNAME_PREFIX = "device_"


class RegistrationStatus(StrEnum):
    WAITING_FOR_CONNECTION = "WAITING_FOR_CONNECTION"
    PENDING_ACCEPTANCE = "PENDING_ACCEPTANCE"
    ACCEPTED = "ACCEPTED"
    BLOCKED = "BLOCKED"


@dataclass(frozen=True, slots=True)
class RegistrationPolicy:
    max_token_failures: int = 3  # wrong security tokens before a request is BLOCKED


@dataclass(frozen=True, slots=True)
class RegistrationRequest:
    id: str
    tenant_id: str
    status: RegistrationStatus
    owner: str
    created_at: datetime
    updated_at: datetime
    group_id: str | None = None
    type: str | None = None
    custom_properties: dict[str, Any] = field(default_factory=dict)
    security_token_digest: str | None = None
    enrollment_token_digest: str | None = None
    token_failures: int = 0


@dataclass(frozen=True, slots=True)
class RequestState:
    """The part of a request a device poll decides on: read on every poll, so nothing more."""

    id: str
    tenant_id: str
    status: RegistrationStatus
    security_token_digest: str | None = None
    token_failures: int = 0


class PollSubject(Protocol):
    """A full request or its poll-time state: both carry what decide_poll needs."""

    @property
    def id(self) -> str: ...

    @property
    def status(self) -> RegistrationStatus: ...

    @property
    def security_token_digest(self) -> str | None: ...

    @property
    def token_failures(self) -> int: ...


@dataclass(frozen=True, slots=True)
class NotYet:
    """A poll's normal answer until the request is accepted: no credentials (yet), and why."""

    message: str


@dataclass(frozen=True, slots=True)
class IssuedCredentials:
    device_id: str
    tenant_id: str
    username: str
    password: str

    def __repr__(self) -> str:
        return f"IssuedCredentials({self.tenant_id}/{self.username})"


def device_username(device_id: str) -> str:
    return DEVICE_USERNAME_PREFIX + device_id


def validate_device_id(device_id: str) -> str:
    """The external id of a device: it is also a URL path segment and part of a Basic-auth user name."""
    if not device_id or not device_id.strip():
        raise InvalidInput("id must not be empty", entity="registration_request", field="id")
    if len(device_id) > MAX_DEVICE_ID_CHARS:
        raise InvalidInput(
            f"id must have at most {MAX_DEVICE_ID_CHARS} characters", entity="registration_request", field="id"
        )
    if len(device_id.encode()) > MAX_DEVICE_ID_BYTES:
        raise InvalidInput(
            f"id must have at most {MAX_DEVICE_ID_BYTES} bytes in UTF-8", entity="registration_request", field="id"
        )
    if has_control_chars(device_id, c1=True):
        raise InvalidInput("id must not contain control characters", entity="registration_request", field="id")
    return device_id


def validate_enrollable_id(device_id: str) -> str:
    """An id that enrolls over EST: `simpleenroll` authenticates with HTTP Basic `<id>:<one-time
    password>`, and Basic splits the user from the password at the first ':', so the id cannot
    hold one. (Ids with ':', such as MAC addresses, are fine everywhere else: MQTT carries the user
    name apart from the password, docs/compat/cumulocity.md.)"""
    validate_device_id(device_id)
    if ":" in device_id:
        raise InvalidInput(
            "an id that enrolls a certificate over EST must not contain ':': EST's HTTP Basic "
            "authentication (<id>:<one-time password>) cannot carry it",
            entity="registration_request",
            field="id",
        )
    return device_id


class PollAction(StrEnum):
    WAIT = "wait"  # answer "not yet", change nothing
    MARK_PENDING = "mark-pending"  # first contact: WAITING -> PENDING
    RECORD_TOKEN = "record-token"  # remember the token the device sent  # noqa: S105 - an action name, not a secret
    BLOCK = "block"
    TOKEN_MISMATCH = "token-mismatch"  # noqa: S105 - an action name, not a secret
    ISSUE = "issue"  # hand out credentials, exactly once


@dataclass(frozen=True, slots=True)
class PollDecision:
    action: PollAction
    record_token: bool = False
    block: bool = False


def decide_poll(
    request: PollSubject,
    *,
    token_sent: bool,
    token_matches: bool | None,
    policy: SecurityTokenPolicy,
    max_token_failures: int,
) -> PollDecision:
    """What a device poll does to its request. `token_matches` is None when nothing is stored."""
    tokens_count = policy is not SecurityTokenPolicy.IGNORED
    stored = request.security_token_digest is not None
    if request.status is RegistrationStatus.BLOCKED:
        return PollDecision(PollAction.WAIT)
    if request.status in (RegistrationStatus.WAITING_FOR_CONNECTION, RegistrationStatus.PENDING_ACCEPTANCE):
        if policy is SecurityTokenPolicy.REQUIRED and not token_sent and not stored:
            return PollDecision(PollAction.BLOCK, block=True)
        record = tokens_count and token_sent and not stored
        if request.status is RegistrationStatus.WAITING_FOR_CONNECTION:
            return PollDecision(PollAction.MARK_PENDING, record_token=record)
        return PollDecision(PollAction.RECORD_TOKEN if record else PollAction.WAIT, record_token=record)
    # ACCEPTED: a request that carries a token only hands credentials to a poll with that token.
    if tokens_count and stored and not token_matches:
        return PollDecision(PollAction.TOKEN_MISMATCH, block=request.token_failures + 1 >= max_token_failures)
    return PollDecision(PollAction.ISSUE)


@dataclass(frozen=True, slots=True)
class AcceptDecision:
    accept: bool
    token_mismatch: bool = False
    block: bool = False


def decide_accept(
    request: RegistrationRequest,
    *,
    token_matches: bool | None,
    policy: SecurityTokenPolicy,
    max_token_failures: int,
) -> AcceptDecision:
    """An operator accepts. `token_matches`: None when the device sent no token, else the comparison."""
    if request.status is RegistrationStatus.WAITING_FOR_CONNECTION:
        raise InvalidState(
            f"The device {request.id} has not connected yet: a request can be accepted only after the "
            "device has asked for its credentials once (status PENDING_ACCEPTANCE).",
            entity="registration_request",
        )
    if request.status is RegistrationStatus.BLOCKED:
        raise InvalidState(
            f"The request for device {request.id} is blocked; delete it and create it again.",
            entity="registration_request",
        )
    if request.status is RegistrationStatus.ACCEPTED:
        return AcceptDecision(accept=False)  # accepting twice changes nothing
    if policy is not SecurityTokenPolicy.IGNORED and token_matches is False:
        return AcceptDecision(accept=False, token_mismatch=True, block=request.token_failures + 1 >= max_token_failures)
    return AcceptDecision(accept=True)


def not_available_message(request: PollSubject | None, device_id: str) -> str:
    if request is None:
        return f"There is no registration request for device id {device_id}."
    return (
        f"Credentials for device id {device_id} are not available. Device is in state {request.status.value}, "
        "(not ACCEPTED))."
    )
