"""Signing in and out through the forms (no browser), on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.conftest import ADMIN_PASSWORD
from tests.support.console import ConsoleClient


async def test_sign_in_leads_to_the_dashboard_and_sign_out_ends_the_session(console: ConsoleClient) -> None:
    answer = await console.sign_in("admin", ADMIN_PASSWORD)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/"
    dashboard = await console.get("/console/")
    assert dashboard.status_code == 200
    assert "Dashboard" in dashboard.text
    assert "default-src 'self'" in dashboard.headers["content-security-policy"]
    signed_out = await console.post("/console/sign-out")
    assert signed_out.status_code == 303
    again = await console.get("/console/")
    assert again.status_code == 303
    assert again.headers["location"].startswith("/console/sign-in")
