"""Subjects of the broker decisions, admitted through the services as the front doors admit them:
a Cumulocity registration accepted and polled, a certificate issued to a device user, a user with
mqtt permissions."""

from __future__ import annotations

from admittance.bootstrap import Services
from admittance.broker.model import ConnectAttempt, ConnectDecision
from admittance.devices.model import IssuedCredentials
from admittance.devices.registration import NewRegistration
from admittance.identity.directory_model import NewUser
from admittance.identity.model import Door
from admittance.kernel.access import Context, Operation, Permission
from tests.support.accounts import PASSWORD, admin_of, poll


async def accepted_device(services: Services, device_id: str) -> IssuedCredentials:
    """A device admitted the Cumulocity way: registered, polled, accepted, polled again."""
    admin = await admin_of(services)
    await services.registrations.create(admin, NewRegistration(id=device_id))
    await poll(services, device_id)
    await services.registrations.accept(admin, device_id)
    issued = await poll(services, device_id)
    assert isinstance(issued, IssuedCredentials)
    return issued


async def mqtt_user(services: Services, username: str, *grants: tuple[str, str]) -> int:
    """A user of t1 with the test password and a personal role of mqtt `(operation, filter)` grants."""
    admin = await admin_of(services)
    permissions = tuple(Permission(Context.MQTT, Operation(operation), resource) for operation, resource in grants)
    created = await services.users.create_user(
        admin, NewUser(username=username, password=PASSWORD, initial_permissions=permissions)
    )
    return created.id


async def connect(
    services: Services,
    username: str | None,
    password: str | None,
    client_id: str,
    *,
    door: Door = Door.RABBITMQ,
    certificate_cn: str | None = None,
    peer: str = "192.0.2.50",
) -> ConnectDecision:
    attempt = ConnectAttempt(username, password, client_id, peer, certificate_cn=certificate_cn)
    return await services.broker.connect(attempt, door)
