"""Sessions, tokens and MFA over raw HTTP against the app (login, two-step MFA login, enrollment),
every secret sent or received registered with tests/support/secrets.py."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx

from admittance.bootstrap import Services
from admittance.kernel import totp
from tests.support import secrets
from tests.support.credentials import ADMIN_PASSWORD

register = secrets.register
register(ADMIN_PASSWORD)

USER_PASSWORD = "user-Secret-789"
register(USER_PASSWORD)


def basic(user: str, password: str) -> dict[str, str]:
    register(password)
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    register(token)
    return {"Authorization": f"Bearer {token}"}


def plain(token: str) -> dict[str, str]:
    register(token)
    return {"Authorization": token}


ADMIN = basic("t1/admin", ADMIN_PASSWORD)


def assert_error(response: httpx.Response, status: int, message: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["statusCode"] == status
    assert isinstance(body["error"], str)
    assert message in body["message"], body
    return body


async def make_user(
    services: Services, username: str, password: str = USER_PASSWORD, roles: tuple[str, ...] = ()
) -> int:
    register(password)
    user = await services.identity.create_user("t1", username, password, roles)
    return user.id


async def sql(services: Services, statement: str, **params: Any) -> None:
    async with services.database.transaction() as executor:
        await executor.execute(statement, params)


async def set_user(services: Services, user_id: int, **columns: Any) -> None:
    for name, value in columns.items():
        await sql(services, f"UPDATE users SET {name} = :v WHERE id = :id", v=value, id=user_id)


async def login(client: httpx.AsyncClient, username: str, password: str, **extra: Any) -> httpx.Response:
    register(password)
    response = await client.post("/api/login", json={"username": username, "password": password, **extra})
    if response.status_code == 200:
        body = response.json()
        register(body.get("token"), body.get("secret"))
    return response


async def token_of(client: httpx.AsyncClient, username: str, password: str = USER_PASSWORD, **extra: Any) -> str:
    response = await login(client, username, password, **extra)
    assert response.status_code == 200, response.text
    token = response.json()["token"]
    assert isinstance(token, str)
    return token


def secret_of(uri: str) -> str:
    query = uri.split("?", 1)[1]
    fields = dict(part.split("=", 1) for part in query.split("&"))
    register(fields["secret"])
    return fields["secret"]


def code(secret: str, at: float, offset_steps: int = 0) -> str:
    value = totp.code_at(secret, at + offset_steps * totp.PERIOD_SECONDS)
    register(value)
    return value


async def enroll(client: httpx.AsyncClient, token: str) -> tuple[str, list[str]]:
    enable = await client.post("/api/mfa/enable", headers=bearer(token))
    assert enable.status_code == 200, enable.text
    secret = secret_of(enable.json()["uri"])
    validate = await client.post("/api/mfa/validate", json={"otp": code(secret, time.time())}, headers=bearer(token))
    assert validate.status_code == 200, validate.text
    codes = validate.json()["backupCodes"]
    register(*codes)
    return secret, codes


async def challenge(client: httpx.AsyncClient, username: str) -> str:
    response = await login(client, username, USER_PASSWORD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["needsMfa"] is True
    assert body["token"] is None
    assert body["permissions"] == []
    assert body["secret"].startswith("admfa_")
    return str(body["secret"])


async def mfa_login(client: httpx.AsyncClient, username: str, secret: str, **factor: str) -> httpx.Response:
    response = await client.post("/api/mfa/login", json={"username": username, "secret": secret, **factor})
    if response.status_code == 200:
        register(response.json()["token"])
    return response
