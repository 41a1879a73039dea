"""A wrong password for an existing user and any password for an unknown user are indistinguishable:
the same status and body, and (statistically) the same time. SQLite and PostgreSQL.

Timing is compared by medians of interleaved attempts (robust on a loaded CI machine, where single
attempts stall) with a generous bound. Twice: with the failure delay at its real default (what an
attacker sees), and with no delay at all, where only the dummy argon2id verification of unknown
users keeps the two alike; a probe that skips that verification shows that the comparison can fail.
Rate limits are lifted for these tests.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from admittance.bootstrap import Services, build_services, first_start
from admittance.http.app import create_app
from admittance.settings import Settings
from tests.support.sessions import register
from tests.support.settings import with_settings

# Production cost: the template admin and the dummy hash are hashed as in production.
pytestmark = pytest.mark.production_hashing

ATTEMPTS = 30
WRONG = "wrong-Password-42"
KNOWN, UNKNOWN = "t1/admin", "t1/nobody-here"
register(WRONG)


@asynccontextmanager
async def app(settings: Settings, delay_ms: int) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    unlimited = with_settings(
        settings, auth_failure_delay_ms=delay_ms, auth_failures_per_user=1_000_000, auth_failures_per_source=1_000_000
    )
    services = await build_services(unlimited)
    try:
        await first_start(services)
        transport = httpx.ASGITransport(app=create_app(unlimited, services), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client, services
    finally:
        await services.close()


async def measure(client: httpx.AsyncClient) -> tuple[float, float, set[tuple[int, bytes]]]:
    """Median times of failed logins for a known and an unknown name, interleaved in random order
    within each pair, and the set of distinct answers."""
    times: dict[str, list[float]] = {KNOWN: [], UNKNOWN: []}
    answers: set[tuple[int, bytes]] = set()
    for name in (KNOWN, UNKNOWN):  # warm-up: first requests pay for connections and caches
        await client.post("/api/login", json={"username": name, "password": WRONG})
    for _ in range(ATTEMPTS):
        names = [KNOWN, UNKNOWN]
        random.shuffle(names)
        for name in names:
            started = time.perf_counter()
            response = await client.post("/api/login", json={"username": name, "password": WRONG})
            times[name].append(time.perf_counter() - started)
            answers.add((response.status_code, response.content))
    return statistics.median(times[KNOWN]), statistics.median(times[UNKNOWN]), answers


def alike(known: float, unknown: float) -> bool:
    """Medians within 35% of the larger one, or 15 ms apart at most (a noise floor)."""
    return abs(known - unknown) <= max(0.35 * max(known, unknown), 0.015)


async def test_failures_look_alike_with_the_default_delay(settings: Settings) -> None:
    delay_ms = Settings().values()["auth_failure_delay_ms"]
    async with app(settings, delay_ms) as (client, _):
        known, unknown, answers = await measure(client)
    assert len(answers) == 1, answers
    status, _ = answers.pop()
    assert status == 401
    assert min(known, unknown) >= delay_ms / 1000
    assert alike(known, unknown), (known, unknown)


async def test_failures_look_alike_without_any_delay_and_the_check_can_fail(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with app(settings, 0) as (client, services):
        known, unknown, answers = await measure(client)
        assert len(answers) == 1, answers
        assert alike(known, unknown), (known, unknown)
        assert known > 0.005, "the known user's check should cost an argon2id verification"

        async def skip_the_hash(password: str) -> None:
            return None

        monkeypatch.setattr(services.verifier, "verify_dummy", skip_the_hash)
        known, unknown, _ = await measure(client)
        assert not alike(known, unknown), ("a server that skips the hash must be told apart", known, unknown)
