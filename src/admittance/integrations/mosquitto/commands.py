"""The dynamic-security commands Admittance sends, as the JSON objects the plugin takes.

Which of them kick live sessions (2.0.11 source): deleteClient, disableClient, setClientPassword,
setClientId, modifyClient and add/removeClientRole kick that user's sessions; addRoleACL,
removeRoleACL, modifyRole and deleteRole kick every member of the role. createClient does not.
Every mutating command rewrites the whole file (no batching gain inside one message)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from admittance.integrations.mosquitto.model import Acl, DefaultAccess, Role

Command = dict[str, Any]


def create_client(
    username: str, password: str | None, roles: Iterable[str] = (), clientid: str | None = None
) -> Command:
    """2.0.11 takes the password in clear here and hashes it itself (no pre-hashed form)."""
    command: Command = {"command": "createClient", "username": username}
    if password is not None:
        command["password"] = password
    if clientid is not None:
        command["clientid"] = clientid
    command["roles"] = [{"rolename": name} for name in roles]
    return command


def set_client_password(username: str, password: str) -> Command:
    return {"command": "setClientPassword", "username": username, "password": password}


def disable_client(username: str) -> Command:
    return {"command": "disableClient", "username": username}


def enable_client(username: str) -> Command:
    return {"command": "enableClient", "username": username}


def delete_client(username: str) -> Command:
    return {"command": "deleteClient", "username": username}


def get_client(username: str) -> Command:
    return {"command": "getClient", "username": username}


def list_clients(*, verbose: bool = False, count: int = -1, offset: int = 0) -> Command:
    return {"command": "listClients", "verbose": verbose, "count": count, "offset": offset}


def add_client_role(username: str, rolename: str) -> Command:
    """Also what puts a runtime-created client on the role's member list (createClient does not)."""
    return {"command": "addClientRole", "username": username, "rolename": rolename}


def create_role(role: Role) -> Command:
    return {"command": "createRole", **role.as_json()}


def modify_role(role: Role) -> Command:
    """Replaces the ACL list atomically; kicks every member of the role."""
    return {"command": "modifyRole", **role.as_json()}


def delete_role(rolename: str) -> Command:
    return {"command": "deleteRole", "rolename": rolename}


def add_role_acl(rolename: str, acl: Acl) -> Command:
    return {"command": "addRoleACL", "rolename": rolename, **acl.as_json()}


def remove_role_acl(rolename: str, acl: Acl) -> Command:
    return {"command": "removeRoleACL", "rolename": rolename, "acltype": acl.acltype, "topic": acl.topic}


def set_default_acl_access(access: DefaultAccess) -> Command:
    return {
        "command": "setDefaultACLAccess",
        "acls": [{"acltype": name, "allow": allow} for name, allow in access.as_json().items()],
    }
