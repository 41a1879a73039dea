"""Fixtures of the console tests.

- `console`: an httpx-driven console session over the in-process app, on SQLite and PostgreSQL
  (fast; for permissions, CSRF, errors and every form's outcome);
- `browser` (one Chromium for the session) and `served` (a real `admittance serve` process on a
  free port, SQLite in its data folder, the worker on) with `signed_in_page` for the browser stories.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from admittance.bootstrap import Services
from admittance.http.app import create_app
from admittance.settings import Settings
from tests.conftest import ADMIN_PASSWORD, BOOTSTRAP_PASSWORD, SECRET_KEY
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.console import ConsoleClient
from tests.support.server import ServerProcess


@pytest.fixture
async def console(settings: Settings, services: Services) -> AsyncIterator[ConsoleClient]:
    """A console session (not yet signed in) against the in-process app. HTTPS base URL: the
    cookies are Secure, and httpx (like a browser) sends them only over HTTPS."""
    app = create_app(settings, services)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        yield ConsoleClient(http)


@pytest.fixture
async def admin_console(console: ConsoleClient) -> ConsoleClient:
    answer = await console.sign_in("admin", ADMIN_PASSWORD)
    assert answer.status_code == 303, answer.text
    return console


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield launched
    finally:
        launched.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServerProcess]:
    """A real server on SQLite with the known admin and bootstrap passwords."""
    env = {
        "ADMITTANCE_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "ADMITTANCE_BOOTSTRAP_PASSWORD": BOOTSTRAP_PASSWORD,
        "ADMITTANCE_SECRET_KEY": SECRET_KEY,
        "ADMITTANCE_AUTH_FAILURE_DELAY_MS": "20",
    }
    with ServerProcess(tmp_path / "data", env) as server:
        yield server


@pytest.fixture
def page(browser: Browser, served: ServerProcess) -> Iterator[Page]:
    context = browser.new_context(base_url=served.base_url, viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    opened = context.new_page()
    try:
        yield opened
    finally:
        context.close()


def sign_in(page: Page, username: str, password: str) -> None:
    """Through the sign-in form, as a user would (MFA steps are the test's own)."""
    page.goto("/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture
def admin_page(page: Page) -> Page:
    sign_in(page, "admin", ADMIN_PASSWORD)
    page.wait_for_url("**/console/")
    return page
