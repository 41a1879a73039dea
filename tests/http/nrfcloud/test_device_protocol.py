"""The device-facing provisioning protocol: device JWTs, CBOR commands and responses, statuses, the
blocked device, CSR signing into a clientCertificate command. SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import contextlib
import json
import time

import cbor2
import httpx
import pytest
from cryptography import x509
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from admittance.bootstrap import Services
from admittance.claiming.device_protocol import b64url, decode_responses, parse_device_jwt, wire_commands
from admittance.claiming.provisioning_model import CommandStatus, ProvisioningCommand
from admittance.kernel.errors import MalformedInput, Unauthenticated
from tests.support.nrf import device_key, new_uuid
from tests.support.nrf_provisioning import CSR_REQUEST, add_command, answer, claimed, command, fetch, jwt, keygen_csr
from tests.support.secrets import register
from tests.support.sessions import ADMIN


async def test_204_when_nothing_and_cbor_shapes(client: httpx.AsyncClient, services: Services) -> None:
    key, device_id = await claimed(services)
    token = jwt(key, device_id)
    assert await fetch(client, token) == (204, None)
    csr = await add_command(client, device_id, CSR_REQUEST)
    config = await add_command(client, device_id, {"config": {"server": "example.com"}})
    finished = await add_command(client, device_id, {"finished": {}})
    status, commands = await fetch(client, token, rxMaxSize=4096, txMaxSize=4096, mver="2.0.1", cver="2.8.0")
    assert status == 200
    assert commands == [
        [csr["id"], 0, "%KEYGEN", '16842753,2,0,"CN=x","101010000"', []],
        [config["id"], 1, {"server": "example.com"}],
        [finished["id"], 2],
    ]
    for item in (csr, config, finished):
        assert (await command(client, device_id, item["id"]))["status"] == "IN_PROGRESS"
    # `after` skips what the device has processed; limit bounds the batch
    status, commands = await fetch(client, token, after=csr["id"], limit=1)
    assert status == 200
    assert commands == [[config["id"], 1, {"server": "example.com"}]]
    keygen = "MIIBCjCBsAIBADBO.AAAA"
    ok = await answer(
        client,
        token,
        [[csr["id"], 100, f'%KEYGEN: "{keygen}"\r\nOK\r\n'], [config["id"], 101], [finished["id"], 102]],
    )
    assert ok.status_code == 200, ok.text
    done = await command(client, device_id, csr["id"])
    assert done["status"] == "SUCCEEDED"
    assert done["response"]["certificateSigningRequest"]["csr"] == keygen
    assert (await command(client, device_id, config["id"]))["response"] == {"config": {}}
    assert (await command(client, device_id, finished["id"]))["status"] == "SUCCEEDED"
    assert await fetch(client, token) == (204, None)


async def test_error_response_fails_the_command(client: httpx.AsyncClient, services: Services) -> None:
    key, device_id = await claimed(services)
    token = jwt(key, device_id)
    first = await add_command(client, device_id, {"clientCertificate": {"secTag": 5, "content": "-----BEGIN X-----"}})
    second = await add_command(client, device_id, {"finished": {}})
    _, commands = await fetch(client, token)
    assert commands is not None
    assert commands[0][2:4] == ["%CMNG", '0,5,1,"-----BEGIN X-----"']
    await answer(client, token, [[first["id"], 99, 514, "+CME ERROR: 514"]])
    failed = await command(client, device_id, first["id"])
    assert failed["status"] == "FAILED"
    assert failed["response"] == {"error": {"cmeError": 514, "message": "+CME ERROR: 514"}}
    # the device stopped at the error: the rest is delivered again
    _, commands = await fetch(client, token, after=first["id"])
    assert commands == [[second["id"], 2]]


async def test_jwt_refusals(client: httpx.AsyncClient, services: Services) -> None:
    key, device_id = await claimed(services)
    await add_command(client, device_id, {"finished": {}})
    now = int(time.time())
    no_auth = await client.get("/v1/provisioning/commands")
    assert no_auth.status_code == 401
    assert (await fetch(client, "garbage"))[0] == 401
    assert (await fetch(client, jwt(key, device_id, now=now - 1000, lifetime=300)))[0] == 403  # expired
    assert (await fetch(client, jwt(device_key(), device_id)))[0] == 403  # wrong key
    assert (await fetch(client, jwt(key, new_uuid())))[0] == 403  # not claimed
    assert (await fetch(client, jwt(key, device_id, now=now + 3600)))[0] == 403  # issued in the future
    assert (await fetch(client, jwt(key, device_id, lifetime=604800 + 3600)))[0] == 403  # lives too long
    # alg none / HS256 refused
    header = b64url(json.dumps({"alg": "HS256"}).encode())
    claims = b64url(json.dumps({"iss": device_id, "exp": now + 60}).encode())
    forged = f"{header}.{claims}.{b64url(bytes(64))}"
    register(forged)
    assert (await fetch(client, forged))[0] == 401
    # still pending after all that
    items = (await client.get(f"/v1/claimed-devices/{device_id}/provisioning", headers=ADMIN)).json()["items"]
    assert items[0]["status"] == "PENDING"
    # `sub` is accepted in place of `iss`
    signed = jwt(key, device_id)
    _head, payload, _ = signed.split(".")
    claims_doc = json.loads(base64.urlsafe_b64decode(payload + "=="))
    assert claims_doc["iss"] == device_id
    assert (await fetch(client, signed))[0] == 200


async def test_blocked_device_refused_and_commands_stay_pending(client: httpx.AsyncClient, services: Services) -> None:
    key, device_id = await claimed(services)
    made = await add_command(client, device_id, {"finished": {}})
    async with services.storage.transaction() as tx:
        await tx.executor.execute("UPDATE claimed_devices SET status = 'BLOCKED' WHERE id = :id", {"id": device_id})
    token = jwt(key, device_id)
    assert (await fetch(client, token))[0] == 403
    refused = await answer(client, token, [[made["id"], 102]])
    assert refused.status_code == 403
    assert (await command(client, device_id, made["id"]))["status"] == "PENDING"


async def test_device_without_identity_key_refused(client: httpx.AsyncClient, services: Services) -> None:
    key, device_id = await claimed(services)
    async with services.storage.transaction() as tx:
        await tx.executor.execute(
            "UPDATE claimed_devices SET identity_key_pem = NULL WHERE id = :id", {"id": device_id}
        )
    response = await client.get("/v1/provisioning/commands", headers={"Authorization": f"Bearer {jwt(key, device_id)}"})
    assert response.status_code == 403
    assert "identity key" in response.json()["message"]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\xff\xff",
        cbor2.dumps({"a": 1}),
        cbor2.dumps([]),
        cbor2.dumps([["id", 100]]),
        cbor2.dumps([[1, 100, "x"]]),
    ],
)
async def test_malformed_responses(client: httpx.AsyncClient, services: Services, body: bytes) -> None:
    key, device_id = await claimed(services)
    response = await client.post(
        "/v1/provisioning/response",
        content=body,
        headers={"Authorization": f"Bearer {jwt(key, device_id)}", "Content-Type": "application/cbor"},
    )
    assert response.status_code == 400, response.text


async def test_csr_signed_into_client_certificate(client: httpx.AsyncClient, services: Services) -> None:
    rule = {
        "name": "sign",
        "active": True,
        "signCsr": True,
        "commands": [
            {"request": {"certificateSigningRequest": {"secTag": 42, "attributes": "CN=device"}}},
            {"request": {"finished": {}}},
        ],
        "tags": ["sign"],
    }
    assert (await client.post("/v1/provisioning-rules", json=rule, headers=ADMIN)).status_code == 201
    key, device_id = await claimed(services, ["sign"])
    token = jwt(key, device_id)
    status, commands = await fetch(client, token)
    assert status == 200
    assert commands is not None
    assert len(commands) == 1
    csr_id = commands[0][0]
    keygen = keygen_csr(key, device_id)
    assert (await answer(client, token, [[csr_id, 100, f'%KEYGEN: "{keygen}"']])).status_code == 200
    answered = await command(client, device_id, csr_id)
    assert answered["status"] == "SUCCEEDED"
    assert answered["response"]["certificateSigningRequest"]["csr"] == keygen
    assert answered["response"]["signing"]["serial"]
    _, commands = await fetch(client, token, after=csr_id)
    assert commands is not None
    assert [c[1] for c in commands] == [0, 2]
    assert commands[0][2] == "%CMNG"
    assert commands[0][3].startswith("0,42,1,")
    pem = commands[0][3].split(",", 3)[3].strip('"')
    certificate = x509.load_pem_x509_certificate(pem.encode())
    assert device_id in certificate.subject.rfc4514_string()
    assert certificate.public_key() == key.public_key()
    # a CSR with another CN is not signed, and the command still succeeds with the reason
    other_key, other = await claimed(services, ["sign"])
    other_token = jwt(other_key, other)
    _, commands = await fetch(client, other_token)
    assert commands is not None
    await answer(client, other_token, [[commands[0][0], 100, keygen_csr(other_key, "someone-else")]])
    result = await command(client, other, commands[0][0])
    assert result["status"] == "SUCCEEDED"
    assert "error" in result["response"]["signing"]


async def test_pre_shared_key_two_writes(client: httpx.AsyncClient, services: Services) -> None:
    key, device_id = await claimed(services)
    token = jwt(key, device_id)
    made = await add_command(client, device_id, {"preSharedKey": {"secTag": 9, "identity": "me", "secret": "00ff"}})
    _, commands = await fetch(client, token)
    assert commands is not None
    assert [c[0] for c in commands] == [made["id"] + ".identity", made["id"]]
    await answer(client, token, [[made["id"] + ".identity", 100, "OK"]])
    assert (await command(client, device_id, made["id"]))["status"] == "IN_PROGRESS"
    await answer(client, token, [[made["id"], 100, "OK"]])
    assert (await command(client, device_id, made["id"]))["status"] == "SUCCEEDED"


def test_wire_mapping_of_every_type() -> None:
    from datetime import UTC, datetime

    def make(request: dict[str, object]) -> ProvisioningCommand:
        now = datetime.now(UTC)
        return ProvisioningCommand("c", "d", "t", 1, "", request, None, CommandStatus.PENDING, None, now, now)

    assert wire_commands(make({"clientPrivateKeyGeneration": {"secTag": 3}})) == [["c", 0, "%KEYGEN", "3,2,1", []]]
    assert wire_commands(make({"cloudAccessKeyGeneration": {"secTag": 3}})) == [["c", 0, "%KEYGEN", "3,2,1", []]]
    assert wire_commands(make({"certificateSigningRequest": {"secTag": 3}})) == [["c", 0, "%KEYGEN", "3,2,0", []]]
    assert wire_commands(make({"serverCertificate": {"secTag": 3, "content": "P"}})) == [
        ["c", 0, "%CMNG", '0,3,0,"P"', []]
    ]
    assert wire_commands(make({"clientPrivateKey": {"secTag": 3, "content": "K", "password": "pw"}})) == [
        ["c", 0, "%CMNG", '0,3,2,"K","pw"', []]
    ]
    assert wire_commands(make({"preSharedKey": {"secTag": 3, "identity": "me", "secret": "00ff"}})) == [
        ["c.identity", 0, "%CMNG", '0,3,4,"me"', []],
        ["c", 0, "%CMNG", '0,3,3,"00ff"', []],
    ]
    assert wire_commands(make({"config": {"a": "b"}})) == [["c", 1, {"a": "b"}]]
    assert wire_commands(make({"finished": {}})) == [["c", 2]]


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=200)
    | st.recursive(st.none() | st.integers() | st.text(max_size=8), st.lists, max_leaves=8).map(cbor2.dumps)
)
def test_decode_responses_never_crashes(body: bytes) -> None:
    with contextlib.suppress(MalformedInput):
        decode_responses(body)


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_parse_device_jwt_never_crashes(token: str) -> None:
    with contextlib.suppress(Unauthenticated):
        parse_device_jwt(token)
