"""The inventory of the Cumulocity surface over raw HTTP: the managed object collection (paging, filters), get,
PUT, DELETE (cascade, withDeviceUser), who may do what, and tenant isolation. Runs on SQLite and PostgreSQL.
Group membership and external ids: test_cumulocity_inventory_groups.py."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

from admittance.bootstrap import Services
from admittance.kernel.principal import ADMIN_ROLES
from tests.support.credentials import ADMIN_PASSWORD
from tests.support.cumulocity import (
    ADMIN,
    BASE,
    BOOTSTRAP,
    MO,
    VENDOR,
    assert_error,
    basic,
    call,
    create,
    device_user,
    listed,
    person,
    query_of,
)


async def get(client: httpx.AsyncClient, mo_id: str, auth: dict[str, str] = ADMIN) -> dict[str, Any]:
    response = await call(client, "GET", f"{MO}/{mo_id}", auth=auth)
    assert (response.status_code, response.headers["content-type"]) == (200, VENDOR.format("managedobject"))
    found: dict[str, Any] = response.json()
    return found


async def test_the_collection_pages_like_every_cumulocity_collection(client: httpx.AsyncClient) -> None:
    ids = [(await create(client, {"name": f"mo-{n}", "type": "t"}))["id"] for n in range(7)]
    default = await call(client, "GET", f"{MO}?foo=bar", accept=None)  # unknown parameters are ignored
    assert (default.status_code, default.headers["content-type"]) == (200, VENDOR.format("managedobjectcollection"))
    body = default.json()
    assert sorted(body) == ["managedObjects", "next", "self", "statistics"]
    assert [item["id"] for item in body["managedObjects"]] == ids[:5]  # pageSize 5, in id order
    assert body["statistics"] == {"currentPage": 1, "pageSize": 5}
    assert body["self"].startswith(f"{BASE}{MO}?")
    first = (await call(client, "GET", f"{MO}?pageSize=3&type=t")).json()
    assert query_of(first["next"]) == {"pageSize": ["3"], "currentPage": ["2"], "type": ["t"]}
    assert first["next"].startswith(f"{BASE}{MO}?")
    assert "prev" not in first
    last = (await call(client, "GET", f"{MO}?pageSize=3&currentPage=3&withTotalPages=true&type=t")).json()
    assert [item["id"] for item in last["managedObjects"]] == ids[6:]
    assert last["statistics"] == {"currentPage": 3, "pageSize": 3, "totalPages": 3}
    assert "next" not in last
    assert query_of(last["prev"])["currentPage"] == ["2"]
    elements = (await call(client, "GET", f"{MO}?withTotalElements=true")).json()
    assert elements["statistics"]["totalElements"] == 7
    trimmed = (await call(client, "GET", f"{MO}?pageSize=5000")).json()
    assert (trimmed["statistics"]["pageSize"], len(trimmed["managedObjects"])) == (2000, 7)
    assert (await call(client, "GET", f"{MO}?currentPage=9")).json()["managedObjects"] == []


async def test_each_filter_and_their_combination(client: httpx.AsyncClient, services: Services) -> None:
    sensor = await create(client, {"name": "Sensor A", "type": "c8y_Sensor", "c8y_IsDevice": {}})
    group = await create(client, {"name": "Hall 7", "type": "c8y_DeviceGroup", "c8y_IsDeviceGroup": {}})
    await create(client, {"name": "it's 50%", "type": "note"}, auth=await device_user(services, "d1"))
    external = {"type": "c8y_Serial", "externalId": "SN-0042"}
    assert (await call(client, "POST", f"/identity/globalIds/{group['id']}/externalIds", external)).status_code == 201
    assert await listed(client, "type=c8y_Sensor") == ["Sensor A"]
    assert await listed(client, "fragmentType=c8y_IsDeviceGroup") == ["Hall 7"]
    assert await listed(client, "fragmentType=c8y_Nothing") == []
    assert await listed(client, "owner=device_d1") == ["it's 50%"]
    assert await listed(client, "text=SENSOR") == ["Sensor A"]  # name, any case
    assert await listed(client, "text=devicegroup") == ["Hall 7"]  # type
    assert await listed(client, "text=n-004") == ["Hall 7"]  # an external id value
    assert await listed(client, "text=50%25") == ["it's 50%"]
    assert await listed(client, "text=it%25") == []  # % is no wildcard
    assert await listed(client, "text='it''s 50%25'") == ["it's 50%"]  # c8y-api's quoted form
    assert await listed(client, f"ids={group['id']},x,{sensor['id']},99999") == ["Sensor A", "Hall 7"]
    assert await listed(client, "ids=x") == []
    assert await listed(client, "type=&text=") == ["Sensor A", "Hall 7", "it's 50%"]  # empty is no filter
    assert await listed(client, "type=c8y_Sensor&text=hall") == []


BAD_QUERIES = ["pageSize=0", "pageSize=abc", "currentPage=0", "withChildren=maybe", "query=$filter=(name eq 'x')",
               "q=$filter=(has(c8y_IsDevice))", "text=a%00b", f"type={'x' * 1001}"]  # fmt: skip


@pytest.mark.parametrize("query", BAD_QUERIES)
async def test_bad_list_parameters_are_422(client: httpx.AsyncClient, query: str) -> None:
    body = assert_error(await call(client, "GET", f"{MO}?{query}"), 422)
    assert body["error"] == "undefined/validationError"


async def test_get_embeds_child_and_parent_references(client: httpx.AsyncClient) -> None:
    group = await create(client, {"name": "group", "c8y_IsDeviceGroup": {}, "type": "c8y_DeviceGroup"})
    device = await create(client, {"name": "device", "c8y_IsDevice": {}})
    reference = {"managedObject": {"id": device["id"]}}
    assert (await call(client, "POST", f"{MO}/{group['id']}/childAssets", reference)).status_code == 201
    found = await get(client, group["id"])
    link = f"{BASE}{MO}/{group['id']}/childAssets/{device['id']}"
    assert found["childAssets"] == {
        "self": f"{BASE}{MO}/{group['id']}/childAssets",
        "references": [{"managedObject": {"id": device["id"], "name": "device", "self": device["self"]}, "self": link}],
    }
    assert found["assetParents"]["references"] == []
    parents = (await get(client, device["id"]))["assetParents"]["references"]
    assert parents == [{"managedObject": {"id": group["id"], "name": "group", "self": group["self"]}, "self": link}]
    page = (await call(client, "GET", f"{MO}?ids={group['id']},{device['id']}")).json()["managedObjects"]
    assert [len(mo["childAssets"]["references"]) + len(mo["assetParents"]["references"]) for mo in page] == [1, 1]
    bare = (await call(client, "GET", f"{MO}/{group['id']}?withChildren=false")).json()
    assert bare["childAssets"]["references"] == []


async def test_put_replaces_fragments_removes_null_ones_and_ignores_server_keys(
    client: httpx.AsyncClient, services: Services
) -> None:
    created = await create(client, {"name": "old", "type": "t", "keep": {"a": 1}, "swap": {"b": 1}, "drop": 1})
    await asyncio.sleep(0.01)
    ignored = {"id": "1", "self": "x", "owner": "mallory", "creationTime": "2000-01-01T00:00:00.000Z",
               "lastUpdated": "2000-01-01T00:00:00.000Z", "childAssets": {"references": []}}  # fmt: skip
    body = {"name": "new", "swap": {"c": 2}, "drop": None, "added": [1, "é"], **ignored}
    updated = await call(client, "PUT", f"{MO}/{created['id']}", body)
    assert (updated.status_code, updated.headers["content-type"]) == (200, VENDOR.format("managedobject"))
    document = updated.json()
    assert document == await get(client, created["id"])
    assert {key: document.get(key) for key in ("name", "type", "keep", "swap", "drop", "added", "owner")} == {
        "name": "new",
        "type": "t",
        "keep": {"a": 1},
        "swap": {"c": 2},
        "drop": None,
        "added": [1, "é"],
        "owner": "admin",
    }
    assert "drop" not in document
    assert (document["id"], document["creationTime"]) == (created["id"], created["creationTime"])
    assert document["lastUpdated"] > created["lastUpdated"]
    quiet = await call(client, "PUT", f"{MO}/{created['id']}", {"type": None}, accept=None)
    assert (quiet.status_code, quiet.content) == (200, b"")
    assert "type" not in await get(client, created["id"])
    async with services.storage.read() as tx:
        events = await tx.audit.list_for_subject("t1", created["id"])
    assert [(e.tag.value, e.detail) for e in events][1:] == [
        ("inventory:managed-object:update", {"changed": ["name", "added", "drop", "swap"]}),
        ("inventory:managed-object:update", {"changed": ["type"]}),
    ]


async def test_put_and_delete_answer_404_and_422_in_the_cumulocity_shape(client: httpx.AsyncClient) -> None:
    created = await create(client, {"name": "n"})
    for missing in ("999999", "abc", "１"):
        body = assert_error(await call(client, "PUT", f"{MO}/{missing}", {"name": "x"}), 404)
        assert body == {**body, "error": "inventory/Not Found"}
        assert body["message"] == f"Finding device data from database failed : No managedObject for id '{missing}'!"
        assert_error(await call(client, "DELETE", f"{MO}/{missing}"), 404)
    assert_error(await call(client, "PUT", f"{MO}/{created['id']}", {"name": 5}), 422, "name")
    assert_error(await call(client, "PUT", f"{MO}/{created['id']}", raw=b"[]"), 400)
    assert_error(await call(client, "DELETE", f"{MO}/{created['id']}?cascade=yes"), 422, "cascade")
    assert (await get(client, created["id"]))["name"] == "n"


async def test_devices_see_and_change_only_what_they_own(client: httpx.AsyncClient, services: Services) -> None:
    device, other = await device_user(services, "d1"), await device_user(services, "d2")
    own = await create(client, {"name": "own", "c8y_IsDevice": {}}, auth=device)
    foreign = await create(client, {"name": "foreign"}, auth=other)
    admins = await create(client, {"name": "admins"})
    assert own["owner"] == "device_d1"
    assert await listed(client, auth=device) == ["own"]
    assert await listed(client, "owner=device_d2", auth=device) == []
    assert await listed(client, "owner=device_d1&withTotalElements=true", auth=device) == ["own"]
    for mo in (foreign, admins):
        assert_error(await call(client, "GET", f"{MO}/{mo['id']}", auth=device), 404)
        assert_error(await call(client, "PUT", f"{MO}/{mo['id']}", {"name": "x"}, auth=device), 404)
        assert_error(await call(client, "DELETE", f"{MO}/{mo['id']}", auth=device), 404)
    assert (await call(client, "PUT", f"{MO}/{own['id']}", {"c8y_Firmware": {"v": 2}}, auth=device)).status_code == 200
    for flags in ("cascade=true", "withDeviceUser=true"):
        denied = assert_error(await call(client, "DELETE", f"{MO}/{own['id']}?{flags}", auth=device), 403)
        assert denied["error"] == "security/Forbidden"
    assert (await call(client, "DELETE", f"{MO}/{own['id']}", auth=device)).status_code == 204
    assert await listed(client) == ["foreign", "admins"]


async def test_readers_read_and_nothing_more(client: httpx.AsyncClient, services: Services) -> None:
    created = await create(client, {"name": "n"})
    reader = await person(services, "reader", ["ROLE_INVENTORY_READ"])
    assert await listed(client, auth=reader) == ["n"]
    assert (await get(client, created["id"], auth=reader))["name"] == "n"
    for method, body in (("PUT", {"name": "x"}), ("DELETE", None), ("POST", {"name": "x"})):
        path = MO if method == "POST" else f"{MO}/{created['id']}"
        assert_error(await call(client, method, path, body, auth=reader), 403)
    nobody = await person(services, "nobody", ["ROLE_DEVICE_CONTROL_READ"])
    for auth in (nobody, BOOTSTRAP):
        assert_error(await call(client, "GET", MO, auth=auth), 403, "Access is denied")
        assert_error(await call(client, "GET", f"{MO}/{created['id']}", auth=auth), 403)
    assert await listed(client) == ["n"]


async def test_delete_cascades_through_the_tree_and_takes_device_users(
    client: httpx.AsyncClient, services: Services
) -> None:
    device = await device_user(services, "d1")
    root = await create(client, {"name": "root", "c8y_IsDeviceGroup": {}, "type": "c8y_DeviceGroup"})
    sub = await create(client, {"name": "sub", "c8y_IsDeviceGroup": {}, "type": "c8y_DeviceSubgroup"})
    owned = await create(client, {"name": "owned", "c8y_IsDevice": {}}, auth=device)
    keep = await create(client, {"name": "keep"})
    external = {"type": "c8y_Serial", "externalId": "d1"}
    assert (await call(client, "POST", f"/identity/globalIds/{owned['id']}/externalIds", external)).status_code == 201
    for parent, child in ((root, sub), (sub, owned), (root, keep)):
        reference = {"managedObject": {"id": child["id"]}}
        assert (await call(client, "POST", f"{MO}/{parent['id']}/childAssets", reference)).status_code == 201
    plain = await call(client, "DELETE", f"{MO}/{root['id']}")
    assert (plain.status_code, plain.content) == (204, b"")
    assert await listed(client) == ["sub", "owned", "keep"]  # children stay
    assert (await get(client, keep["id"]))["assetParents"]["references"] == []
    cascade = await call(client, "DELETE", f"{MO}/{sub['id']}?cascade=true&withDeviceUser=true")
    assert cascade.status_code == 204
    assert await listed(client) == ["keep"]
    assert_error(await call(client, "GET", "/identity/externalIds/c8y_Serial/d1"), 404)
    assert_error(await call(client, "GET", "/user/currentUser", auth=device), 401)
    assert (await call(client, "GET", "/user/currentUser", auth=basic("t1/admin", ADMIN_PASSWORD))).status_code == 200
    async with services.storage.read() as tx:
        deleted = await tx.audit.list_for_subject("t1", owned["id"])
        user = await tx.audit.list_for_subject("t1", "device_d1")
    assert (deleted[-1].tag.value, deleted[-1].detail) == (
        "inventory:managed-object:delete",
        {"cascadeFrom": int(sub["id"])},
    )
    assert [event.tag.value for event in user] == [
        "identity:user:create",
        "identity:user:delete",
        "identity:authentication:fail",  # the deleted device tried to log in
    ]


async def test_force_cascade_is_cascade_and_people_owning_objects_stay(
    client: httpx.AsyncClient, services: Services
) -> None:
    owner = await person(services, "operator", sorted(ADMIN_ROLES))
    root = await create(client, {"name": "root"}, auth=owner)
    child = await create(client, {"name": "child"}, auth=owner)
    assert (await call(client, "POST", f"{MO}/{root['id']}/childAssets", {"managedObject": child})).status_code == 201
    response = await call(client, "DELETE", f"{MO}/{root['id']}?forceCascade=true&withDeviceUser=true")
    assert response.status_code == 204
    assert await listed(client) == []
    assert (await call(client, "GET", "/user/currentUser", auth=owner)).status_code == 200


async def test_tenants_see_only_their_own_inventory(client: httpx.AsyncClient, services: Services) -> None:
    mine = await create(client, {"name": "t1 object", "c8y_IsDevice": {}})
    await services.identity.create_tenant("t2")
    other = await person(services, "admin2", sorted(ADMIN_ROLES), tenant="t2")
    theirs = await create(client, {"name": "t2 object"}, auth=other)
    management = await person(services, "ops", sorted(ADMIN_ROLES), tenant="management")
    assert await listed(client, auth=other) == ["t2 object"]
    assert await listed(client, f"ids={mine['id']}&fragmentType=c8y_IsDevice", auth=other) == []
    assert await listed(client, auth=management) == []
    attempts = [("GET", "", None), ("PUT", "", {"name": "x"}), ("DELETE", "?cascade=true", None),
                ("GET", "/childAssets", None), ("POST", "/childAssets", {"managedObject": theirs})]  # fmt: skip
    for method, suffix, body in attempts:
        assert_error(await call(client, method, f"{MO}/{mine['id']}{suffix}", body, auth=other), 404)
    assert_error(await call(client, "GET", f"/identity/globalIds/{mine['id']}/externalIds", auth=other), 404)
    child = {"managedObject": {"id": mine["id"]}}
    assert_error(await call(client, "POST", f"{MO}/{theirs['id']}/childAssets", child, auth=other), 404)
    assert (await get(client, mine["id"]))["name"] == "t1 object"
    assert await listed(client) == ["t1 object"]


NEW_ENDPOINTS = {
    "list": ("GET", MO, None),
    "update": ("PUT", f"{MO}/1", {"name": "n"}),
    "delete": ("DELETE", f"{MO}/1", None),
    "child-assets": ("GET", f"{MO}/1/childAssets", None),
    "assign": ("POST", f"{MO}/1/childAssets", {"managedObject": {"id": "2"}}),
    "unassign": ("DELETE", f"{MO}/1/childAssets/2", None),
    "external-ids": ("GET", "/identity/globalIds/1/externalIds", None),
    "delete-external-id": ("DELETE", "/identity/externalIds/c8y_Serial/x", None),
}


@pytest.mark.parametrize(("method", "path", "body"), NEW_ENDPOINTS.values(), ids=NEW_ENDPOINTS.keys())
async def test_every_new_endpoint_answers_401_and_403_in_the_cumulocity_shape(
    client: httpx.AsyncClient, method: str, path: str, body: Any
) -> None:
    for auth in ({}, basic("t1/admin", "wrong-Password-1")):
        response = await call(client, method, path, body, auth=auth)
        assert assert_error(response, 401, "Invalid credentials")["error"] == "security/Unauthorized"
        assert response.headers["www-authenticate"] == 'Basic realm="Cumulocity"'
    forbidden = assert_error(await call(client, method, path, body, auth=BOOTSTRAP), 403)
    assert (forbidden["error"], forbidden["info"]) == ("security/Forbidden", forbidden["info"])
    assert re.match(r"https://", forbidden["info"])
