"""The bootstrap listener's front door to the domain: the CONNECT check and the poll (ADR 0013).

The protocol modules beside this one (packets, session, listener, answers) know nothing of the
domain; this one turns their two callbacks into the same calls `POST /devicecontrol/deviceCredentials`
makes:

* `admit` (CONNECT): the user name and password authenticate through the one password check (its
  lockouts per account and per address, its uniform failure and delay), and the user must be a
  bootstrap identity (ROLE_DEVICE_BOOTSTRAP). Anything else is CONNACK 4.
* `poll` (each `s/ucr` of client id X): `RegistrationService.poll` of registration X, the state
  machine of the REST poll — first contact marks it PENDING_ACCEPTANCE, an accepted one hands out
  credentials exactly once (the request is taken atomically with creating the device user), BLOCKED
  and the tenant's security-token policy apply alike. Cumulocity's MQTT bootstrap carries no security
  token (the `s/ucr` is empty), so a tenant whose policy is REQUIRED blocks MQTT bootstraps, exactly as
  it blocks a REST poll without a token. Credentials that stop working mid-session (rotated, disabled,
  locked out) close the connection.

The user name is `tenant/user`, or a bare user name of the default tenant (MQTT has no Host header
to name a tenant by). The rate limits count the client's address without its port.
"""

from __future__ import annotations

import logging
from typing import Protocol

from admittance.devices.model import IssuedCredentials, NotYet
from admittance.identity.model import PresentedCredentials
from admittance.kernel.errors import AdmittanceError, PermissionDenied, RateLimited, Unauthenticated
from admittance.kernel.principal import Principal, Role
from admittance.mqtt.answers import NOT_YET, REFUSED, DeviceCredentials, PollAnswer

log = logging.getLogger("admittance.mqtt")


class Authentication(Protocol):
    """IdentityService's password check."""

    async def authenticate(self, presented: PresentedCredentials) -> Principal: ...


class Polls(Protocol):
    """RegistrationService's device polling path."""

    async def poll(
        self, presented: PresentedCredentials, device_id: str, security_token: str | None = None
    ) -> IssuedCredentials | NotYet: ...


def peer_host(source: str) -> str:
    """`host:port` (or `[v6]:port`, or `v6:port` as asyncio names IPv6 peers) without the port."""
    host, colon, port = source.rpartition(":")
    if not colon or not port.isdigit():
        return source
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


class BootstrapDoor:
    """`BootstrapListener(door.poll, door.admit)`."""

    def __init__(self, identity: Authentication, registrations: Polls, *, default_tenant: str) -> None:
        self._identity = identity
        self._registrations = registrations
        self._default_tenant = default_tenant

    def presented(self, username: str, password: str, source: str) -> PresentedCredentials:
        tenant, slash, name = username.partition("/")
        if not slash:
            tenant, name = self._default_tenant, username
        return PresentedCredentials(tenant, name, password, peer_host(source))

    async def admit(self, *, client_id: str, username: str, password: str, source: str) -> bool:
        presented = self.presented(username, password, source)
        try:
            principal = await self._identity.authenticate(presented)
            principal.require(Role.DEVICE_BOOTSTRAP)
        except (Unauthenticated, RateLimited):
            return False  # logged, counted and delayed by the password check
        except PermissionDenied:
            log.warning(
                "mqtt bootstrap: %s/%s (client id %r) from %s is not a bootstrap user",
                presented.tenant_id,
                presented.username,
                client_id,
                source,
            )
            return False
        return True

    async def poll(self, *, client_id: str, username: str, password: str, source: str) -> PollAnswer:
        presented = self.presented(username, password, source)
        try:
            outcome = await self._registrations.poll(presented, client_id)
        except (Unauthenticated, RateLimited, PermissionDenied):
            return REFUSED
        except AdmittanceError as exc:  # e.g. the device's user name belongs to a person: logged, retried
            log.warning("mqtt bootstrap: the poll of %r from %s was refused: %s", client_id, source, exc.message)
            return NOT_YET
        if isinstance(outcome, NotYet):
            return NOT_YET
        log.info("mqtt bootstrap: credentials of %s/%s sent to %s", outcome.tenant_id, outcome.username, source)
        return DeviceCredentials(outcome.tenant_id, outcome.username, outcome.password)
