"""Group membership (childAssets) and the external ids of a managed object over raw HTTP, on SQLite and
PostgreSQL: assignment, paging, cycles, removal; listing and deleting external ids, and who may."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from admittance.bootstrap import Services
from tests.support.cumulocity import (
    ADMIN,
    BASE,
    MO,
    VENDOR,
    assert_error,
    call,
    create,
    device_user,
    listed,
    person,
    query_of,
)


async def assign(client: httpx.AsyncClient, parent: dict[str, Any], child_id: Any, **kw: Any) -> httpx.Response:
    return await call(client, "POST", f"{MO}/{parent['id']}/childAssets", {"managedObject": {"id": child_id}}, **kw)


async def child_ids(client: httpx.AsyncClient, parent: dict[str, Any]) -> list[str]:
    response = await call(client, "GET", f"{MO}/{parent['id']}/childAssets?pageSize=100")
    assert response.status_code == 200, response.text
    return [reference["managedObject"]["id"] for reference in response.json()["references"]]


async def group(client: httpx.AsyncClient, name: str, root: bool = True) -> dict[str, Any]:
    mo_type = "c8y_DeviceGroup" if root else "c8y_DeviceSubgroup"
    return await create(client, {"name": name, "type": mo_type, "c8y_IsDeviceGroup": {}})


async def test_assigning_child_assets_and_paging_through_them(client: httpx.AsyncClient) -> None:
    hall = await group(client, "hall")
    devices = [await create(client, {"name": f"d{n}", "c8y_IsDevice": {}}) for n in range(3)]
    first = await assign(client, hall, devices[0]["id"])
    link = f"{BASE}{MO}/{hall['id']}/childAssets/{devices[0]['id']}"
    assert (first.status_code, first.headers["content-type"]) == (201, VENDOR.format("managedobjectreference"))
    assert first.headers["location"] == link
    assert first.json() == {
        "managedObject": {"id": devices[0]["id"], "name": "d0", "self": devices[0]["self"]},
        "self": link,
    }
    quiet = await assign(client, hall, int(devices[1]["id"]), accept=None)  # a number is taken too
    assert (quiet.status_code, quiet.content) == (201, b"")
    assert (await assign(client, hall, devices[2]["id"])).status_code == 201
    assert (await assign(client, hall, devices[2]["id"])).status_code == 201  # again: nothing changes
    page = await call(client, "GET", f"{MO}/{hall['id']}/childAssets?pageSize=2&withTotalElements=true")
    content_type = VENDOR.format("managedobjectreferencecollection")
    assert (page.status_code, page.headers["content-type"]) == (200, content_type)
    body = page.json()
    assert sorted(body) == ["next", "references", "self", "statistics"]
    assert [ref["managedObject"]["name"] for ref in body["references"]] == ["d0", "d1"]
    assert body["statistics"] == {"currentPage": 1, "pageSize": 2, "totalElements": 3}
    assert body["next"].startswith(f"{BASE}{MO}/{hall['id']}/childAssets?")
    assert query_of(body["next"])["currentPage"] == ["2"]
    second = (await call(client, "GET", body["next"].removeprefix(BASE))).json()
    assert ([ref["managedObject"]["name"] for ref in second["references"]], "next" in second) == (["d2"], False)
    assert await child_ids(client, devices[0]) == []


async def test_unassigning_leaves_the_child_and_is_404_the_second_time(client: httpx.AsyncClient) -> None:
    hall, device = await group(client, "hall"), await create(client, {"name": "d"})
    assert (await assign(client, hall, device["id"])).status_code == 201
    removed = await call(client, "DELETE", f"{MO}/{hall['id']}/childAssets/{device['id']}")
    assert (removed.status_code, removed.content) == (204, b"")
    assert await child_ids(client, hall) == []
    assert await listed(client) == ["hall", "d"]
    again = assert_error(await call(client, "DELETE", f"{MO}/{hall['id']}/childAssets/{device['id']}"), 404)
    assert again["error"] == "inventory/Not Found"
    assert_error(await call(client, "DELETE", f"{MO}/{hall['id']}/childAssets/x"), 404)
    assert_error(await call(client, "DELETE", f"{MO}/99999/childAssets/{device['id']}"), 404)


async def test_a_group_cannot_become_its_own_descendant(client: httpx.AsyncClient) -> None:
    root, sub, leaf = await group(client, "root"), await group(client, "sub", False), await group(client, "leaf", False)
    assert (await assign(client, root, sub["id"])).status_code == 201
    assert (await assign(client, sub, leaf["id"])).status_code == 201
    for parent, child in ((root, root), (sub, root), (leaf, root), (leaf, sub)):
        refused = assert_error(await assign(client, parent, child["id"]), 422, "own descendant")
        assert refused["error"] == "undefined/validationError"
    assert (await assign(client, root, leaf["id"])).status_code == 201  # a second path down is no cycle
    assert await child_ids(client, root) == [sub["id"], leaf["id"]]
    assert await child_ids(client, leaf) == []


async def test_concurrent_opposite_assignments_never_close_a_cycle(client: httpx.AsyncClient) -> None:
    first, second = await group(client, "a"), await group(client, "b")
    answers = await asyncio.gather(*(assign(client, x, y["id"]) for x, y in [(first, second), (second, first)] * 3))
    assert sorted({answer.status_code for answer in answers}) == [201, 422]
    assert len(await child_ids(client, first)) + len(await child_ids(client, second)) == 1


async def test_assignment_needs_an_admin_a_known_child_and_a_reference(
    client: httpx.AsyncClient, services: Services
) -> None:
    hall, device = await group(client, "hall"), await create(client, {"name": "d"})
    missing = assert_error(await assign(client, hall, "99999"), 404, "99999")
    assert missing["error"] == "inventory/Not Found"
    bodies: list[dict[str, Any]] = [{}, {"managedObject": "1"}, {"managedObject": {"id": True}}, {"managedObject": {}}]
    for body in bodies:
        assert_error(await call(client, "POST", f"{MO}/{hall['id']}/childAssets", body), 422, "managedObject")
    reader = await person(services, "reader", ["ROLE_INVENTORY_READ"])
    owner = await device_user(services, "d1")
    owned = await create(client, {"name": "owned"}, auth=owner)
    for auth in (reader, owner):
        assert_error(await assign(client, hall, device["id"], auth=auth), 403)
        assert_error(await assign(client, owned, device["id"], auth=auth), 403)
        assert_error(await call(client, "DELETE", f"{MO}/{hall['id']}/childAssets/{device['id']}", auth=auth), 403)
    assert await child_ids(client, hall) == []
    listing = await call(client, "GET", f"{MO}/{hall['id']}/childAssets", auth=reader)
    assert listing.status_code == 200
    assert_error(await call(client, "GET", f"{MO}/{hall['id']}/childAssets", auth=owner), 404)  # not its own


async def test_the_external_ids_of_a_managed_object(client: httpx.AsyncClient, services: Services) -> None:
    device = await create(client, {"name": "d"})
    path = f"/identity/globalIds/{device['id']}/externalIds"
    for id_type, value in (("c8y_Serial", "SN 1"), ("c8y_IMEI", "3567")):
        assert (await call(client, "POST", path, {"type": id_type, "externalId": value})).status_code == 201
    response = await call(client, "GET", path)
    assert (response.status_code, response.headers["content-type"]) == (200, VENDOR.format("externalidcollection"))
    found = response.json()
    assert found["self"] == f"{BASE}{path}"
    assert [(e["type"], e["externalId"]) for e in found["externalIds"]] == [
        ("c8y_IMEI", "3567"),
        ("c8y_Serial", "SN 1"),
    ]
    single = await call(client, "GET", "/identity/externalIds/c8y_Serial/SN%201")
    assert found["externalIds"][1] == single.json()
    empty = await create(client, {"name": "empty"})
    assert (await call(client, "GET", f"/identity/globalIds/{empty['id']}/externalIds")).json()["externalIds"] == []
    for unknown in ("99999", "x"):
        body = assert_error(await call(client, "GET", f"/identity/globalIds/{unknown}/externalIds"), 404, unknown)
        assert body["error"] == "inventory/Not Found"
    reader = await person(services, "reader", ["ROLE_IDENTITY_READ"])
    assert len((await call(client, "GET", path, auth=reader)).json()["externalIds"]) == 2
    assert_error(await call(client, "GET", path, auth=await device_user(services, "d1")), 404)  # not its own


async def test_deleting_external_ids(client: httpx.AsyncClient, services: Services) -> None:
    device = await device_user(services, "d1")
    own = await create(client, {"name": "own"}, auth=device)
    foreign = await create(client, {"name": "foreign"})
    for mo, value in ((own, "own-1"), (own, "own-2"), (foreign, "foreign-1")):
        external = {"type": "c8y_Serial", "externalId": value}
        assert (await call(client, "POST", f"/identity/globalIds/{mo['id']}/externalIds", external)).status_code == 201
    deleted = await call(client, "DELETE", "/identity/externalIds/c8y_Serial/own-1", auth=device)
    assert (deleted.status_code, deleted.content) == (204, b"")
    denied = assert_error(await call(client, "DELETE", "/identity/externalIds/c8y_Serial/foreign-1", auth=device), 403)
    assert denied["error"] == "security/Forbidden"
    reader = await person(services, "reader", ["ROLE_IDENTITY_READ"])
    assert_error(await call(client, "DELETE", "/identity/externalIds/c8y_Serial/own-2", auth=reader), 403)
    assert (await call(client, "DELETE", "/identity/externalIds/c8y_Serial/own-2", auth=ADMIN)).status_code == 204
    missing = assert_error(await call(client, "DELETE", "/identity/externalIds/c8y_Serial/own-2"), 404)
    assert (missing["error"], missing["message"]) == (
        "identity/Not Found",
        "External id not found; external id = ID [type=c8y_Serial, value=own-2]",
    )
    remaining = await call(client, "GET", f"/identity/globalIds/{foreign['id']}/externalIds")
    assert [e["externalId"] for e in remaining.json()["externalIds"]] == ["foreign-1"]
    assert (await call(client, "GET", f"/identity/globalIds/{own['id']}/externalIds")).json()["externalIds"] == []
    async with services.storage.read() as tx:
        events = await tx.audit.list_for_subject("t1", "c8y_Serial/own-1")
    assert [(e.tag.value, e.actor) for e in events] == [
        ("inventory:external-id:create", "admin"),
        ("inventory:external-id:delete", "device_d1"),
    ]
