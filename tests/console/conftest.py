"""Fixtures of the console tests: `console`, an httpx-driven console session over the in-process
app, on SQLite and PostgreSQL (fast; for permissions, CSRF, errors and every form's outcome), and
`admin_console`, the same signed in as the admin. The browser stories are in tests/e2e/console."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from admittance.bootstrap import Services
from admittance.http.app import create_app
from admittance.settings import Settings
from tests.support.console import ConsoleClient
from tests.support.credentials import ADMIN_PASSWORD


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
