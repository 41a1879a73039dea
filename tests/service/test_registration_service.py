"""Registration use cases that cross tenants and limits, on both databases."""

from __future__ import annotations

import pytest

from admittance.bootstrap import Services
from admittance.devices import NewRegistration, RegistrationStatus
from admittance.identity import PresentedCredentials
from admittance.kernel.errors import InvalidInput, InvalidState, NotFound, PermissionDenied
from admittance.kernel.paging import PageRequest
from admittance.kernel.principal import Principal, Role
from tests.support.credentials import ADMIN_PASSWORD, BOOTSTRAP_PASSWORD

BOOT = PresentedCredentials("management", "devicebootstrap", BOOTSTRAP_PASSWORD, "127.0.0.1")


async def admin_of(services: Services, tenant: str) -> Principal:
    if tenant != "t1":
        await services.identity.create_user(
            tenant, "boss", ADMIN_PASSWORD, [r.value for r in Role if r.name.endswith("ADMIN")]
        )
        return await services.identity.authenticate(PresentedCredentials(tenant, "boss", ADMIN_PASSWORD, "x"))
    return await services.identity.authenticate(PresentedCredentials("t1", "admin", ADMIN_PASSWORD, "x"))


async def test_tenants_see_only_their_requests_and_management_sees_all(services: Services) -> None:
    await services.identity.create_tenant("acme")
    t1, acme = await admin_of(services, "t1"), await admin_of(services, "acme")
    await services.registrations.create(t1, NewRegistration(id="t1-dev"))
    await services.registrations.create(acme, NewRegistration(id="acme-dev"))
    assert [r.id for r in (await services.registrations.list_requests(t1, PageRequest(1, 10))).items] == ["t1-dev"]
    with pytest.raises(NotFound):
        await services.registrations.get(acme, "t1-dev")
    with pytest.raises(NotFound):
        await services.registrations.delete(acme, "t1-dev")
    management = await admin_of(services, "management")
    ids = {r.id for r in (await services.registrations.list_requests(management, PageRequest(1, 10))).items}
    assert ids == {"t1-dev", "acme-dev"}


async def test_only_management_registers_for_another_tenant(services: Services) -> None:
    await services.identity.create_tenant("acme")
    t1 = await admin_of(services, "t1")
    with pytest.raises(PermissionDenied):
        await services.registrations.create(t1, NewRegistration(id="x", tenant_id="acme"))
    management = await admin_of(services, "management")
    created = await services.registrations.create(management, NewRegistration(id="x", tenant_id="acme"))
    assert created.tenant_id == "acme"
    with pytest.raises(InvalidInput):
        await services.registrations.create(management, NewRegistration(id="y", tenant_id="nope"))
    # The management bootstrap user serves every tenant: credentials land in the request's tenant.
    with pytest.raises(NotFound):
        await services.registrations.request_credentials(BOOT, "x")
    await services.registrations.accept(management, "x")
    issued = await services.registrations.request_credentials(BOOT, "x")
    assert (issued.tenant_id, issued.username) == ("acme", "device_x")


async def test_device_limit_stops_acceptance(services: Services) -> None:
    await services.identity.create_tenant("small", device_limit=1)
    boss = await admin_of(services, "small")
    for device in ("a", "b"):
        await services.registrations.create(boss, NewRegistration(id=device))
        with pytest.raises(NotFound):
            await services.registrations.request_credentials(BOOT, device)
    await services.registrations.accept(boss, "a")
    await services.registrations.request_credentials(BOOT, "a")
    limit = await services.registrations.limit(boss)
    assert (limit.is_reached, limit.limit, limit.device_count) == (True, 1, 1)
    with pytest.raises(InvalidState, match="limit"):
        await services.registrations.accept(boss, "b")
    assert (await services.registrations.get(boss, "b")).status is RegistrationStatus.PENDING_ACCEPTANCE


async def test_reader_cannot_write_and_device_cannot_read(services: Services) -> None:
    await services.identity.create_user("t1", "reader", ADMIN_PASSWORD, [Role.DEVICE_CONTROL_READ.value])
    reader = await services.identity.authenticate(PresentedCredentials("t1", "reader", ADMIN_PASSWORD, "x"))
    with pytest.raises(PermissionDenied):
        await services.registrations.create(reader, NewRegistration(id="r"))
    await services.registrations.list_requests(reader, PageRequest(1, 5))
    with pytest.raises(PermissionDenied):
        await services.registrations.request_credentials(PresentedCredentials("t1", "reader", ADMIN_PASSWORD, "x"), "r")


async def test_reregistration_resets_the_device_password(services: Services) -> None:
    admin = await admin_of(services, "t1")
    passwords = []
    for _ in range(2):
        await services.registrations.create(admin, NewRegistration(id="lost"))
        with pytest.raises(NotFound):
            await services.registrations.request_credentials(BOOT, "lost")
        await services.registrations.accept(admin, "lost")
        passwords.append((await services.registrations.request_credentials(BOOT, "lost")).password)
    assert passwords[0] != passwords[1]
    await services.identity.authenticate(PresentedCredentials("t1", "device_lost", passwords[1], "x"))
    with pytest.raises(Exception, match="Invalid credentials"):
        await services.identity.authenticate(PresentedCredentials("t1", "device_lost", passwords[0], "y"))
