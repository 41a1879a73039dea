"""Brute-force protection over HTTP: temporary lockout per account name (known or not, alike) and per
source address, on /api/login, Basic authentication of every surface, change-password and the MFA
code checks; 429 with Retry-After. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from admittance.bootstrap import Services, first_start
from admittance.http.app import create_app
from admittance.settings import Settings
from tests.support.credentials import ADMIN_PASSWORD
from tests.support.services import build
from tests.support.sessions import (
    ADMIN,
    USER_PASSWORD,
    assert_error,
    basic,
    bearer,
    challenge,
    enroll,
    login,
    make_user,
    mfa_login,
    token_of,
)
from tests.support.settings import with_settings


@pytest.fixture
async def strict(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    """An app with small limits: 3 failures per account, 8 per source address, 2 bad codes."""
    tight = with_settings(
        settings, auth_failures_per_user=3, auth_failures_per_source=8, mfa_max_invalid_otps_per_user=2
    )
    services = await build(tight)
    try:
        await first_start(services)
        transport = httpx.ASGITransport(app=create_app(tight, services), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client, services
    finally:
        await services.close()


def assert_locked(response: httpx.Response, most: int = 60) -> int:
    assert response.status_code == 429, response.text
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= most
    return retry_after


async def test_known_and_unknown_names_are_locked_alike(client: httpx.AsyncClient) -> None:
    answers = {}
    for name in ("t1/admin", "t1/ghost"):
        for _ in range(10):  # the default: 10 failures per account
            assert_error(await login(client, name, "wrong-password"), 401)
        locked = await login(client, name, ADMIN_PASSWORD)
        assert_locked(locked)
        answers[name] = (locked.status_code, locked.json(), locked.headers["retry-after"])
    assert answers["t1/admin"][:2] == answers["t1/ghost"][:2]
    # Basic authentication of the account on another surface is locked too; other accounts are not.
    assert_locked(await client.get("/devicecontrol/newDeviceRequests", headers=ADMIN))
    assert (await client.get("/api/session", headers=basic("management/devicebootstrap", "x"))).status_code == 401


async def test_the_lock_covers_basic_auth_failures_on_every_surface(strict: tuple[httpx.AsyncClient, Services]) -> None:
    client, _ = strict
    wrong = basic("t1/admin", "wrong-password")
    assert (await client.get("/devicecontrol/newDeviceRequests", headers=wrong)).status_code == 401
    assert (await client.get("/api/session", headers=wrong)).status_code == 401
    assert (await client.get("/admittance/v1/jobs", headers=wrong)).status_code == 401
    assert_locked(await login(client, "t1/admin", ADMIN_PASSWORD))


async def test_a_source_address_is_locked_after_its_failures(strict: tuple[httpx.AsyncClient, Services]) -> None:
    client, _ = strict
    for n in range(8):
        assert_error(await login(client, f"t1/nobody{n}", "wrong-password"), 401)
    assert_locked(await login(client, "t1/admin", ADMIN_PASSWORD))
    assert_locked(await client.get("/api/session", headers=ADMIN))


async def test_change_password_failures_count(strict: tuple[httpx.AsyncClient, Services]) -> None:
    client, services = strict
    await make_user(services, "uma")
    token = await token_of(client, "t1/uma")
    body = {"password": "wrong-password", "newPassword": "Good-Secret-99"}
    for _ in range(3):
        assert_error(await client.put("/api/users/change-password", json=body, headers=bearer(token)), 403)
    body["password"] = USER_PASSWORD
    assert_locked(await client.put("/api/users/change-password", json=body, headers=bearer(token)))
    # the token itself still works: the lock is on password checks
    assert (await client.get("/api/session", headers=bearer(token))).status_code == 200


async def test_bad_codes_lock_mfa_for_known_and_unknown_names(strict: tuple[httpx.AsyncClient, Services]) -> None:
    client, services = strict
    await make_user(services, "vera")
    token = await token_of(client, "t1/vera")
    _, codes = await enroll(client, token)
    for _ in range(2):
        assert_error(await mfa_login(client, "t1/vera", await challenge(client, "t1/vera"), otp="000000"), 401)
    assert_locked(await mfa_login(client, "t1/vera", await challenge(client, "t1/vera"), backupCode=codes[0]), 900)
    assert_locked(await client.post("/api/mfa/disable", json={"backupCode": codes[0]}, headers=bearer(token)), 900)
    for _ in range(2):
        assert_error(await mfa_login(client, "t1/ghost", "admfa_" + "x" * 43, otp="000000"), 401)
    assert_locked(await mfa_login(client, "t1/ghost", "admfa_" + "x" * 43, otp="000000"), 900)
