"""The dashboard (no browser), on SQLite and PostgreSQL: counts by registration status, devices,
claimed devices and jobs, each a link to its page; the 14-day chart and its table; what a user whose
roles allow none of it sees."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from admittance.audit import AuditEvent, AuditTag
from admittance.bootstrap import Services
from admittance.devices.model import IssuedCredentials
from admittance.devices.registration import NewRegistration
from admittance.identity.directory_model import NewUser
from tests.support.accounts import admin_of, poll
from tests.support.console import ConsoleClient
from tests.support.jobs import manifest

PLAIN_PASSWORD = "plain-Secret-789"
_STAT = re.compile(r'class="stat stat-([a-z_]+)" href="([^"]+)"><span class="value">([\d,]+)</span>')
_DAY = re.compile(r"<tr><th scope=\"row\">([\d-]+)</th><td>(\d+)</td><td>(\d+)</td></tr>")


def stats_of(page: str) -> dict[str, tuple[str, int]]:
    return {key: (href, int(value.replace(",", ""))) for key, href, value in _STAT.findall(page)}


def days_of(page: str) -> dict[str, tuple[int, int]]:
    return {day: (int(registered), int(accepted)) for day, registered, accepted in _DAY.findall(page)}


async def test_the_counts_link_to_their_pages_and_the_chart_shows_each_day(
    admin_console: ConsoleClient, services: Services
) -> None:
    principal = await admin_of(services)
    for device_id in ("waits", "pends", "accepted", "collects", "blocked"):
        await services.registrations.create(principal, NewRegistration(id=device_id))
    for device_id in ("pends", "accepted", "collects", "blocked"):
        await poll(services, device_id)
    await services.registrations.accept(principal, "accepted")
    await services.registrations.accept(principal, "collects")
    assert isinstance(await poll(services, "collects"), IssuedCredentials)
    await services.registrations.block(principal, "blocked")
    # Three days ago five were registered and two accepted; twenty days ago is outside the chart.
    now = datetime.now(UTC)
    async with services.storage.transaction() as tx:
        for n, (tag, ago) in enumerate(
            [(AuditTag.REGISTRATION_CREATED, 3)] * 5
            + [(AuditTag.REGISTRATION_ACCEPTED, 3)] * 2
            + [(AuditTag.REGISTRATION_CREATED, 20)]
        ):
            await tx.audit.record(AuditEvent(tag, "t1", "admin", f"old-{n}", now - timedelta(days=ago), {}))
        # Another tenant's events are not the admin's to see.
        await tx.audit.record(AuditEvent(AuditTag.REGISTRATION_CREATED, "other", "x", "elsewhere", now, {}))

    page = await admin_console.get("/console/")
    assert page.status_code == 200
    stats = stats_of(page.text)
    assert stats["waiting_for_connection"] == ("/console/registrations?status=WAITING_FOR_CONNECTION", 1)
    assert stats["pending_acceptance"] == ("/console/registrations?status=PENDING_ACCEPTANCE", 1)
    assert stats["accepted"] == ("/console/registrations?status=ACCEPTED", 1)
    assert stats["blocked"] == ("/console/registrations?status=BLOCKED", 1)
    assert stats["devices"] == ("/console/devices", 1)
    assert stats["claimed"] == ("/console/claimed", 0)
    assert stats["jobs"] == ("/console/imports", 0)

    days = days_of(page.text)
    assert len(days) == 14
    today = now.date()
    assert days[today.isoformat()] == (5, 2)
    assert days[(today - timedelta(days=3)).isoformat()] == (5, 2)
    assert days[(today - timedelta(days=1)).isoformat()] == (0, 0)
    assert (today - timedelta(days=20)).isoformat() not in days
    assert sorted(days) == [(today - timedelta(days=n)).isoformat() for n in range(13, -1, -1)]
    # The chart: an SVG image with a text alternative, one bar per series and day.
    assert 'role="img" aria-labelledby="chart-title chart-desc"' in page.text
    assert "10 devices registered and 4 accepted in the last 14 days" in page.text
    assert page.text.count('<rect class="bar bar-a"') == 14
    assert page.text.count('<rect class="bar bar-b"') == 14


async def test_a_queued_import_counts_as_a_job_until_it_has_run(
    admin_console: ConsoleClient, services: Services
) -> None:
    await services.imports.submit_import(await admin_of(services), manifest(["job-dev-1", "job-dev-2"]))
    assert stats_of((await admin_console.get("/console/")).text)["jobs"] == ("/console/imports", 1)
    await services.runner.run_once()
    assert stats_of((await admin_console.get("/console/")).text)["jobs"] == ("/console/imports", 0)


async def test_a_quiet_server_says_how_to_start(admin_console: ConsoleClient) -> None:
    page = await admin_console.get("/console/")
    assert "No registrations in the last 14 days" in page.text
    assert 'href="/console/registrations"' in page.text
    assert "<svg viewBox" not in page.text
    stats = stats_of(page.text)
    assert all(value == 0 for _, value in stats.values())


async def test_a_user_whose_roles_allow_nothing_sees_what_to_do(console: ConsoleClient, services: Services) -> None:
    await services.users.create_user(
        await admin_of(services), NewUser(username="plain", password=PLAIN_PASSWORD, roles=())
    )
    assert (await console.sign_in("plain", PLAIN_PASSWORD)).status_code == 303
    page = await console.get("/console/")
    assert page.status_code == 200
    assert stats_of(page.text) == {}
    assert "Nothing to show here for your roles" in page.text
    assert "chart-title" not in page.text
