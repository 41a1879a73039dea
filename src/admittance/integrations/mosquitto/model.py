"""What the dynamic-security plugin knows: clients, roles with ACLs, the default ACL access.

Mosquitto 2.0.11 has no `%u`/`%c` in ACL topics, so per-device topics take one role per device."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from admittance.integrations.mosquitto.passwords import PasswordEntry

AclType = Literal[
    "publishClientSend",
    "publishClientReceive",
    "subscribeLiteral",
    "subscribePattern",
    "unsubscribeLiteral",
    "unsubscribePattern",
]

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = "$CONTROL/dynamic-security/v1/response"


@dataclass(frozen=True, slots=True)
class Acl:
    acltype: AclType
    topic: str
    allow: bool = True
    priority: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"acltype": self.acltype, "topic": self.topic, "allow": self.allow, "priority": self.priority}


@dataclass(frozen=True, slots=True)
class Role:
    rolename: str
    acls: tuple[Acl, ...] = ()
    textname: str | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"rolename": self.rolename, "acls": [acl.as_json() for acl in self.acls]}
        if self.textname is not None:
            body["textname"] = self.textname
        return body


@dataclass(frozen=True, slots=True)
class Client:
    """A dynsec client. `password` None: no password login (certificate clients, or not yet set)."""

    username: str
    password: PasswordEntry | None = None
    roles: tuple[str, ...] = ()
    clientid: str | None = None
    disabled: bool = False
    textname: str | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"username": self.username}
        if self.textname is not None:
            body["textname"] = self.textname
        if self.clientid is not None:
            body["clientid"] = self.clientid
        if self.password is not None:
            body.update(self.password.as_json())
        if self.disabled:
            body["disabled"] = True
        body["roles"] = [{"rolename": name} for name in self.roles]
        return body


@dataclass(frozen=True, slots=True)
class DefaultAccess:
    """What happens when no ACL of a client's roles matches. Mosquitto's defaults, except that a
    client receives only what a role lets it receive (`publishClientReceive` false)."""

    publish_client_send: bool = False
    publish_client_receive: bool = False
    subscribe: bool = False
    unsubscribe: bool = True

    def as_json(self) -> dict[str, bool]:
        return {
            "publishClientSend": self.publish_client_send,
            "publishClientReceive": self.publish_client_receive,
            "subscribe": self.subscribe,
            "unsubscribe": self.unsubscribe,
        }


@dataclass(frozen=True, slots=True)
class DynsecState:
    """The whole content of dynsec.json (groups are not used: one role per device instead)."""

    clients: tuple[Client, ...] = ()
    roles: tuple[Role, ...] = ()
    default_access: DefaultAccess = field(default_factory=DefaultAccess)


def admin_role(rolename: str = "admittance-admin") -> Role:
    """The role of the client Admittance administers the plugin with: the control topics only."""
    control = "$CONTROL/dynamic-security/#"
    return Role(
        rolename,
        (
            Acl("publishClientSend", control),
            Acl("publishClientReceive", control),
            Acl("subscribePattern", control),
            Acl("unsubscribePattern", control),
        ),
    )
