"""Accounts straight through the services (no HTTP): the admin principal, users with the one test
password, two-factor sign-in set up, and a device's poll with the bootstrap identity."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

from admittance.bootstrap import Services
from admittance.devices.model import IssuedCredentials, NotYet
from admittance.identity.directory_model import DirectoryUser, NewUser, UserQuery
from admittance.identity.model import PresentedCredentials
from admittance.kernel import totp
from admittance.kernel.principal import Principal
from tests.support.credentials import ADMIN_PASSWORD, BOOTSTRAP_PASSWORD

PASSWORD = "user-Secret-4711"
_BOOTSTRAP = PresentedCredentials("management", "devicebootstrap", BOOTSTRAP_PASSWORD, "192.0.2.10")


async def admin_of(services: Services) -> Principal:
    return await services.identity.authenticate(PresentedCredentials("t1", "admin", ADMIN_PASSWORD, "test"))


async def make_user(
    services: Services, username: str, roles: tuple[str, ...] = (), *, enforce_mfa: bool = False
) -> DirectoryUser:
    return await services.users.create_user(
        await admin_of(services),
        NewUser(username=username, password=PASSWORD, roles=roles, enforce_mfa_enrollment=enforce_mfa),
    )


async def user_named(services: Services, username: str) -> DirectoryUser | None:
    found = await services.users.list_users(await admin_of(services), UserQuery(usernames=(username,)))
    return found.items[0] if found.items else None


async def enroll_mfa(services: Services, username: str) -> tuple[str, list[str]]:
    """Two-factor sign-in set up through the service: (secret, backup codes)."""
    principal = await services.identity.authenticate(PresentedCredentials("t1", username, PASSWORD, "test"))
    uri = await services.mfa.enable(principal)
    secret = parse_qs(urlsplit(uri).query)["secret"][0]
    codes = await services.mfa.validate(principal, totp.code_at(secret, time.time()), "test")
    return secret, codes


async def poll(services: Services, device_id: str, token: str | None = None) -> IssuedCredentials | NotYet:
    return await services.registrations.poll(_BOOTSTRAP, device_id, token)
