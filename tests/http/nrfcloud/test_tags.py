"""/v1/claimed-devices/tags and /v1/provisioning/tags: definitions, limits, and deleting a tag
removes it from every device; SQLite and PostgreSQL."""

from __future__ import annotations

import httpx

from admittance.bootstrap import Services
from tests.support.nrf_api import api_key, assert_nrf_error, new_token


async def test_claimed_device_tags(services: Services, client: httpx.AsyncClient) -> None:
    editor = await api_key(services, client, "editor")
    viewer = await api_key(services, client, "viewer")
    created = await client.post("/v1/claimed-devices/tags", headers=editor, json={"tag": "lab", "description": "Lab"})
    assert created.status_code == 201, created.text
    tag = created.json()
    assert tag["tag"] == "lab"
    assert tag["description"] == "Lab"
    assert tag["id"]
    dup = await client.post("/v1/claimed-devices/tags", headers=editor, json={"tag": "lab"})
    assert_nrf_error(dup, 409, "exists")
    assert_nrf_error(await client.post("/v1/claimed-devices/tags", headers=editor, json={"tag": "x" * 101}), 400)
    assert_nrf_error(await client.post("/v1/claimed-devices/tags", headers=editor, json={"tag": "a,b"}), 400)
    assert_nrf_error(await client.post("/v1/claimed-devices/tags", headers=editor, json={}), 400)
    assert_nrf_error(await client.post("/v1/claimed-devices/tags", headers=viewer, json={"tag": "v"}), 403)
    listed = (await client.get("/v1/claimed-devices/tags", headers=viewer)).json()
    assert [item["tag"] for item in listed["items"]] == ["lab"]
    got = await client.get(f"/v1/claimed-devices/tags/{tag['id']}", headers=viewer)
    assert got.json() == tag
    # Two devices carry it; a rename follows on the devices, a delete removes it from them.
    devices = []
    for extra in (["lab", "keep"], ["lab"]):
        device, token = await new_token(services)
        await client.post("/v1/claimed-devices", headers=editor, json={"claimToken": token, "tags": extra})
        devices.append(device)
    renamed = await client.put(f"/v1/claimed-devices/tags/{tag['id']}", headers=editor, json={"tag": "lab2"})
    assert renamed.status_code == 200
    assert renamed.json()["tag"] == "lab2"
    assert renamed.json()["description"] == "Lab"
    first = (await client.get(f"/v1/claimed-devices/{devices[0]}", headers=editor)).json()
    assert first["tags"] == ["keep", "lab2"]
    gone = await client.delete(f"/v1/claimed-devices/tags/{tag['id']}", headers=editor)
    assert gone.status_code == 204
    first = (await client.get(f"/v1/claimed-devices/{devices[0]}", headers=editor)).json()
    second = (await client.get(f"/v1/claimed-devices/{devices[1]}", headers=editor)).json()
    assert first["tags"] == ["keep"]
    assert second["tags"] == []
    assert_nrf_error(await client.get(f"/v1/claimed-devices/tags/{tag['id']}", headers=editor), 404)
    assert_nrf_error(await client.delete(f"/v1/claimed-devices/tags/{tag['id']}", headers=editor), 404)


async def test_provisioning_tags(services: Services, client: httpx.AsyncClient) -> None:
    admin = await api_key(services, client, "admin")
    editor = await api_key(services, client, "editor")
    body = {"tag": "nrf-cloud-onboarding", "description": "Generated tag for rule: nRF Cloud Onboarding"}
    created = await client.post("/v1/provisioning/tags", headers=admin, json=body)
    assert created.status_code == 201, created.text
    again = await client.post("/v1/provisioning/tags", headers=admin, json=body)
    assert_nrf_error(again, 409)
    listed = (await client.get("/v1/provisioning/tags", headers=editor)).json()
    assert [item["tag"] for item in listed["items"]] == ["nrf-cloud-onboarding"]
    # Kinds are separate: the claimed-device tags do not list it.
    assert (await client.get("/v1/claimed-devices/tags", headers=admin)).json()["items"] == []
    assert_nrf_error(await client.post("/v1/provisioning/tags", headers=editor, json={"tag": "x"}), 403)


async def test_provisioning_tag_changes_leave_devices_alone(services: Services, client: httpx.AsyncClient) -> None:
    admin = await api_key(services, client, "admin")
    created = (await client.post("/v1/provisioning/tags", headers=admin, json={"tag": "grp"})).json()
    device, token = await new_token(services)
    await client.post("/v1/claimed-devices", headers=admin, json={"claimToken": token, "tags": ["grp"]})
    renamed = await client.put(f"/v1/provisioning/tags/{created['id']}", headers=admin, json={"description": "d"})
    assert renamed.json()["description"] == "d"
    assert (await client.delete(f"/v1/provisioning/tags/{created['id']}", headers=admin)).status_code == 204
    assert (await client.get(f"/v1/claimed-devices/{device}", headers=admin)).json()["tags"] == ["grp"]
    assert (await client.get("/v1/provisioning/tags", headers=admin)).json()["items"] == []
