"""Fixtures of the console's browser stories: `browser` (one Chromium for the session), `served` (a
real `admittance serve` process on a free port, SQLite in its data folder, the worker on), and
`page` / `admin_page` on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, sign_in
from tests.support.credentials import ADMIN_PASSWORD, BOOTSTRAP_PASSWORD, SECRET_KEY
from tests.support.server import ServerProcess


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


@pytest.fixture
def admin_page(page: Page) -> Page:
    sign_in(page, "admin", ADMIN_PASSWORD)
    page.wait_for_url("**/console/")
    return page
