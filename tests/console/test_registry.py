"""The client registry page through the forms (no browser), on SQLite and PostgreSQL: open with a
countdown, close, the live list with pairing codes, grant (roles, permissions) and reject;
permissions."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from admittance.bootstrap import Services
from admittance.kernel.access import RoleName
from admittance.kernel.principal import Principal
from admittance.registry.model import Confirmation
from tests.support.console import ConsoleClient
from tests.support.registry import DEVICE_PASSWORD, csr_b64, device_key, expected_code, register
from tests.support.sessions import USER_PASSWORD

TENANT = "t1"
ADMIN = Principal.of(0, TENANT, "admin", [RoleName.CONNECTWARE_ADMIN.value])
LIVE = "/console/client-registry/live"


async def test_open_shows_a_countdown_and_close_locks_the_registry(
    admin_console: ConsoleClient, services: Services
) -> None:
    closed = await admin_console.get("/console/client-registry")
    assert closed.status_code == 200
    assert "Closed" in closed.text
    assert "data-countdown-until" not in closed.text
    assert "Open the registry above" in closed.text
    before = services.clock.now()
    opened = await admin_console.post("/console/client-registry/open", {"minutes": "2"})
    assert opened.status_code == 303
    until = await services.client_registry.open_until(TENANT)
    assert until is not None
    assert timedelta(seconds=110) < until - before <= timedelta(seconds=121)
    page = await admin_console.get("/console/client-registry")
    stamp = re.search(r'data-countdown-until="([^"]+)"', page.text)
    assert stamp is not None
    assert stamp.group(1) == until.isoformat().replace("+00:00", "Z")
    assert "Waiting for clients" in page.text
    assert f'data-live="{LIVE}"' in page.text
    assert "data-live-stop" not in page.text
    assert (await admin_console.post("/console/client-registry/close")).status_code == 303
    assert await services.client_registry.open_until(TENANT) is None
    live = await admin_console.get(LIVE, headers={"x-console-background": "1"})
    assert "data-live-stop" in live.text  # nothing to watch any more: the page stops refreshing


async def test_bad_durations_are_refused_with_a_message(admin_console: ConsoleClient, services: Services) -> None:
    referer = {"referer": "https://testserver/console/client-registry"}
    for minutes in ("abc", "0", "-3", "1441"):
        answer = await admin_console.post("/console/client-registry/open", {"minutes": minutes}, headers=referer)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/console/client-registry"
        page = await admin_console.get("/console/client-registry")
        assert "flash-error" in page.text, minutes
        assert await services.client_registry.open_until(TENANT) is None


async def test_a_request_appears_live_with_its_pairing_code_and_is_granted(
    admin_console: ConsoleClient, services: Services
) -> None:
    await admin_console.post("/console/client-registry/open", {"minutes": "5"})
    key = device_key()
    csr = csr_b64(key, "gateway.7")
    pending = await register(admin_console.http, "gateway.7", csr=csr, roles=["ROLE_INVENTORY_READ"])
    assert pending.status_code == 202
    code = expected_code("gateway.7", key)
    assert pending.json()["pairingCode"] == code
    live = await admin_console.get(LIVE, headers={"x-console-background": "1"})
    assert live.status_code == 200
    assert f'data-pairing-code="{code}"' in live.text
    assert "<html" not in live.text  # a fragment for the live region
    grant_url = "/console/client-registry/requests/t1/gateway.7"
    assert f'href="{grant_url}"' in live.text
    form = await admin_console.get(grant_url)
    assert form.status_code == 200
    assert f'id="pairing-code">{code}<' in form.text
    assert re.search(r'name="roles" value="ROLE_INVENTORY_READ" checked', form.text)
    granted = await admin_console.post(
        grant_url + "/grant", {"pairing_code": code, "roles": ["ROLE_INVENTORY_READ", "ROLE_IDENTITY_READ"]}
    )
    assert granted.status_code == 303, granted.text
    assert "was granted" in (await admin_console.get("/console/client-registry")).text
    entry = await services.client_registry.entry(ADMIN, "gateway.7")
    assert entry.granted
    assert entry.certificate_serial is not None
    collected = await register(admin_console.http, "gateway.7", csr=csr, roles=["ROLE_INVENTORY_READ"])
    assert collected.status_code == 201
    assert "certificate" in collected.json()
    issued = await services.certificates.get_issued(ADMIN, entry.certificate_serial)
    assert issued.owner == "gateway.7"
    user = await services.users.get_user(ADMIN, entry.user_id or 0)
    assert {role.id for role in user.roles} == {"ROLE_INVENTORY_READ", "ROLE_IDENTITY_READ"}
    # the granted request is listed as such; granting again is refused
    live = await admin_console.get(LIVE, headers={"x-console-background": "1"})
    assert "badge-granted" in live.text
    again = await admin_console.get(grant_url)
    assert again.status_code == 303


async def test_a_stale_pairing_code_or_unknown_request_grants_nothing(
    admin_console: ConsoleClient, services: Services
) -> None:
    await admin_console.post("/console/client-registry/open", {"minutes": "5"})
    answer = await register(admin_console.http, "meter.1", password=DEVICE_PASSWORD)
    assert answer.status_code == 202
    grant_url = "/console/client-registry/requests/t1/meter.1"
    referer = {"referer": f"https://testserver{grant_url}"}
    wrong = await admin_console.post(grant_url + "/grant", {"pairing_code": "000000"}, headers=referer)
    assert wrong.status_code == 303
    assert "Compare again" in (await admin_console.get(grant_url)).text
    assert not (await services.client_registry.entry(ADMIN, "meter.1")).granted
    assert (await admin_console.get("/console/client-registry/requests/t1/nobody")).status_code == 404


async def test_reject_removes_the_request(admin_console: ConsoleClient, services: Services) -> None:
    await admin_console.post("/console/client-registry/open", {"minutes": "5"})
    key = device_key()
    assert (await register(admin_console.http, "intruder", csr=csr_b64(key, "intruder"))).status_code == 202
    page = await admin_console.get("/console/client-registry")
    assert expected_code("intruder", key) in page.text
    rejected = await admin_console.post("/console/client-registry/requests/t1/intruder/reject")
    assert rejected.status_code == 303
    assert await services.client_registry.entries(ADMIN) == []
    assert "was rejected" in (await admin_console.get("/console/client-registry")).text


async def test_without_registry_permissions_everything_is_refused(console: ConsoleClient, services: Services) -> None:
    await services.client_registry.open(ADMIN, 60_000)
    assert (await register(console.http, "sensor.5", password=DEVICE_PASSWORD)).status_code == 202
    await services.identity.create_user(TENANT, "clerk", USER_PASSWORD, (RoleName.DEVICE_CONTROL_ADMIN.value,))
    assert (await console.sign_in("clerk", USER_PASSWORD)).status_code == 303
    assert 'href="/console/client-registry"' not in (await console.get("/console/")).text
    for url in ("/console/client-registry", LIVE, "/console/client-registry/requests/t1/sensor.5"):
        assert (await console.get(url)).status_code == 403, url
    for url in (
        "/console/client-registry/close",
        "/console/client-registry/requests/t1/sensor.5/grant",
        "/console/client-registry/requests/t1/sensor.5/reject",
    ):
        assert (await console.post(url, {"pairing_code": "x"})).status_code == 403, url
    assert await services.client_registry.open_until(TENANT) is not None
    [entry] = await services.client_registry.entries(ADMIN)
    assert not entry.granted


async def test_the_operator_decides_whether_the_asked_permissions_are_granted(
    admin_console: ConsoleClient, services: Services
) -> None:
    await admin_console.post("/console/client-registry/open", {"minutes": "5"})
    wish = [{"resource": "sensors/#", "operation": "write", "context": "mqtt"}]
    for username in ("asker.one", "asker.two"):
        answer = await register(admin_console.http, username, password=DEVICE_PASSWORD, permissions=wish)
        assert answer.status_code == 202
    form = await admin_console.get("/console/client-registry/requests/t1/asker.one")
    assert "mqtt write sensors/#" in form.text
    code_one = (await services.client_registry.entry(ADMIN, "asker.one")).pairing_code
    code_two = (await services.client_registry.entry(ADMIN, "asker.two")).pairing_code
    base = "/console/client-registry/requests/t1/"
    granted = await admin_console.post(base + "asker.one/grant", {"pairing_code": code_one, "asked_permissions": "1"})
    assert granted.status_code == 303
    without = await admin_console.post(base + "asker.two/grant", {"pairing_code": code_two})
    assert without.status_code == 303

    async def granted_permissions(username: str) -> set[str]:
        entry = await services.client_registry.entry(ADMIN, username)
        assert entry.granted
        user = await services.users.get_user(ADMIN, entry.user_id or 0)
        return {stored.permission.resource for role in user.roles for stored in role.permissions}

    assert await granted_permissions("asker.one") == {"sensors/#"}
    assert await granted_permissions("asker.two") == set()


async def test_only_the_latest_granted_requests_are_listed(
    admin_console: ConsoleClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    import admittance.http.console.registry as module

    monkeypatch.setattr(module, "GRANTED_SHOWN", 2)
    await services.client_registry.open(ADMIN, 60_000)
    for index in range(3):
        username = f"unit.{index}"
        assert (await register(admin_console.http, username, password=DEVICE_PASSWORD)).status_code == 202
        await services.client_registry.confirm(ADMIN, Confirmation(username=username))
    live = await admin_console.get(LIVE, headers={"x-console-background": "1"})
    assert "unit.2" in live.text
    assert "unit.1" in live.text
    assert "unit.0" not in live.text
    assert "Older granted requests are not shown" in live.text
