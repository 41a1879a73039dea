"""Dynamic-security files for the Mosquitto tests: the admin client Admittance administers the
plugin with, plus whatever clients and roles a test needs."""

from __future__ import annotations

from admittance.integrations.mosquitto.model import Acl, Client, DynsecState, Role, admin_role
from admittance.integrations.mosquitto.passwords import hash_password

ADMIN_USERNAME = "admittance-admin"
ADMIN_PASSWORD = "dynsec-Admin-Secret-1"


def admin_client() -> Client:
    return Client(ADMIN_USERNAME, hash_password(ADMIN_PASSWORD), roles=("admittance-admin",))


def state_with(clients: tuple[Client, ...] = (), roles: tuple[Role, ...] = ()) -> DynsecState:
    return DynsecState(clients=(admin_client(), *clients), roles=(admin_role(), *roles))


def device_role(device: str) -> Role:
    """One role per device (2.0.11 has no %u/%c): publish under devices/<id>/, receive its commands."""
    own = f"devices/{device}/#"
    commands = f"devices/{device}/cmd/#"
    return Role(
        f"device-{device}",
        (
            Acl("publishClientSend", own),
            Acl("subscribePattern", commands),
            Acl("publishClientReceive", commands),
        ),
    )
