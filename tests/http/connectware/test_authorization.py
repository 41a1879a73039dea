"""Authorization boundaries of the directory endpoints, raw HTTP on SQLite and PostgreSQL: anonymous 401,
no permission 403, the one policy across surfaces (a user made here administers Cumulocity registrations),
privilege escalation, tenants, and devices and the bootstrap identity in the user list."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from admittance.bootstrap import Services
from tests.support.connectware import (
    ANONYMOUS,
    PASSWORD,
    admitted_device,
    all_usernames,
    api,
    assert_error,
    create_role,
    create_user,
    list_users,
    permission,
    person,
)
from tests.support.cumulocity import accept, make_pending, status_of

ENDPOINTS: dict[str, tuple[str, str, Any]] = {
    "create-user": ("POST", "/api/users", {"username": "zed", "password": PASSWORD}),
    "batch": ("POST", "/api/users/batch", [{"username": "zed", "password": PASSWORD}]),
    "list-users": ("GET", "/api/listUsers", None),
    "get-user": ("GET", "/api/users/1", None),
    "put-user": ("PUT", "/api/users/1", {"mqttPublishPrefix": "x/"}),
    "delete-user": ("DELETE", "/api/users/1", None),
    "add-certificate": ("POST", "/api/users/1/certificates", {"fingerprint": "ab" * 20}),
    "remove-certificate": ("DELETE", "/api/users/1/certificates", {"fingerprint": "ab" * 20}),
    "grant-role": ("POST", "/api/users/1/roles", {"roleId": "minimum-access"}),
    "revoke-role": ("DELETE", "/api/users/1/roles", {"roleId": "minimum-access"}),
    "create-role": ("POST", "/api/roles", {"name": "r1"}),
    "list-roles": ("GET", "/api/roles", None),
    "roles-page": ("GET", "/api/roles/page", None),
    "get-role": ("GET", "/api/roles/minimum-access", None),
    "put-role": ("PUT", "/api/roles/minimum-access", {"name": "x"}),
    "delete-role": ("DELETE", "/api/roles/minimum-access", None),
    "role-permissions": ("GET", "/api/roles/minimum-access/permissions", None),
    "add-permission": ("POST", "/api/roles/minimum-access/permissions", permission("/a", "read")),
    "get-permission": ("GET", "/api/roles/minimum-access/permissions/minimum-access:0", None),
    "put-permission": (
        "PUT",
        "/api/roles/minimum-access/permissions/minimum-access:0",
        {"resource": "/a", "operation": "read"},
    ),
    "delete-permission": ("DELETE", "/api/roles/minimum-access/permissions/minimum-access:0", None),
    "permissions-page": ("GET", "/api/permissions/page", None),
    "permission-ids": ("GET", "/api/permissions/ids", None),
}


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS.values(), ids=ENDPOINTS.keys())
async def test_anonymous_and_unpermitted_callers_are_refused(
    client: httpx.AsyncClient, method: str, path: str, body: Any
) -> None:
    await create_user(client, "minimal", roles=["minimum-access"])
    before = await list_users(client)
    for auth in (ANONYMOUS, person("admin", "wrong-Password-1"), {"Authorization": "Basic !!"}):
        response = await api(client, method, path, body, auth=auth)
        assert_error(response, 401, "Invalid credentials")
    assert_error(await api(client, method, path, body, auth=person("minimal")), 403, "Access is denied")
    assert await list_users(client) == before


READ_ONLY = {name: spec for name, spec in ENDPOINTS.items() if spec[0] == "GET"}
WRITES = {name: spec for name, spec in ENDPOINTS.items() if spec[0] != "GET"}


@pytest.mark.parametrize(("method", "path", "body"), WRITES.values(), ids=WRITES.keys())
async def test_user_management_read_may_read_but_not_write(
    client: httpx.AsyncClient, method: str, path: str, body: Any
) -> None:
    await create_user(client, "reader", roles=["ROLE_USER_MANAGEMENT_READ"])
    assert_error(await api(client, method, path, body, auth=person("reader")), 403, "Access is denied")
    for read_method, read_path, _ in READ_ONLY.values():
        response = await api(client, read_method, read_path, auth=person("reader"))
        assert response.status_code == 200, (read_path, response.text)


async def test_a_user_created_here_with_device_control_admin_accepts_registrations(client: httpx.AsyncClient) -> None:
    await create_user(client, "operator", roles=["ROLE_DEVICE_CONTROL_ADMIN"])
    await make_pending(client, "dev-op")
    response = await accept(client, "dev-op", auth=person("operator"))
    assert response.status_code == 200, response.text
    assert await status_of(client, "dev-op") == "ACCEPTED"


async def test_a_custom_role_grants_device_control_and_loses_it_at_once(client: httpx.AsyncClient) -> None:
    role = await create_role(client, "device-admins", [permission("/devicecontrol/#", "readWrite")])
    await create_user(client, "custom.op", roles=[role["id"]])
    await make_pending(client, "dev-c1")
    assert (await accept(client, "dev-c1", auth=person("custom.op"))).status_code == 200
    granted = role["permissions"][0]["id"]
    removed = await api(client, "DELETE", f"/api/roles/{role['id']}/permissions/{granted}")
    assert removed.status_code == 204
    await make_pending(client, "dev-c2")
    refused = await accept(client, "dev-c2", auth=person("custom.op"))
    assert refused.status_code == 403, refused.text
    assert await status_of(client, "dev-c2") == "PENDING_ACCEPTANCE"


async def test_direct_permissions_count_as_well(client: httpx.AsyncClient) -> None:
    user = await create_user(client, "direct.op", permissions=[permission("/devicecontrol/#", "readWrite")])
    await make_pending(client, "dev-d1")
    assert (await accept(client, "dev-d1", auth=person("direct.op"))).status_code == 200
    await api(client, "PUT", f"/api/users/{user['id']}", {"permissions": []})
    await make_pending(client, "dev-d2")
    assert (await accept(client, "dev-d2", auth=person("direct.op"))).status_code == 403


async def test_minimum_access_cannot_list_users_or_grant_roles(client: httpx.AsyncClient) -> None:
    user = await create_user(client, "min.user", roles=["minimum-access"])
    auth = person("min.user")
    assert_error(await api(client, "GET", "/api/listUsers", auth=auth), 403)
    assert_error(
        await api(client, "POST", f"/api/users/{user['id']}/roles", {"roleId": "connectware-admin"}, auth=auth), 403
    )
    held = (await api(client, "GET", f"/api/users/{user['id']}")).json()["roles"]
    assert [role["id"] for role in held] == ["minimum-access"]


async def test_privilege_escalation_is_refused(client: httpx.AsyncClient) -> None:
    manager = await create_user(client, "manager", roles=["ROLE_USER_MANAGEMENT_ADMIN"])
    auth = person("manager")
    denied = "you do not hold every permission"
    body = {"username": "puppet", "password": PASSWORD, "roles": ["connectware-admin"]}
    assert_error(await api(client, "POST", "/api/users", body, auth=auth), 403, denied)
    body = {"username": "puppet", "password": PASSWORD, "initialPermissions": [permission("#", "readWrite", "mqtt")]}
    assert_error(await api(client, "POST", "/api/users", body, auth=auth), 403, denied)
    assert_error(
        await api(client, "POST", "/api/roles", {"name": "all", "permissions": [permission("#")]}, auth=auth),
        403,
        denied,
    )
    path = f"/api/users/{manager['id']}"
    assert_error(await api(client, "POST", f"{path}/roles", {"roleId": "connectware-admin"}, auth=auth), 403, denied)
    assert_error(await api(client, "PUT", path, {"roles": ["connectware-admin"]}, auth=auth), 403, denied)
    assert_error(await api(client, "PUT", path, {"permissions": [permission("/inventory/#")]}, auth=auth), 403, denied)
    # A role it may create (covered), then an attempt to widen it.
    role = await create_role(client, "helpers", [permission("/api/users/#", "read")], auth=auth)
    widen = permission("/devicecontrol/#", "readWrite")
    assert_error(await api(client, "POST", f"/api/roles/{role['id']}/permissions", widen, auth=auth), 403, denied)
    assert_error(await api(client, "PUT", f"/api/roles/{role['id']}", {"permissions": [widen]}, auth=auth), 403, denied)
    # It cannot take over a full administrator (password, deletion), but manages its peers.
    admin = (await list_users(client, usernames="admin"))["users"][0]
    held_more = "holds permissions you do not hold"
    assert_error(
        await api(client, "PUT", f"/api/users/{admin['id']}", {"password": "Taken-Over-123"}, auth=auth), 403, held_more
    )
    assert_error(await api(client, "DELETE", f"/api/users/{admin['id']}", auth=auth), 403, held_more)
    peer = await create_user(client, "peer", roles=["ROLE_USER_MANAGEMENT_READ"], auth=auth)
    assert (
        await api(client, "PUT", f"/api/users/{peer['id']}", {"mqttPublishPrefix": "p/"}, auth=auth)
    ).status_code == 200
    assert (await api(client, "DELETE", f"/api/users/{peer['id']}", auth=auth)).status_code == 204
    roles = {r["id"] for r in (await api(client, "GET", path)).json()["roles"]}
    assert roles == {"ROLE_USER_MANAGEMENT_ADMIN"}


async def test_devices_and_the_bootstrap_identity_are_listed_as_auto_generated(client: httpx.AsyncClient) -> None:
    device = await admitted_device(client, "dev-list-1")
    assert device == "device_dev-list-1"
    names = await all_usernames(client)
    assert {"admin", "devicebootstrap", device} <= set(names)
    users = {u["username"]: u for u in (await list_users(client, rowsPerPage=1000))["users"]}
    assert users["devicebootstrap"]["autoGenerated"] is True
    assert users["devicebootstrap"]["tenant"] == "management"
    assert users[device]["autoGenerated"] is True
    assert [r["id"] for r in users[device]["roles"]] == ["ROLE_DEVICE"]
    humans = await all_usernames(client, excludeAutoGenerated="true")
    assert "admin" in humans
    assert "devicebootstrap" not in humans
    assert device not in humans
    flagged = await create_user(client, "flagged", autoGenerated=True)
    assert flagged["autoGenerated"] is True
    assert "flagged" not in await all_usernames(client, excludeAutoGenerated="true")
    # The bootstrap identity is read-only for a tenant's administrators.
    bootstrap = users["devicebootstrap"]
    assert (await api(client, "GET", f"/api/users/{bootstrap['id']}")).status_code == 200
    assert_error(
        await api(client, "PUT", f"/api/users/{bootstrap['id']}", {"mqttPublishPrefix": "x/"}), 403, "read-only"
    )
    assert_error(await api(client, "DELETE", f"/api/users/{bootstrap['id']}"), 403, "read-only")


async def test_paging_maths(client: httpx.AsyncClient) -> None:
    for n in range(5):
        await create_user(client, f"page{n}")
    names = "page0,page1,page2,page3,page4"
    pages = [await list_users(client, usernames=names, rowsPerPage=2, pageNumber=n) for n in (1, 2, 3, 4)]
    assert [[u["username"] for u in page["users"]] for page in pages] == [
        ["page0", "page1"],
        ["page2", "page3"],
        ["page4"],
        [],
    ]
    assert [page["pagination"] for page in pages] == [
        {"totalPages": 3, "totalRows": 5, "totalRowsInPage": n, "currentPage": c, "nextPage": nxt, "rowsPerPage": 2}
        for n, c, nxt in ((2, 1, 2), (2, 2, 3), (1, 3, None), (0, 4, None))
    ]
    repeated = (
        await api(client, "GET", "/api/listUsers", params=[("usernames", "page0"), ("usernames", "page3,nobody")])
    ).json()
    assert [u["username"] for u in repeated["users"]] == ["page0", "page3"]
    empty = await list_users(client, usernames="nobody")
    assert empty["pagination"] == {
        "totalPages": 0,
        "totalRows": 0,
        "totalRowsInPage": 0,
        "currentPage": 1,
        "nextPage": None,
        "rowsPerPage": 50,
    }
    for bad in ({"pageNumber": 0}, {"pageNumber": "one"}, {"rowsPerPage": 1001}, {"excludeAutoGenerated": "perhaps"}):
        assert_error(await api(client, "GET", "/api/listUsers", params=bad), 400)


async def test_other_tenants_are_invisible(client: httpx.AsyncClient, services: Services) -> None:
    await services.identity.create_tenant("t2")
    await services.identity.create_user("t2", "boss", PASSWORD, ["connectware-admin"])
    mine = await create_user(client, "t1only")
    role = await create_role(client, "t1role", [])
    boss = person("boss", tenant="t2")
    assert_error(await api(client, "GET", f"/api/users/{mine['id']}", auth=boss), 404)
    assert_error(await api(client, "PUT", f"/api/users/{mine['id']}", {"username": "mine2"}, auth=boss), 404)
    assert_error(await api(client, "GET", f"/api/roles/{role['id']}", auth=boss), 404)
    listed = (await api(client, "GET", "/api/listUsers", auth=boss)).json()
    assert sorted(u["username"] for u in listed["users"]) == ["boss", "devicebootstrap"]
    roles = (await api(client, "GET", "/api/roles", auth=boss)).json()
    assert "t1role" not in {r["name"] for r in roles}
    body = {"username": "x.t2", "password": PASSWORD, "roles": [role["id"]]}
    assert_error(await api(client, "POST", "/api/users", body, auth=boss), 422, "no role with id")
    body = {"username": "x.t2", "password": PASSWORD, "tenant": "t1"}
    assert_error(await api(client, "POST", "/api/users", body, auth=boss), 403, "own tenant")
    # The same name in another tenant is another user.
    created = await create_user(client, "t1only", auth=boss)
    assert created["tenant"] == "t2"
