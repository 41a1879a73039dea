"""The native claim token endpoints (/admittance/v1/nrf) and `admittance nrf` on SQLite and
PostgreSQL: identity key import (CSV with PEM or base64 DER, JSON), list, delete, challenges and the
verification mode."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from admittance.bootstrap import Services
from admittance.cli.main import main
from admittance.storage.location import DatabaseLocation
from tests.support.credentials import ADMIN_PASSWORD, SECRET_KEY
from tests.support.nrf import device_key, mint, new_uuid, public_pem

ADMIN = httpx.BasicAuth("t1/admin", ADMIN_PASSWORD)
BASE = "/admittance/v1/nrf"
_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _der_b64(key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


async def _claimable(services: Services, token: str) -> None:
    async with services.storage.transaction() as tx:
        await services.claim_verifier.verify_in(tx, "t1", token, consume=False)


async def test_import_list_delete(client: httpx.AsyncClient, services: Services) -> None:
    keys = {new_uuid(): device_key() for _ in range(3)}
    (a, ka), (b, kb), (c, kc) = keys.items()
    csv_body = f'deviceUuid,publicKey\n{a},"{public_pem(ka)}"\n{b.upper()},{_der_b64(kb)}\n'
    answer = await client.post(
        f"{BASE}/identity-keys", content=csv_body, headers={"content-type": "text/csv"}, auth=ADMIN
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"created": 2, "updated": 0}
    raw_point = kc.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    json_body = [
        {"deviceUuid": a, "publicKey": public_pem(kc)},
        {"deviceUuid": c, "publicKey": base64.urlsafe_b64encode(raw_point).decode()},
    ]
    answer = await client.post(f"{BASE}/identity-keys", json=json_body, auth=ADMIN)
    assert answer.json() == {"created": 1, "updated": 1}
    # a's key was replaced: a token of the old key no longer verifies, one of the new key does.
    with pytest.raises(Exception, match="does not verify"):
        await _claimable(services, mint(ka, a))
    await _claimable(services, mint(kc, a))
    await _claimable(services, mint(kb, b))

    listed = (await client.get(f"{BASE}/identity-keys", params={"pageSize": 2}, auth=ADMIN)).json()
    assert listed["total"] == 3
    assert [k["deviceUuid"] for k in listed["keys"]] == sorted(keys)[:2]
    assert listed["keys"][0]["publicKey"].startswith("-----BEGIN PUBLIC KEY-----")
    rest = (await client.get(listed["next"], auth=ADMIN)).json()
    assert [k["deviceUuid"] for k in rest["keys"]] == sorted(keys)[2:]

    assert (await client.delete(f"{BASE}/identity-keys/{b}", auth=ADMIN)).status_code == 204
    gone = await client.delete(f"{BASE}/identity-keys/{b}", auth=ADMIN)
    assert gone.status_code == 404
    assert (await client.delete(f"{BASE}/identity-keys/not-a-uuid", auth=ADMIN)).status_code == 404
    assert (await client.get(f"{BASE}/identity-keys", auth=ADMIN)).json()["total"] == 2


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("", "empty"),
        ("not-a-uuid,key\n", "Row 1: deviceUuid must be a UUID"),
        ("{u},not-base64!\n", "Row 1: publicKey is not a public key"),
        ("{u},{rsa}\n", "Row 1: publicKey must be an EC P-256 key"),
        ("{u},{p384}\n", "must be an EC P-256 key"),
        ("{u},{p256}\n{u},{p256}\n", "Row 2: device {u} appears twice"),
        ("{u}\n", "Row 1: two columns"),
        ("[1]", "Item 1: an object"),
        ('[{{"deviceUuid": "{u}"}}]', "Item 1: publicKey is missing"),
        ("[", "not valid JSON"),
        ('{{"keys": 1}}', "must be a JSON array"),
    ],
)
async def test_bad_imports_are_refused_naming_the_row(client: httpx.AsyncClient, body: str, fragment: str) -> None:
    u = new_uuid()
    rsa_der = _RSA_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    p384 = (
        ec.generate_private_key(ec.SECP384R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    values = {
        "u": u,
        "rsa": base64.b64encode(rsa_der).decode(),
        "p384": base64.b64encode(p384).decode(),
        "p256": _der_b64(device_key()),
    }
    answer = await client.post(
        f"{BASE}/identity-keys", content=body.format(**values), headers={"content-type": "text/csv"}, auth=ADMIN
    )
    assert answer.status_code in (400, 422), answer.text
    assert fragment.format(**values) in answer.text
    assert (await client.get(f"{BASE}/identity-keys", auth=ADMIN)).json()["total"] == 0


async def test_challenges_and_mode(client: httpx.AsyncClient, services: Services) -> None:
    answer = await client.post(f"{BASE}/challenges", auth=ADMIN)
    assert answer.status_code == 201
    document = answer.json()
    assert len(document["challenge"]) == 32
    int(document["challenge"], 16)
    expires = datetime.fromisoformat(document["expiresAt"].replace("Z", "+00:00"))
    assert 590 <= (expires - datetime.now(UTC)).total_seconds() <= 610

    assert (await client.get(f"{BASE}/claim-verification", auth=ADMIN)).json() == {"mode": "known-keys"}
    answer = await client.put(f"{BASE}/claim-verification", json={"mode": "structure-only"}, auth=ADMIN)
    assert answer.json() == {"mode": "structure-only"}
    await _claimable(services, mint(nonce=bytes.fromhex(document["challenge"])))
    bad = await client.put(f"{BASE}/claim-verification", json={"mode": "anything"}, auth=ADMIN)
    assert bad.status_code == 422
    assert "Unknown claim verification mode" in bad.text
    assert (await client.get(f"{BASE}/claim-verification")).status_code == 401


def test_cli_import_keys_and_mode(location: DatabaseLocation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in os.environ:
        if name.startswith("ADMITTANCE_"):
            monkeypatch.delenv(name)
    url = location.postgres_url or f"sqlite:///{location.sqlite_path}"

    def cli(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(
            main,
            ["--data-dir", str(tmp_path / "data"), "--database-url", url, *args],
            env={"ADMITTANCE_SECRET_KEY": SECRET_KEY},
        )
        return result.exit_code, result.output

    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps([{"deviceUuid": new_uuid(), "publicKey": public_pem(device_key())}]))
    assert cli("nrf", "import-keys", str(keys)) == (0, "Imported 1 identity keys (1 new, 0 replaced)\n")
    csv_file = tmp_path / "keys.csv"
    csv_file.write_text(f"{new_uuid()},{_der_b64(device_key())}\n")
    assert cli("nrf", "import-keys", str(csv_file), "--tenant", "t1")[0] == 0
    code, output = cli("nrf", "import-keys", str(csv_file), "--tenant", "nope")
    assert code == 1
    assert "There is no tenant nope" in output
    csv_file.write_text("x,y\n")
    code, output = cli("nrf", "import-keys", str(csv_file))
    assert code == 1
    assert "Row 1: deviceUuid must be a UUID" in output
    assert cli("nrf", "claim-verification", "structure-only") == (
        0,
        "Claim verification of tenant t1: structure-only\n",
    )
    assert cli("nrf", "claim-verification", "bogus")[0] == 2
