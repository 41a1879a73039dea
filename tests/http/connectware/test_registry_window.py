"""The client registry's window: open with a duration (the seed's default 30000 ms, bounds 1 s .. 24 h),
locks again by itself, closes on demand, and lives in the database so that two service instances on
one database agree. The operator endpoints' 401/403 boundaries. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx

from admittance.bootstrap import Services
from admittance.http.app import create_app
from admittance.settings import Settings
from tests.support.connectware import ANONYMOUS, api, assert_error, create_user, person
from tests.support.registry import DEVICE_PASSWORD, confirm, csr_b64, device_key, open_registry, opened, register
from tests.support.services import build


async def status(client: httpx.AsyncClient) -> dict[str, object]:
    response = await api(client, "GET", "/api/client-registry/status")
    assert response.status_code == 200, response.text
    found: dict[str, object] = response.json()
    return found


async def test_locked_by_default_open_and_close(client: httpx.AsyncClient) -> None:
    assert await status(client) == {"locked": True, "openUntil": None}
    assert_error(await register(client, "early.bird", password=DEVICE_PASSWORD), 423)
    assert (await open_registry(client, None)).status_code == 204  # no body: the seed's default
    opened_status = await status(client)
    assert opened_status["locked"] is False
    until = datetime.fromisoformat(str(opened_status["openUntil"]).replace("Z", "+00:00"))
    assert timedelta(seconds=25) < until - datetime.now(UTC) <= timedelta(seconds=30)
    assert (await register(client, "early.bird", password=DEVICE_PASSWORD)).status_code == 202
    assert (await api(client, "POST", "/api/client-registry/close")).status_code == 204
    assert (await status(client))["locked"] is True
    assert_error(await register(client, "late.bird", password=DEVICE_PASSWORD), 423)
    # A pending entry stays pending while the window is locked, and can still be granted.
    assert (await register(client, "early.bird", password=DEVICE_PASSWORD)).status_code == 202
    assert (await confirm(client, "early.bird")).status_code == 200
    assert (await register(client, "early.bird", password=DEVICE_PASSWORD)).status_code == 201
    # Closing a closed registry is fine.
    assert (await api(client, "POST", "/api/client-registry/close")).status_code == 204


async def test_duration_bounds(client: httpx.AsyncClient) -> None:
    for duration in (999, 24 * 3600 * 1000 + 1, 0, -5):
        assert_error(await open_registry(client, duration), 422, "duration")
    for duration in ("30000", 1.5, True):
        assert_error(await api(client, "POST", "/api/client-registry/open", {"duration": duration}), 400)
    assert_error(await api(client, "POST", "/api/client-registry/open", [1]), 400)
    assert (await status(client))["locked"] is True
    assert (await open_registry(client, 24 * 3600 * 1000)).status_code == 204
    # Opening again replaces the deadline (here: shortens it).
    assert (await open_registry(client, 1000)).status_code == 204
    until = datetime.fromisoformat(str((await status(client))["openUntil"]).replace("Z", "+00:00"))
    assert until - datetime.now(UTC) <= timedelta(seconds=1)


async def test_window_locks_again_by_itself(client: httpx.AsyncClient) -> None:
    await opened(client, 1000)
    assert (await register(client, "in.time", password=DEVICE_PASSWORD)).status_code == 202
    await asyncio.sleep(1.2)
    assert (await status(client))["locked"] is True
    assert_error(await register(client, "too.late", password=DEVICE_PASSWORD), 423)
    assert (await register(client, "in.time", password=DEVICE_PASSWORD)).status_code == 202


async def test_two_instances_share_the_window(
    client: httpx.AsyncClient, settings: Settings, services: Services
) -> None:
    other = await build(settings)
    try:
        transport = httpx.ASGITransport(app=create_app(settings, other), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as second:
            assert await other.client_registry.open_until("t1") is None
            await opened(client)  # opened through the first instance ...
            assert await other.client_registry.open_until("t1") is not None
            key = device_key()
            # ... a device registers through the second, the operator grants on the first, the device
            # collects on the second.
            assert (await register(second, "roaming.dev", csr=csr_b64(key, "roaming.dev"))).status_code == 202
            assert (await confirm(client, "roaming.dev")).status_code == 200
            assert (await register(second, "roaming.dev", csr=csr_b64(key, "roaming.dev"))).status_code == 201
            # Closed on the second: locked for the first.
            assert (await api(second, "POST", "/api/client-registry/close")).status_code == 204
            assert_error(await register(client, "after.close", password=DEVICE_PASSWORD), 423)
            assert await services.client_registry.open_until("t1") is None
    finally:
        await other.close()


async def test_operator_endpoints_need_permission(client: httpx.AsyncClient) -> None:
    await create_user(client, "plain.person", roles=["minimum-access"])
    calls = [
        ("POST", "/api/client-registry/open", {"duration": 5000}),
        ("POST", "/api/client-registry/close", None),
        ("GET", "/api/client-registry", None),
        ("GET", "/api/client-registry/status", None),
        ("POST", "/api/client-registry/confirm", {"username": "nobody.here"}),
        ("DELETE", "/api/client-registry/nobody.here", None),
    ]
    for method, path, body in calls:
        assert_error(await api(client, method, path, body, auth=ANONYMOUS), 401)
        assert_error(await api(client, method, path, body, auth=person("plain.person")), 403)
    assert (await status(client))["locked"] is True
    # Registration is public: no credentials needed (423 here, as the registry is locked).
    assert_error(await register(client, "public.dev", password=DEVICE_PASSWORD), 423)


async def test_confirm_respects_escalation_rules(client: httpx.AsyncClient) -> None:
    """An operator who may use the registry but holds less than connectware-admin cannot grant it."""
    registry_operator = [
        {"resource": "/api/client-registry/#", "operation": "readWrite", "context": "http"},
        {"resource": "/api/client-registry", "operation": "readWrite", "context": "http"},
    ]
    await create_user(client, "registry.op", permissions=registry_operator)
    await opened(client)
    await register(client, "wants.admin", password=DEVICE_PASSWORD, roles=["connectware-admin"])
    refused = await api(
        client, "POST", "/api/client-registry/confirm", {"username": "wants.admin"}, auth=person("registry.op")
    )
    assert_error(refused, 403)
    listed = await api(client, "GET", "/api/client-registry", auth=person("registry.op"))
    assert listed.status_code == 200
    assert listed.json()[0]["granted"] is False
    granted = await api(
        client,
        "POST",
        "/api/client-registry/confirm",
        {"username": "wants.admin", "roles": []},
        auth=person("registry.op"),
    )
    assert granted.status_code == 200, granted.text
    assert granted.json()["roles"] == []
