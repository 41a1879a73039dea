"""`admittance simulate nrf-device` against a real `admittance serve` (SQLite and PostgreSQL): it
registers its key, claims itself with an operator API key, and runs its provisioning commands, a
rule's CSR signed by the Admittance CA into a clientCertificate command on the way."""

from __future__ import annotations

import re

import httpx

from tests.support.credentials import ADMIN_PASSWORD
from tests.support.secrets import register
from tests.support.server import Start, run_cli

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_simulated_device_is_claimed_and_provisioned(start: Start, database_url: str) -> None:
    server = start(database_url)
    login = httpx.post(f"{server.base_url}/api/login", json={"username": "t1/admin", "password": ADMIN_PASSWORD})
    assert login.status_code == 200, login.text
    api_key = login.json()["token"]
    register(api_key)
    headers = {"Authorization": f"Bearer {api_key}"}
    rule = {
        "name": "demo",
        "active": True,
        "signCsr": True,
        "commands": [
            {"request": {"serverCertificate": {"secTag": 16842753, "content": PEM}}},
            {"request": {"certificateSigningRequest": {"secTag": 16842753, "attributes": "CN=device"}}},
            {"request": {"config": {"mode": "demo"}}},
            {"request": {"finished": {}}},
        ],
        "tags": ["demo"],
    }
    created = httpx.post(f"{server.base_url}/v1/provisioning-rules", json=rule, headers=headers)
    assert created.status_code == 201, created.text

    result = run_cli(
        "simulate", "nrf-device", "--url", server.base_url, "--api-key", api_key, "--tags", "demo", "--wait", "0.1"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "provisioning finished: 5 commands run" in result.stdout
    assert "AT%KEYGEN=16842753,2,0" in result.stdout
    device_id = re.search(r"device ([0-9a-f-]{36})", result.stdout)
    assert device_id is not None

    items = httpx.get(
        f"{server.base_url}/v1/claimed-devices/{device_id.group(1)}/provisioning", headers=headers
    ).json()["items"]
    assert [next(iter(item["request"])) for item in items] == [
        "serverCertificate",
        "certificateSigningRequest",
        "clientCertificate",
        "config",
        "finished",
    ]
    assert {item["status"] for item in items} == {"SUCCEEDED"}
    csr = items[1]["response"]["certificateSigningRequest"]["csr"]
    assert "." not in csr  # the simulator answers without the COSE part
    assert items[1]["response"]["signing"]["serial"]
    assert "BEGIN CERTIFICATE" in items[2]["request"]["clientCertificate"]["content"]
