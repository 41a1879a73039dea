"""What broker decisions need: the user and certificate reads (storage implements them, fresh on every
call), the one password check and the API token check of identity."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from admittance.broker.model import MqttUser
from admittance.identity.model import PresentedCredentials
from admittance.kernel.principal import Principal


class BrokerDirectory(Protocol):
    """The reads broker decisions need (storage implements it)."""

    async def mqtt_user(self, tenant_id: str, username: str) -> MqttUser | None: ...

    async def has_certificate(self, user_id: int, fingerprints: Sequence[str]) -> bool:
        """One of the fingerprints (lower-case hex digests of the DER) is registered for the user, unexpired."""
        ...

    async def certificate_holders(self, fingerprints: Sequence[str]) -> list[tuple[str, str]]:
        """(tenant, username) of the users for whom one of the fingerprints is registered, unexpired (at most 2)."""
        ...


class PasswordChecker(Protocol):
    """IdentityService: the one password check, with its limits and its uniform failure."""

    async def authenticate(self, presented: PresentedCredentials) -> Principal: ...

    async def reject_malformed(self, source: str, reason: str) -> None: ...


class TokenResolver(Protocol):
    """The API token check (SessionService): the principal, or Unauthenticated / RateLimited."""

    async def principal_for_token(self, token: str, source: str) -> Principal: ...
