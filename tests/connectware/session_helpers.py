"""Helpers of the session, token, MFA and lockout tests: raw HTTP against the app, every secret sent
or received registered with tests/support/secrets.py."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from admittance.bootstrap import Services
from admittance.kernel import totp
from tests.conftest import ADMIN_PASSWORD
from tests.support import secrets

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
