"""Identity: tenants, users, roles and authentication."""

from admittance.identity.authentication import Authenticator, AuthPolicy
from admittance.identity.model import (
    PasswordPolicy,
    PresentedCredentials,
    SecurityTokenPolicy,
    Tenant,
    User,
    UserAuthRecord,
    UserKind,
)
from admittance.identity.service import IdentityService

__all__ = [
    "AuthPolicy",
    "Authenticator",
    "IdentityService",
    "PasswordPolicy",
    "PresentedCredentials",
    "SecurityTokenPolicy",
    "Tenant",
    "User",
    "UserAuthRecord",
    "UserKind",
]
