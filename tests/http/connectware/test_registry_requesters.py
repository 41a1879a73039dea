"""Only the original requester polls an entry: impostors with another password or another key get the
uniform 401 on a granted entry (and cannot collect it) or 409 on a pending one (no squatting), the
entry unchanged; failures count like failed logins (429 after the account's limit). 409 for an existing
user; 400 for a CN mismatch, an invalid CSR, a bad username or a short password. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from admittance.bootstrap import Services, first_start
from admittance.http.app import create_app
from admittance.settings import Settings
from tests.support.connectware import assert_error, create_user
from tests.support.registry import (
    DEVICE_PASSWORD,
    OTHER_PASSWORD,
    certificate_of,
    confirm,
    csr_b64,
    device_key,
    entries,
    entry,
    opened,
    register,
)
from tests.support.services import build
from tests.support.settings import with_settings


async def test_impostors_cannot_collect_a_granted_certificate(client: httpx.AsyncClient) -> None:
    key, other = device_key(), device_key()
    await opened(client)
    assert (await register(client, "victim.cert", csr=csr_b64(key, "victim.cert"))).status_code == 202
    await confirm(client, "victim.cert")
    before = await entry(client, "victim.cert")

    # Another key with the right CN, a password instead of the CSR, nothing usable: the uniform 401.
    for attempt in (
        {"csr": csr_b64(other, "victim.cert")},
        {"password": OTHER_PASSWORD},
        {"password": OTHER_PASSWORD, "csr": csr_b64(other, "victim.cert")},
    ):
        refused = await register(client, "victim.cert", **attempt)
        body = assert_error(refused, 401)
        assert body["message"] == "Invalid credentials"
        assert "certificate" not in refused.text
    assert await entry(client, "victim.cert") == before
    # The device itself still collects it.
    certificate_of(await register(client, "victim.cert", csr=csr_b64(key, "victim.cert")))


async def test_impostor_password_on_a_granted_password_entry(client: httpx.AsyncClient) -> None:
    await opened(client)
    await register(client, "victim.pass", password=DEVICE_PASSWORD)
    await confirm(client, "victim.pass")
    assert_error(await register(client, "victim.pass", password=OTHER_PASSWORD), 401)
    assert_error(await register(client, "victim.pass", csr=csr_b64(device_key(), "victim.pass")), 401)
    assert (await register(client, "victim.pass", password=DEVICE_PASSWORD)).status_code == 201


async def test_squatting_a_pending_entry_is_refused(client: httpx.AsyncClient) -> None:
    key = device_key()
    await opened(client)
    first = await register(client, "squatted", csr=csr_b64(key, "squatted"), context="the real device")
    assert first.status_code == 202
    before = await entry(client, "squatted")
    squat = await register(client, "squatted", csr=csr_b64(device_key(), "squatted"), context="a squatter")
    assert_error(squat, 409, "pending")
    assert_error(await register(client, "squatted", password=OTHER_PASSWORD), 409)
    after = await entry(client, "squatted")
    assert after == before
    assert len(await entries(client)) == 1
    # The same for a password entry.
    await register(client, "squatted.pw", password=DEVICE_PASSWORD)
    assert_error(await register(client, "squatted.pw", password=OTHER_PASSWORD), 409)
    polled = await register(client, "squatted.pw", password=DEVICE_PASSWORD)
    assert polled.status_code == 202
    assert polled.json()["pairingCode"] == (await entry(client, "squatted.pw"))["pairingCode"]


async def test_same_requester_updates_its_wishes(client: httpx.AsyncClient) -> None:
    key = device_key()
    await opened(client)
    await register(client, "changes.mind", csr=csr_b64(key, "changes.mind"), context="first")
    await register(client, "changes.mind", csr=csr_b64(key, "changes.mind"), context="second", roles=["minimum-access"])
    listed = await entry(client, "changes.mind")
    assert (listed["context"], listed["roles"]) == ("second", ["minimum-access"])


async def test_existing_user_is_a_conflict(client: httpx.AsyncClient) -> None:
    await create_user(client, "taken.name")
    await opened(client)
    assert_error(await register(client, "taken.name", csr=csr_b64(device_key(), "taken.name")), 409)
    assert_error(await register(client, "admin", password=DEVICE_PASSWORD), 409)
    assert await entries(client) == []
    # A user created while a request is pending makes its confirmation a conflict.
    await register(client, "late.clash", password=DEVICE_PASSWORD)
    await create_user(client, "late.clash")
    assert_error(await confirm(client, "late.clash"), 409)
    assert (await entry(client, "late.clash"))["granted"] is False


async def test_rules_are_400(client: httpx.AsyncClient) -> None:
    key = device_key()
    await opened(client)
    cases = [
        ({"csr": csr_b64(key, "someone.else")}, "cn.mismatch", "CN"),
        ({"csr": csr_b64(key, None)}, "no.cn", "CN"),
        ({"csr": csr_b64(key, "")}, "empty.cn", ""),
        ({"csr": "bm90IGEgY3NyIGF0IGFsbA=="}, "broken.csr", "csr"),
        ({"csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"}, "bad.pem", "csr"),
        ({"csr": ""}, "empty.csr", "csr"),
        ({"password": "abc"}, "short.password", "password"),
        ({"password": DEVICE_PASSWORD}, "ab", "username"),
        ({"password": DEVICE_PASSWORD}, "has-hyphen", "username"),
        ({"password": DEVICE_PASSWORD}, "device_reserved", "reserved"),
        ({"password": DEVICE_PASSWORD}, ".dot.first", "username"),
        ({}, "no.credentials", "password or csr"),
    ]
    for fields, username, message in cases:
        response = await register(client, username, **fields)
        assert_error(response, 400, message)
    # A field of the wrong type, a malformed permission, an over-long context.
    wrong = await client.post("/api/client-registry/register", json={"username": "x.y.z", "password": 12345678})
    assert_error(wrong, 400)
    bad_permission = await register(
        client, "bad.permission", password=DEVICE_PASSWORD, permissions=[{"resource": "a", "operation": "eat"}]
    )
    assert_error(bad_permission, 400)
    assert_error(await register(client, "long.context", password=DEVICE_PASSWORD, context="x" * 1001), 400)
    not_json = await client.post(
        "/api/client-registry/register", content=b"{", headers={"content-type": "application/json"}
    )
    assert_error(not_json, 400)
    assert await entries(client) == []


async def test_rules_apply_while_locked_too(client: httpx.AsyncClient) -> None:
    """Validation comes first: a bad request is a 400 whether or not the window is open."""
    assert_error(await register(client, "cn.locked", csr=csr_b64(device_key(), "other")), 400)
    assert_error(await register(client, "fine.locked", password=DEVICE_PASSWORD), 423)


@pytest.fixture
async def tight(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    """Small limits: 3 new requests per address, 3 failures per account."""
    changed = with_settings(settings, client_registry_new_per_source=3, auth_failures_per_user=3)
    services = await build(changed)
    try:
        await first_start(services)
        transport = httpx.ASGITransport(app=create_app(changed, services), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client, services
    finally:
        await services.close()


async def test_new_requests_are_rate_limited_per_address(tight: tuple[httpx.AsyncClient, Services]) -> None:
    client, _ = tight
    await opened(client)
    for index in range(3):
        assert (await register(client, f"flood.{index}", password=DEVICE_PASSWORD)).status_code == 202
    limited = await register(client, "flood.3", password=DEVICE_PASSWORD)
    assert_error(limited, 429)
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    # Polls of existing entries are not new requests.
    assert (await register(client, "flood.0", password=DEVICE_PASSWORD)).status_code == 202
    assert len(await entries(client)) == 3


async def test_mismatched_polls_count_like_failed_logins(tight: tuple[httpx.AsyncClient, Services]) -> None:
    client, _ = tight
    await opened(client)
    await register(client, "guessed", password=DEVICE_PASSWORD)
    for _ in range(3):
        assert_error(await register(client, "guessed", password=OTHER_PASSWORD), 409)
    # The account name is locked now: even the right password waits.
    assert_error(await register(client, "guessed", password=DEVICE_PASSWORD), 429)
    login = await client.post("/api/login", json={"username": "guessed", "password": DEVICE_PASSWORD})
    assert login.status_code == 429
