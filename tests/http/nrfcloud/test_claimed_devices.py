"""/v1/claimed-devices: claim (JSON, CSV, dry run), list with paging and filters, get, unclaim,
block/unblock, tag updates, access rules, and the device registry link; SQLite and PostgreSQL."""

from __future__ import annotations

import re

import httpx
import pytest

from admittance.bootstrap import Services
from admittance.claiming.model import DEVICE_ID_TYPE
from tests.support.nrf import device_key, mint, new_uuid, register_key
from tests.support.nrf_api import api_key, assert_nrf_error, new_token

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


async def test_claim_by_json_returns_the_claimed_device_object(services: Services, client: httpx.AsyncClient) -> None:
    editor = await api_key(services, client, "editor")
    device, token = await new_token(services)
    response = await client.post(
        "/v1/claimed-devices", headers=editor, json={"claimToken": token, "tags": ["a,b", "c"]}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body == {
        "id": device,
        "deviceType": "nrf9151_LACA",
        "firmwareId": body["firmwareId"],
        "imei": "",
        "ownerId": "t1",
        "ownershipStatus": "IDENTIFIED",
        "tags": ["a", "b", "c"],
        "status": "READY",
        "claimedAt": body["claimedAt"],
    }
    assert ISO.fullmatch(body["claimedAt"])
    # The device registry knows it: a managed object with c8y_IsDevice and its nrf_DeviceId.
    external = await services.storage.find_external_id("t1", DEVICE_ID_TYPE, device)
    assert external is not None
    mo = await services.storage.get_managed_object("t1", external.managed_object_id)
    assert mo is not None
    assert mo.name == device
    assert mo.type == "nrf_Device"
    assert "c8y_IsDevice" in mo.fragments
    # Replay of the same token, and a new token of an already claimed device: 409.
    assert_nrf_error(await client.post("/v1/claimed-devices", headers=editor, json={"claimToken": token}), 409)
    again = mint(None, device)
    assert_nrf_error(
        await client.post("/v1/identities/claimed-devices", headers=editor, json={"claimToken": again}), 400
    )
    got = await client.get(f"/v1/claimed-devices/{device}", headers=editor)
    assert got.status_code == 200
    assert got.json() == body


async def test_already_claimed_is_40900_and_newer_path_claims_too(
    services: Services, client: httpx.AsyncClient
) -> None:
    editor = await api_key(services, client, "editor")
    key, device = device_key(), new_uuid()
    await register_key(services, key, device)
    first = await client.post("/v1/identities/claimed-devices", headers=editor, json={"claimToken": mint(key, device)})
    assert first.status_code == 201, first.text
    second = await client.post("/v1/claimed-devices", headers=editor, json={"claimToken": mint(key, device)})
    assert_nrf_error(second, 409, "already claimed", 40900)


async def test_dry_run_does_not_consume_and_reports_why(services: Services, client: httpx.AsyncClient) -> None:
    editor = await api_key(services, client, "editor")
    _device, token = await new_token(services)
    for _ in range(2):
        dry = await client.post("/v1/claimed-devices?dryrun=true", headers=editor, json={"claimToken": token})
        assert dry.status_code == 202
        assert dry.content == b""
    claimed = await client.post("/v1/claimed-devices", headers=editor, json={"claimToken": token})
    assert claimed.status_code == 201
    failed = await client.post("/v1/claimed-devices?dryrun=true", headers=editor, json={"claimToken": token})
    assert_nrf_error(failed, 409)
    unknown = await client.post("/v1/claimed-devices?dryrun=true", headers=editor, json={"claimToken": mint()})
    assert_nrf_error(unknown, 400, "No identity public key")
    broken = await client.post("/v1/claimed-devices?dryrun=true", headers=editor, json={"claimToken": "x.y"})
    assert broken.status_code == 400
    assert broken.json()["message"]


@pytest.mark.parametrize("headers", [{}, {"contentType": "text/csv"}, {"Content-Type": "text/csv"}])
async def test_claim_by_csv(services: Services, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    editor = await api_key(services, client, "editor")
    good = [await new_token(services) for _ in range(3)]
    unknown = mint()
    rows = [f'"{token}","t1,t2"' for _, token in good[:2]] + [f'"{good[2][1]}",""', f'"{unknown}","x"', '"junk",""']
    request = client.build_request("POST", "/v1/claimed-devices", headers=editor, content="\n".join(rows) + "\n")
    request.headers.pop("content-type", None)
    request.headers.update(headers)
    response = await client.send(request)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["claimedIds"] == [device for device, _ in good]
    assert [item["row"] for item in body["failed"]] == ["3", "4"]
    assert body["failed"][0]["message"]
    assert body["failed"][0]["deviceId"]
    assert body["failed"][1]["deviceId"] == ""
    listed = (await client.get("/v1/claimed-devices", headers=editor)).json()
    assert {item["id"]: item["tags"] for item in listed["items"]} == {
        good[0][0]: ["t1", "t2"],
        good[1][0]: ["t1", "t2"],
        good[2][0]: [],
    }
    too_many = "\n".join(['"x",""'] * 1001)
    assert_nrf_error(await client.post("/v1/claimed-devices", headers=editor, content=too_many), 400, "1000")


async def test_paging_and_filters(services: Services, client: httpx.AsyncClient) -> None:
    admin = await api_key(services, client, "admin")
    editor = await api_key(services, client, "editor")
    claimed = []
    for index in range(5):
        device, token = await new_token(services)
        tags = ["even"] if index % 2 == 0 else ["odd"]
        response = await client.post("/v1/claimed-devices", headers=editor, json={"claimToken": token, "tags": tags})
        assert response.status_code == 201
        claimed.append(device)
    seen: list[str] = []
    params: dict[str, str] = {"pageLimit": "2"}
    pages = 0
    while True:
        body = (await client.get("/v1/claimed-devices", headers=admin, params=params)).json()
        assert body["total"] == 5
        seen += [item["id"] for item in body["items"]]
        pages += 1
        if "pageNextToken" not in body:
            break
        params["pageNextToken"] = body["pageNextToken"]
    assert pages == 3
    assert sorted(seen) == sorted(claimed)
    assert len(seen) == 5
    even = (await client.get("/v1/claimed-devices", headers=admin, params={"tags": "even"})).json()
    assert even["total"] == 3
    assert all(item["tags"] == ["even"] for item in even["items"])
    await client.put(f"/v1/claimed-devices/{claimed[0]}/block", headers=editor)
    blocked = (await client.get("/v1/claimed-devices", headers=admin, params={"status": "BLOCKED"})).json()
    assert [item["id"] for item in blocked["items"]] == [claimed[0]]
    by_type = await client.get("/v1/claimed-devices", headers=admin, params={"deviceType": "nrf9151_LACA"})
    assert by_type.json()["total"] == 5
    assert (await client.get("/v1/claimed-devices", headers=admin, params={"deviceType": "3"})).json()["total"] == 0
    bad = await client.get("/v1/claimed-devices", headers=admin, params={"pageNextToken": "!!"})
    assert_nrf_error(bad, 400, "pageNextToken")
    assert_nrf_error(await client.get("/v1/claimed-devices", headers=admin, params={"pageLimit": "0"}), 400)
    assert_nrf_error(await client.get("/v1/claimed-devices", headers=admin, params={"status": "GONE"}), 400)


async def test_block_unblock_and_tags(services: Services, client: httpx.AsyncClient) -> None:
    editor = await api_key(services, client, "editor")
    device, token = await new_token(services)
    await client.post("/v1/claimed-devices", headers=editor, json={"claimToken": token, "tags": ["a"]})
    blocked = await client.put(f"/v1/claimed-devices/{device}/block", headers=editor)
    assert blocked.status_code == 200
    assert blocked.json()["status"] == "BLOCKED"
    async with services.storage.read() as tx:
        stored = await tx.claimed_devices.get(device)
    assert stored is not None
    assert stored.status.value == "BLOCKED"
    unblocked = await client.put(f"/v1/claimed-devices/{device}/unblock", headers=editor)
    assert unblocked.status_code == 200
    assert unblocked.json()["status"] == "READY"
    tagged = await client.put(f"/v1/claimed-devices/{device}/tags", headers=editor, json={"tags": ["x,y", " z "]})
    assert tagged.status_code == 200
    assert tagged.json()["tags"] == ["x", "y", "z"]
    patched = await client.patch(f"/v1/claimed-devices/{device}", headers=editor, json={"tags": []})
    assert patched.status_code == 200
    assert patched.json()["tags"] == []
    too_long = await client.put(f"/v1/claimed-devices/{device}/tags", headers=editor, json={"tags": ["x" * 101]})
    assert_nrf_error(too_long, 400, "100 characters")
    assert_nrf_error(await client.patch(f"/v1/claimed-devices/{device}", headers=editor, json={"status": "X"}), 400)
    assert_nrf_error(await client.put(f"/v1/claimed-devices/{new_uuid()}/block", headers=editor), 404)


async def test_unclaim_then_claim_by_another_tenant(services: Services, client: httpx.AsyncClient) -> None:
    await services.identity.create_tenant("t2")
    editor = await api_key(services, client, "editor")
    other = await api_key(services, client, "editor", tenant="t2")
    key, device = device_key(), new_uuid()
    await register_key(services, key, device, "t1")
    await register_key(services, key, device, "t2")
    assert (
        await client.post("/v1/claimed-devices", headers=editor, json={"claimToken": mint(key, device)})
    ).status_code == 201
    # Claimed by t1: t2 gets the same 409 and cannot see it.
    refused = await client.post("/v1/claimed-devices", headers=other, json={"claimToken": mint(key, device)})
    assert_nrf_error(refused, 409, "already claimed", 40900)
    assert_nrf_error(await client.get(f"/v1/claimed-devices/{device}", headers=other), 404)
    assert_nrf_error(await client.delete(f"/v1/claimed-devices/{device}", headers=other), 404)
    gone = await client.delete(f"/v1/claimed-devices/{device}", headers=editor)
    assert gone.status_code == 204
    assert await services.storage.find_external_id("t1", DEVICE_ID_TYPE, device) is None
    assert_nrf_error(await client.get(f"/v1/claimed-devices/{device}", headers=editor), 404)
    reclaimed = await client.post("/v1/claimed-devices", headers=other, json={"claimToken": mint(key, device)})
    assert reclaimed.status_code == 201
    assert reclaimed.json()["ownerId"] == "t2"


async def test_access_rules(services: Services, client: httpx.AsyncClient) -> None:
    viewer = await api_key(services, client, "viewer")
    editor = await api_key(services, client, "editor")
    admin = await api_key(services, client, "admin")
    _, token = await new_token(services)
    assert_nrf_error(await client.get("/v1/claimed-devices"), 401)
    assert_nrf_error(await client.get("/v1/claimed-devices", headers={"Authorization": "Bearer adm_nope"}), 401)
    refused = await client.post("/v1/claimed-devices", headers=viewer, json={"claimToken": token})
    assert_nrf_error(refused, 403)
    assert (await client.get("/v1/claimed-devices", headers=viewer)).status_code == 200
    # Devices an admin claims are hidden from editors and viewers.
    admin_device, admin_token = await new_token(services)
    assert (
        await client.post("/v1/claimed-devices", headers=admin, json={"claimToken": admin_token})
    ).status_code == 201
    editor_device, editor_token = await new_token(services)
    assert (
        await client.post("/v1/claimed-devices", headers=editor, json={"claimToken": editor_token})
    ).status_code == 201
    for headers in (viewer, editor):
        listed = (await client.get("/v1/claimed-devices", headers=headers)).json()
        assert [item["id"] for item in listed["items"]] == [editor_device]
        assert listed["total"] == 1
        assert_nrf_error(await client.get(f"/v1/claimed-devices/{admin_device}", headers=headers), 404)
    assert_nrf_error(await client.delete(f"/v1/claimed-devices/{admin_device}", headers=editor), 404)
    assert_nrf_error(await client.put(f"/v1/claimed-devices/{editor_device}/block", headers=viewer), 403)
    listed = (await client.get("/v1/claimed-devices", headers=admin)).json()
    assert listed["total"] == 2
