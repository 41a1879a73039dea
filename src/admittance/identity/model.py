"""Tenants, users and the rules for their names and passwords."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from admittance.kernel.access import Permission
from admittance.kernel.errors import InvalidInput
from admittance.kernel.principal import Principal
from admittance.kernel.text import has_control_chars


class SecurityTokenPolicy(StrEnum):
    """How a tenant treats the security token a device may send when it polls for credentials."""

    IGNORED = "IGNORED"
    OPTIONAL = "OPTIONAL"
    REQUIRED = "REQUIRED"


class UserKind(StrEnum):
    HUMAN = "human"
    DEVICE = "device"
    BOOTSTRAP = "bootstrap"


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    security_token_policy: SecurityTokenPolicy
    device_limit: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class User:
    id: int
    tenant_id: str
    username: str
    kind: UserKind
    enabled: bool
    roles: frozenset[str]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class UserAuthRecord:
    """What authentication needs of a user row, read fresh on every request."""

    user_id: int
    tenant_id: str
    username: str
    password_hash: str
    enabled: bool
    roles: frozenset[str]
    stored_permissions: frozenset[Permission] = frozenset()  # of its custom roles (built-in ones are in code)
    mfa_enrolled: bool = False  # a TOTP secret is enrolled: a password alone does not authenticate
    mfa_enforced: bool = False  # enrollment is enforced (enforceMFAEnrollment)

    @property
    def mfa_enrollment_pending(self) -> bool:
        return self.mfa_enforced and not self.mfa_enrolled

    def principal(self) -> Principal:
        return Principal.of(
            self.user_id,
            self.tenant_id,
            self.username,
            self.roles,
            self.stored_permissions,
            mfa_enrollment_pending=self.mfa_enrollment_pending,
        )


@dataclass(frozen=True, slots=True)
class PresentedCredentials:
    """Username and password as a client presented them, with where they came from."""

    tenant_id: str
    username: str
    password: str
    source: str  # client address, for rate limits and logs

    def __repr__(self) -> str:  # the password must never reach a log line
        return f"PresentedCredentials({self.tenant_id}/{self.username} from {self.source})"


_TENANT_ID = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_USERNAME = re.compile(r"^[A-Za-z0-9_.@+\-]{1,254}$")


def validate_tenant_id(tenant_id: str) -> str:
    if not _TENANT_ID.fullmatch(tenant_id):
        raise InvalidInput(
            "tenant id must start with a lower-case letter and contain only lower-case letters, "
            "digits and '-' (at most 63 characters)",
            entity="tenant",
            field="id",
        )
    return tenant_id


def validate_username(username: str) -> str:
    if not _USERNAME.fullmatch(username):
        raise InvalidInput(
            "username must be 1-254 characters of letters, digits and _ . @ + -",
            entity="user",
            field="username",
        )
    return username


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """Rules for passwords people choose. Generated secrets are always far above them."""

    min_length: int = 8
    max_length: int = 128

    def check(self, password: str, username: str) -> None:
        if len(password) < self.min_length:
            raise InvalidInput(
                f"password must have at least {self.min_length} characters", entity="user", field="password"
            )
        if len(password) > self.max_length:
            raise InvalidInput(
                f"password must have at most {self.max_length} characters", entity="user", field="password"
            )
        if password.lower() == username.lower():
            raise InvalidInput("password must differ from the username", entity="user", field="password")
        if has_control_chars(password):
            raise InvalidInput("password must not contain control characters", entity="user", field="password")
