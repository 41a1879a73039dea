"""What broker decisions need: the subject reads (storage implements them, fresh on every call), the
one password check with its limits, the API token check of identity, and where contacts are recorded."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn, Protocol

from admittance.broker.model import MqttLogin, MqttUser
from admittance.identity.model import Door, PresentedCredentials, UserAuthRecord
from admittance.kernel.principal import Principal


class BrokerDirectory(Protocol):
    """The reads broker decisions need (storage implements it). Every read is fresh, so a disabled
    user, a changed role, a revoked certificate or a deleted device bites on the next decision."""

    async def mqtt_user(self, tenant_id: str, username: str) -> MqttUser | None: ...

    async def login(self, tenant_id: str, username: str) -> MqttLogin | None:
        """The subject and its stored password hash, in one read (for CONNECT with a password)."""
        ...

    async def certificate_subjects(self, common_name: str, tenant_id: str | None = None) -> list[MqttUser]:
        """Who a certificate with this common name authenticates when the broker verified the chain
        and reports only the name: the owners of an unexpired, unrevoked certificate issued to
        `common_name` (a user of that name, the device user `device_<name>`, or the nRF claimed device
        of that id), in `tenant_id` if given. At most 2 (more than one is ambiguous: refused)."""
        ...

    async def certificate_owners(self, fingerprints: Sequence[str]) -> list[MqttUser]:
        """The subjects a client certificate (SHA-256 and SHA-1 fingerprints of its DER) authenticates:
        the owner of the unexpired, unrevoked certificate we issued with that fingerprint, else the
        users for whom it is registered, unexpired. At most 2."""
        ...

    async def holds_certificate(self, user: MqttUser) -> bool:
        """The subject holds any valid certificate: one issued to it (unexpired, unrevoked) or one
        registered for it (unexpired)."""
        ...

    async def has_certificate(self, user: MqttUser, fingerprints: Sequence[str]) -> bool:
        """The certificate is one issued to the subject (unexpired, unrevoked) or registered for it (unexpired)."""
        ...


class PasswordChecker(Protocol):
    """The Authenticator: the one password check, with its limits and its uniform failure."""

    async def verify(self, presented: PresentedCredentials, record: UserAuthRecord | None) -> Principal: ...

    async def reject_malformed(self, source: str, reason: str) -> NoReturn: ...

    def check_account(self, tenant_id: str, username: str, source: str) -> None:
        """Raise RateLimited when the account name or the address is locked."""
        ...


class TokenResolver(Protocol):
    """The API token check (SessionService): the principal, or Unauthenticated / RateLimited."""

    async def principal_for_token(self, token: str, source: str) -> Principal: ...


class ContactRecorder(Protocol):
    """identity's LastSeenRecorder: remember a successful authentication (no I/O)."""

    def seen(self, tenant_id: str, subject: str, door: Door, address: str | None = None) -> None: ...
