"""Exactly once: however many polls race after acceptance, one gets credentials. Several service
instances on one database stand for several server processes (separate connections and pools)."""

from __future__ import annotations

import asyncio

from admittance.bootstrap import Services
from admittance.devices import NewRegistration
from admittance.identity import PresentedCredentials
from admittance.kernel.errors import NotFound
from admittance.settings import Settings
from tests.support.credentials import BOOTSTRAP_PASSWORD
from tests.support.services import build

PROCESSES = 3
POLLS_PER_PROCESS = 20


def bootstrap(source: str) -> PresentedCredentials:
    return PresentedCredentials("management", "devicebootstrap", BOOTSTRAP_PASSWORD, source)


async def poll(services: Services, device_id: str, n: int) -> str:
    try:
        issued = await services.registrations.request_credentials(bootstrap(f"10.0.0.{n % 200}"), device_id)
    except NotFound:
        return "not-found"
    return issued.password


async def test_simultaneous_polls_after_acceptance_issue_credentials_once(
    services: Services, settings: Settings
) -> None:
    admin = await services.identity.authenticate(
        PresentedCredentials("t1", "admin", settings.admin_password, "127.0.0.1")
    )
    await services.registrations.create(admin, NewRegistration(id="race-1"))
    await poll(services, "race-1", 0)  # first contact: PENDING_ACCEPTANCE
    await services.registrations.accept(admin, "race-1")

    others = [await build(settings) for _ in range(PROCESSES - 1)]
    try:
        instances = [services, *others]
        # Warm each instance's verified-credential cache so the race is about the database, not argon2.
        await asyncio.gather(*(poll(s, "no-such-device", 0) for s in instances))
        results = await asyncio.gather(
            *(poll(instance, "race-1", n) for n in range(POLLS_PER_PROCESS) for instance in instances)
        )
    finally:
        for other in others:
            await other.close()

    passwords = [r for r in results if r != "not-found"]
    assert len(passwords) == 1, f"{len(passwords)} polls received credentials"
    assert results.count("not-found") == PROCESSES * POLLS_PER_PROCESS - 1
    device = await services.storage.auth_record("t1", "device_race-1")
    assert device is not None
    assert await services.identity.authenticate(PresentedCredentials("t1", "device_race-1", passwords[0], "127.0.0.1"))


async def test_two_devices_racing_for_one_id_cannot_both_register(services: Services, settings: Settings) -> None:
    admin = await services.identity.authenticate(
        PresentedCredentials("t1", "admin", settings.admin_password, "127.0.0.1")
    )
    other = await build(settings)
    try:
        outcomes = await asyncio.gather(
            services.registrations.create(admin, NewRegistration(id="twin")),
            other.registrations.create(admin, NewRegistration(id="twin")),
            return_exceptions=True,
        )
    finally:
        await other.close()
    assert sum(1 for o in outcomes if not isinstance(o, Exception)) == 1
