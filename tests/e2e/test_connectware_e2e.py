"""End to end over real HTTP: the Connectware-compatible /api on two `admittance serve` processes that
share one PostgreSQL database. A user created on one process logs in on the other; its token works on
the Cumulocity surface of the first; revoking it on one process refuses it on the other at once; the
broker hook answers a real HTTP call from loopback with the same identity."""

from __future__ import annotations

import httpx
import pytest

from tests.support import secrets
from tests.support.credentials import ADMIN_PASSWORD
from tests.support.databases import new_postgres_database
from tests.support.postgres import PostgresServer
from tests.support.server import Start

pytestmark = pytest.mark.e2e

OPERATOR_PASSWORD = "Operator-e2e-Secret-7"
ADMIN = ("t1/admin", ADMIN_PASSWORD)
secrets.register(ADMIN_PASSWORD, OPERATOR_PASSWORD)


def bearer(token: str) -> dict[str, str]:
    secrets.register(token)
    return {"Authorization": f"Bearer {token}"}


def test_tokens_and_permissions_hold_across_two_processes_on_one_postgresql(
    start: Start, postgres: PostgresServer
) -> None:
    url = new_postgres_database(postgres)
    first, second = start(url), start(url)
    created = httpx.post(
        f"{first.base_url}/api/users",
        json={"username": "operator.e2e", "password": OPERATOR_PASSWORD, "roles": ["ROLE_DEVICE_CONTROL_ADMIN"]},
        auth=ADMIN,
    )
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    listed = httpx.get(f"{second.base_url}/api/listUsers", auth=ADMIN).json()["users"]
    assert {"operator.e2e", "admin", "devicebootstrap"} <= {user["username"] for user in listed}

    login = httpx.post(
        f"{second.base_url}/api/login", json={"username": "t1/operator.e2e", "password": OPERATOR_PASSWORD}
    )
    assert login.status_code == 200, login.text
    token = login.json()["token"]
    assert token.startswith("adm_")
    assert login.json()["needsMfa"] is False

    # The token of the second process works on the first, on the Cumulocity surface too.
    requested = httpx.post(
        f"{first.base_url}/devicecontrol/newDeviceRequests", json={"id": "e2e-token-1"}, headers=bearer(token)
    )
    assert requested.status_code == 201, requested.text
    plain = {"Authorization": token}
    accepted = httpx.put(
        f"{first.base_url}/devicecontrol/newDeviceRequests/e2e-token-1", json={"status": "ACCEPTED"}, headers=plain
    )
    assert accepted.status_code == 422  # WAITING_FOR_CONNECTION: the device has not polled yet
    assert httpx.get(f"{first.base_url}/api/listUsers", headers=bearer(token)).status_code == 403
    session = httpx.get(f"{first.base_url}/api/session", headers=bearer(token)).json()
    assert session["username"] == "operator.e2e"

    # Revoked on the first process: refused by the second at once, with the uniform answer.
    assert httpx.delete(f"{first.base_url}/api/users/{user_id}/tokens", auth=ADMIN).status_code == 204
    refused = httpx.get(f"{second.base_url}/api/session", headers=bearer(token))
    assert refused.status_code == 401
    assert refused.json() == {"statusCode": 401, "error": "Unauthorized", "message": "Invalid credentials"}

    # The broker asks the first process over loopback: the same identity decides.
    hook = {
        "peer_addr": "127.0.0.1",
        "peer_port": 50000,
        "mountpoint": "",
        "client_id": "e2e-client",
        "clean_session": True,
        "username": "t1/operator.e2e",
    }
    allowed = httpx.post(
        f"{first.base_url}/api/broker/auth/auth_on_register", json={**hook, "password": OPERATOR_PASSWORD}
    )
    assert allowed.json()["result"] == "ok"
    denied = httpx.post(f"{first.base_url}/api/broker/auth/auth_on_register", json={**hook, "password": "wrong-pw-42"})
    assert denied.json() == {"result": {"error": "not_allowed"}}
