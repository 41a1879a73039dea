"""Odd numbers in query parameters and fields (digits that are not ASCII decimal digits, such as
superscripts, pass str.isdigit() but not int()) get an answer, never a 500 page."""

from __future__ import annotations

import pytest

from tests.support.console import ConsoleClient

ODD = "\u00b2"  # "²": str.isdigit() is True, int() raises
LONG = "1" * 5000  # ASCII digits, but more than int() reads from text (4,300 digits)


def _short(value: object) -> str | None:
    return value[:60] if isinstance(value, str) else None  # a readable test id


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"/console/registrations?after={ODD}:x", 200),
        (f"/console/registrations?before={ODD}:x", 200),
        (f"/console/users?page={ODD}", 200),
        (f"/console/imports?page={ODD}", 200),
        (f"/console/certificates?page={ODD}", 400),
        (f"/console/devices?page={ODD}", 400),
        (f"/console/devices/groups?page={ODD}", 400),
        (f"/console/registrations?after={LONG}:x", 200),
        (f"/console/users?page={LONG}", 200),
        (f"/console/imports?page={LONG}", 200),
        (f"/console/certificates?page={LONG}", 400),
        (f"/console/devices?page={LONG}", 400),
        (f"/console/devices/groups?page={LONG}", 400),
    ],
    ids=_short,
)
async def test_an_odd_number_in_the_query_is_not_a_crash(admin_console: ConsoleClient, path: str, status: int) -> None:
    answer = await admin_console.get(path)
    assert answer.status_code == status, answer.text[:500]
    if status == 400:
        assert "The page number must be a whole number from 1." in answer.text


@pytest.mark.parametrize("days", [ODD * 2, LONG], ids=_short)
async def test_an_odd_number_of_days_for_a_token_is_a_message(admin_console: ConsoleClient, days: str) -> None:
    await admin_console.get("/console/account")
    answer = await admin_console.post(
        "/console/account/tokens", {"label": "ci", "days": days, "password": "irrelevant"}
    )
    assert answer.status_code == 303
    page = await admin_console.get(answer.headers["location"])
    assert "Choose how long the token lives." in page.text
