"""Provisioning commands and rules on /v1 (docs/compat/nrfcloud/provisioning.md), SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
import pytest

from admittance.bootstrap import Services
from admittance.claiming.provisioning_model import MAX_COMMANDS_PER_DEVICE
from tests.support.nrf import mint, nrf_owner
from tests.support.nrf_provisioning import CSR_REQUEST, add_command, claimed, command
from tests.support.sessions import ADMIN

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
RULE = {
    "name": "Onboarding",
    "description": "test rule",
    "commands": [{"request": {"clientPrivateKeyGeneration": {"secTag": 7}}}, {"request": {"finished": {}}}],
    "tags": ["onboard"],
}


async def test_command_crud_and_statuses(client: httpx.AsyncClient, services: Services) -> None:
    _, device_id = await claimed(services)
    created = await client.post(
        f"/v1/claimed-devices/{device_id}/provisioning",
        json={"description": "Generate CSR", "request": CSR_REQUEST},
        headers=ADMIN,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "PENDING"
    assert body["request"] == CSR_REQUEST
    assert body["description"] == "Generate CSR"
    assert body["response"] is None
    fetched = await command(client, device_id, body["id"])
    assert fetched["id"] == body["id"]
    assert fetched["status"] == "PENDING"
    assert fetched["createdAt"].endswith("Z")
    listed = await client.get(f"/v1/claimed-devices/{device_id}/provisioning", headers=ADMIN)
    assert [item["id"] for item in listed.json()["items"]] == [body["id"]]
    # cancel one, then the rest
    gone = await client.delete(f"/v1/claimed-devices/{device_id}/provisioning/{body['id']}", headers=ADMIN)
    assert gone.status_code == 204
    assert (await command(client, device_id, body["id"]))["status"] == "CANCELLED"
    again = await client.delete(f"/v1/claimed-devices/{device_id}/provisioning/{body['id']}", headers=ADMIN)
    assert again.status_code == 409
    second = await add_command(client, device_id, {"finished": {}})
    third = await add_command(client, device_id, {"config": {"a": "b"}})
    assert (await client.delete(f"/v1/claimed-devices/{device_id}/provisioning", headers=ADMIN)).status_code == 204
    assert (await command(client, device_id, second["id"]))["status"] == "CANCELLED"
    assert (await command(client, device_id, third["id"]))["status"] == "CANCELLED"


async def test_unknown_device_and_command(client: httpx.AsyncClient, services: Services) -> None:
    missing = await client.post(
        "/v1/claimed-devices/00000000-0000-4000-8000-000000000000/provisioning",
        json={"request": {"finished": {}}},
        headers=ADMIN,
    )
    assert missing.status_code == 404
    assert missing.json()["code"] // 100 == 404
    _, device_id = await claimed(services)
    unknown = await client.get(f"/v1/claimed-devices/{device_id}/provisioning/nope", headers=ADMIN)
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    "request_body",
    [
        {},
        {"finished": {}, "config": {}},
        {"nonsense": {}},
        {"certificateSigningRequest": {"secTag": "1"}},
        {"certificateSigningRequest": {"secTag": -1}},
        {"certificateSigningRequest": {"secTag": 1, "keyUsage": "12"}},
        {"clientCertificate": {"secTag": 1, "content": "not pem"}},
        {"serverCertificate": {"secTag": 1}},
        {"preSharedKey": {"secTag": 1, "identity": "id", "secret": "xyz"}},
        {"config": {str(i): "v" for i in range(11)}},
        {"config": {"a": 1}},
        {"finished": {"x": 1}},
        {"clientCertificate": {"secTag": 1, "content": PEM, "extra": 1}},
    ],
)
async def test_command_validation(client: httpx.AsyncClient, services: Services, request_body: object) -> None:
    _, device_id = await claimed(services)
    response = await client.post(
        f"/v1/claimed-devices/{device_id}/provisioning", json={"request": request_body}, headers=ADMIN
    )
    assert response.status_code == 400, response.text
    assert response.json()["message"]


async def test_every_valid_type(client: httpx.AsyncClient, services: Services) -> None:
    _, device_id = await claimed(services)
    for request in (
        {"cloudAccessKeyGeneration": {"secTag": 1}},
        {"clientPrivateKeyGeneration": {"secTag": 1}},
        CSR_REQUEST,
        {"serverCertificate": {"secTag": 1, "content": PEM}},
        {"clientCertificate": {"secTag": 1, "content": PEM}},
        {"clientPrivateKey": {"secTag": 1, "content": PEM.replace("CERTIFICATE", "PRIVATE KEY")}},
        {"preSharedKey": {"secTag": 1, "identity": "me", "secret": "00ff"}},
        {"config": {"k": "v"}},
        {"finished": {}},
    ):
        assert (await add_command(client, device_id, request))["request"] == request


async def test_at_most_20_open_commands(client: httpx.AsyncClient, services: Services) -> None:
    _, device_id = await claimed(services)
    first = None
    for _ in range(MAX_COMMANDS_PER_DEVICE):
        made = await add_command(client, device_id, {"config": {"k": "v"}})
        first = first or made
    full = await client.post(
        f"/v1/claimed-devices/{device_id}/provisioning", json={"request": {"finished": {}}}, headers=ADMIN
    )
    assert full.status_code == 400
    assert "20" in full.json()["message"]
    assert first is not None
    await client.delete(f"/v1/claimed-devices/{device_id}/provisioning/{first['id']}", headers=ADMIN)
    await add_command(client, device_id, {"finished": {}})


async def test_rule_lifecycle(client: httpx.AsyncClient, services: Services) -> None:
    created = await client.post("/v1/provisioning-rules", json=RULE, headers=ADMIN)
    assert created.status_code == 201, created.text
    rule = created.json()
    assert rule["active"] is False
    assert rule["state"] == "DRAFT"
    assert rule["tags"] == ["onboard"]
    listed = (await client.get("/v1/provisioning-rules", headers=ADMIN)).json()
    assert [item["id"] for item in listed["items"]] == [rule["id"]]
    assert listed["items"][0]["tags"] == ["onboard"]
    # a draft is editable and applies to nobody
    _, tagged = await claimed(services, ["onboard"])
    changed = await client.put(
        f"/v1/provisioning-rules/{rule['id']}",
        json={**RULE, "name": "Renamed", "tags": ["onboard,other"]},
        headers=ADMIN,
    )
    assert changed.status_code == 200
    assert changed.json()["name"] == "Renamed"
    assert changed.json()["tags"] == ["onboard", "other"]
    assert (await client.get(f"/v1/claimed-devices/{tagged}/provisioning", headers=ADMIN)).json()["items"] == []
    # activating applies it to devices already carrying the tag
    active = await client.post(f"/v1/provisioning-rules/{rule['id']}/activate", headers=ADMIN)
    assert active.status_code == 200
    assert active.json()["active"] is True
    items = (await client.get(f"/v1/claimed-devices/{tagged}/provisioning", headers=ADMIN)).json()["items"]
    assert [next(iter(item["request"])) for item in items] == ["clientPrivateKeyGeneration", "finished"]
    assert all(item["ruleId"] == rule["id"] and item["status"] == "PENDING" for item in items)
    # immutable once active
    refused = await client.put(f"/v1/provisioning-rules/{rule['id']}", json=RULE, headers=ADMIN)
    assert refused.status_code == 409
    assert "active" in refused.json()["message"]
    # a new claim with the tag gets the commands
    _, later = await claimed(services, ["other"])
    assert len((await client.get(f"/v1/claimed-devices/{later}/provisioning", headers=ADMIN)).json()["items"]) == 2
    _, untagged = await claimed(services, ["else"])
    assert (await client.get(f"/v1/claimed-devices/{untagged}/provisioning", headers=ADMIN)).json()["items"] == []
    # a rule applies once per device
    async with services.storage.transaction() as tx:
        await services.provisioning.on_device_tags_in(tx, "t1", tagged, ["onboard"])
    assert len((await client.get(f"/v1/claimed-devices/{tagged}/provisioning", headers=ADMIN)).json()["items"]) == 2
    # deleted: commands stay
    assert (await client.delete(f"/v1/provisioning-rules/{rule['id']}", headers=ADMIN)).status_code == 204
    assert (await client.get(f"/v1/provisioning-rules/{rule['id']}", headers=ADMIN)).status_code == 404
    assert len((await client.get(f"/v1/claimed-devices/{tagged}/provisioning", headers=ADMIN)).json()["items"]) == 2


async def test_rule_active_on_create_and_validation(client: httpx.AsyncClient, services: Services) -> None:
    _, tagged = await claimed(services, ["nrf-cloud-onboarding"])
    body = {
        "name": "nRF Cloud Onboarding",
        "description": "Onboarding rule for nRF Cloud",
        "active": True,
        "commands": [
            {"request": {"clientPrivateKeyGeneration": {"secTag": 16842753}}},
            {"request": {"cloudAccessKeyGeneration": {"secTag": 16842753}}},
            {"request": {"serverCertificate": {"secTag": 16842753, "content": PEM}}},
        ],
        "tags": ["nrf-cloud-onboarding"],
    }
    created = await client.post("/v1/provisioning-rules", json=body, headers=ADMIN)
    assert created.status_code == 201
    assert created.json()["active"] is True
    assert len((await client.get(f"/v1/claimed-devices/{tagged}/provisioning", headers=ADMIN)).json()["items"]) == 3
    for bad in (
        {**RULE, "name": ""},
        {**RULE, "commands": []},
        {**RULE, "commands": [{"request": {"nonsense": {}}}]},
        {**RULE, "tags": []},
        {**RULE, "active": "yes"},
        {**RULE, "unknown": 1},
    ):
        refused = await client.post("/v1/provisioning-rules", json=bad, headers=ADMIN)
        assert refused.status_code == 400, bad
        assert refused.json()["message"]


async def test_tag_change_applies_rules(client: httpx.AsyncClient, services: Services) -> None:
    await client.post("/v1/provisioning-rules", json={**RULE, "active": True}, headers=ADMIN)
    _, device_id = await claimed(services)
    async with services.storage.transaction() as tx:
        await services.provisioning.on_device_tags_in(tx, "t1", device_id, ["onboard"])
        await services.provisioning.on_device_tags_in(tx, "t2", device_id, ["onboard"])  # not its tenant: nothing
    items = (await client.get(f"/v1/claimed-devices/{device_id}/provisioning", headers=ADMIN)).json()["items"]
    assert len(items) == 2


async def test_rules_need_admin_and_commands_hide_restricted(client: httpx.AsyncClient, services: Services) -> None:
    anonymous = await client.get("/v1/provisioning-rules")
    assert anonymous.status_code == 401
    # the device was claimed by an nRF owner: editors do not see it
    _, device_id = await claimed(services)
    from admittance.kernel.access import RoleName
    from admittance.kernel.principal import Principal

    editor = Principal.of(0, "t1", "ed", [RoleName.NRF_EDITOR.value])
    with pytest.raises(Exception, match="not found"):
        await services.provisioning.list_commands(editor, device_id)
    assert await services.provisioning.list_commands(nrf_owner(), device_id) == []


async def test_unclaim_drops_commands_and_a_new_claim_gets_the_rules_again(
    client: httpx.AsyncClient, services: Services
) -> None:
    await client.post("/v1/provisioning-rules", json={**RULE, "active": True}, headers=ADMIN)
    key, device_id = await claimed(services, ["onboard"])
    assert len((await client.get(f"/v1/claimed-devices/{device_id}/provisioning", headers=ADMIN)).json()["items"]) == 2
    assert (await client.delete(f"/v1/claimed-devices/{device_id}", headers=ADMIN)).status_code == 204
    assert (await client.get(f"/v1/claimed-devices/{device_id}/provisioning", headers=ADMIN)).status_code == 404
    await services.claiming.claim(nrf_owner(), mint(key, device_id), ["onboard"])
    items = (await client.get(f"/v1/claimed-devices/{device_id}/provisioning", headers=ADMIN)).json()["items"]
    assert [item["status"] for item in items] == ["PENDING", "PENDING"]
