"""/api/permissions/page and /api/permissions/ids, raw HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx

from tests.support.connectware import PAGINATION_KEYS, api, assert_error, create_role, create_user, permission


async def test_permission_page_shows_usage_per_role_and_user(client: httpx.AsyncClient) -> None:
    role = await create_role(
        client, "inv", [permission("/inventory/#", "read"), permission("plant/#", "write", "mqtt")]
    )
    user = await create_user(client, "direct", permissions=[permission("/inventory/#", "readWrite")])
    response = await api(client, "GET", "/api/permissions/page", params={"rowsPerPage": 1000, "pageNumber": 1})
    assert response.status_code == 200, response.text
    document = response.json()
    assert set(document) == {"permissions", "pagination"}
    assert set(document["pagination"]) == PAGINATION_KEYS
    groups = {(g["resource"], g["context"]): g for g in document["permissions"]}
    assert all(set(g) == {"resource", "context", "usage"} for g in groups.values())
    usage = groups[("/inventory/#", "http")]["usage"]
    assert all(set(use) == {"roleName", "roleId", "isRoleShared", "username", "userId", "operation"} for use in usage)
    by_role = {use["roleId"]: use for use in usage}
    assert by_role[role["id"]] == {
        "roleName": "inv",
        "roleId": role["id"],
        "isRoleShared": True,
        "username": None,
        "userId": None,
        "operation": "read",
    }
    assert by_role[f"user-{user['id']}"] == {
        "roleName": "user:direct",
        "roleId": f"user-{user['id']}",
        "isRoleShared": False,
        "username": "direct",
        "userId": user["id"],
        "operation": "readWrite",
    }
    assert by_role["ROLE_INVENTORY_ADMIN"]["operation"] == "readWrite"
    assert groups[("plant/#", "mqtt")]["usage"][0]["roleId"] == role["id"]


async def test_permission_page_filters_by_id_and_pages(client: httpx.AsyncClient) -> None:
    role = await create_role(client, "filter", [permission("/a/#", "read"), permission("/b/#", "read")])
    wanted = role["permissions"][0]
    only = (await api(client, "GET", "/api/permissions/page", params={"ids": wanted["id"]})).json()
    assert [(g["resource"], [u["roleId"] for u in g["usage"]]) for g in only["permissions"]] == [
        (wanted["resource"], [role["id"]])
    ]
    both = (
        await api(
            client,
            "GET",
            "/api/permissions/page",
            params=[("ids", role["permissions"][0]["id"]), ("ids", role["permissions"][1]["id"]), ("rowsPerPage", 1)],
        )
    ).json()
    assert both["pagination"] == {
        "totalPages": 2,
        "totalRows": 2,
        "totalRowsInPage": 1,
        "currentPage": 1,
        "nextPage": 2,
        "rowsPerPage": 1,
    }
    assert_error(await api(client, "GET", "/api/permissions/page", params={"pageNumber": 0}), 400, "pageNumber")


async def test_permission_ids(client: httpx.AsyncClient) -> None:
    one = await create_role(client, "ids-a", [permission("/inventory/#", "read")])
    two = await create_role(client, "ids-b", [permission("/inventory/#", "read")])
    response = await api(client, "GET", "/api/permissions/ids")
    assert response.status_code == 200, response.text
    entries = response.json()
    assert all(set(entry) == {"resource", "operation", "context", "ids"} for entry in entries)
    found = {(e["resource"], e["operation"], e["context"]): e["ids"] for e in entries}
    ids = found[("/inventory/#", "read", "http")]
    assert {one["permissions"][0]["id"], two["permissions"][0]["id"], "ROLE_INVENTORY_READ:0"} <= set(ids)
    assert found[("#", "readWrite", "mqtt")] == ["connectware-admin:1"]
