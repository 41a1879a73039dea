"""The idle timeout of console sessions (a short one, set by the settings), on SQLite and PostgreSQL.
The server's clock is a fake one that the test moves on, instead of waiting."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator

import orjson
import pytest

from admittance.bootstrap import Services, first_start
from admittance.kernel.clock import FakeClock
from admittance.settings import Settings
from tests.support.console import ConsoleClient
from tests.support.credentials import ADMIN_PASSWORD
from tests.support.services import build
from tests.support.settings import with_settings

IDLE_SECONDS = 3
SESSION_COOKIE = "__Host-admittance-session"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_settings(settings, console_idle_minutes=IDLE_SECONDS / 60)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def services(settings: Settings, clock: FakeClock) -> AsyncIterator[Services]:
    built = await build(settings, clock=clock)
    try:
        await first_start(built)
        yield built
    finally:
        await built.close()


async def test_activity_keeps_the_session_and_idleness_ends_it(console: ConsoleClient, clock: FakeClock) -> None:
    assert (await console.sign_in("admin", ADMIN_PASSWORD)).status_code == 303
    for _ in range(2):  # 4 s in all, longer than the timeout, but never 3 s without a request
        clock.advance(2)
        assert (await console.get("/console/users")).status_code == 200

    # A live refresh does not count as activity: a screen left open still times out.
    clock.advance(2)
    background = await console.get("/console/registrations/rows", headers={"x-console-background": "1"})
    assert background.status_code == 200
    clock.advance(2.2)
    ended = await console.get("/console/users")
    assert ended.status_code == 303
    assert ended.headers["location"] == "/console/sign-in?next=/console/users"
    assert SESSION_COOKIE not in console.http.cookies  # cleared
    page = await console.get(ended.headers["location"])
    assert "signed out after a time without activity" in page.text

    # A form posted after the timeout changes nothing and leads to the sign-in.
    assert (await console.sign_in("admin", ADMIN_PASSWORD)).status_code == 303
    await console.get("/console/roles")
    clock.advance(IDLE_SECONDS + 1.2)
    late = await console.post("/console/roles", {"name": "too-late"})
    assert late.status_code == 303
    assert late.headers["location"] == "/console/sign-in"


async def test_the_time_of_the_last_activity_cannot_be_moved_by_the_browser(console: ConsoleClient) -> None:
    assert (await console.sign_in("admin", ADMIN_PASSWORD)).status_code == 303
    value = console.http.cookies[SESSION_COOKIE]
    body, mac = value.split(".")
    token, _last_active = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    forged = base64.urlsafe_b64encode(orjson.dumps([token, int(time.time()) + 3600])).decode().rstrip("=")
    (stored,) = [cookie for cookie in console.http.cookies.jar if cookie.name == SESSION_COOKIE]
    stored.value = f"{forged}.{mac}"
    assert console.http.cookies[SESSION_COOKIE] == f"{forged}.{mac}"
    answer = await console.get("/console/users")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/sign-in")
