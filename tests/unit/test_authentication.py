"""One answer and one timing for every authentication failure; rate limits on failures."""

from __future__ import annotations

import time

import pytest

from admittance.identity import Authenticator, AuthPolicy, PresentedCredentials, UserAuthRecord
from admittance.kernel.clock import SystemClock
from admittance.kernel.errors import RateLimited, Unauthenticated
from admittance.kernel.passwords import CredentialVerifier, PasswordHasher
from admittance.kernel.secrets import Pepper

DELAY = 0.25


@pytest.fixture
def parts():
    hasher = PasswordHasher(Pepper(b"k" * 32))
    verifier = CredentialVerifier(hasher, SystemClock())
    authenticator = Authenticator(
        verifier, SystemClock(), AuthPolicy(failure_delay_seconds=DELAY, failures_per_source=5, failures_per_user=3)
    )
    yield hasher, authenticator
    verifier.close()


def record(hasher: PasswordHasher, *, enabled: bool = True, human: bool = True) -> UserAuthRecord:
    stored = hasher.hash_human("right-password") if human else hasher.hash_generated("right-password")
    return UserAuthRecord(1, "t1", "alice", stored, enabled, frozenset({"ROLE_DEVICE"}))


def presented(password: str, source: str = "10.0.0.1", username: str = "alice") -> PresentedCredentials:
    return PresentedCredentials("t1", username, password, source)


async def failure(authenticator: Authenticator, creds: PresentedCredentials, rec: UserAuthRecord | None):
    started = time.perf_counter()
    with pytest.raises(Unauthenticated) as caught:
        await authenticator.verify(creds, rec)
    return caught.value, time.perf_counter() - started


async def test_success_returns_the_principal(parts) -> None:
    hasher, authenticator = parts
    principal = await authenticator.verify(presented("right-password"), record(hasher))
    assert (principal.tenant_id, principal.username) == ("t1", "alice")


async def test_every_failure_has_the_same_message_and_at_least_the_same_delay(parts) -> None:
    hasher, authenticator = parts
    cases = [
        (presented("wrong", "10.0.0.2"), record(hasher)),  # wrong password, slow hash
        (presented("wrong", "10.0.0.3"), record(hasher, human=False)),  # wrong password, fast hash
        (presented("right-password", "10.0.0.4", "bob"), None),  # unknown user
        (presented("right-password", "10.0.0.5"), record(hasher, enabled=False)),  # disabled user
    ]
    outcomes = [await failure(authenticator, creds, rec) for creds, rec in cases]
    assert {str(error) for error, _ in outcomes} == {"Invalid credentials"}
    durations = [elapsed for _, elapsed in outcomes]
    assert min(durations) >= DELAY
    # The floor hides the difference between a 2-microsecond keyed hash and a 100-ms argon2id one.
    assert max(durations) - min(durations) < 0.1


async def test_failures_are_rate_limited_per_user(parts) -> None:
    hasher, authenticator = parts
    rec = record(hasher, human=False)
    for n in range(3):
        await failure(authenticator, presented("wrong", f"10.1.0.{n}"), rec)
    with pytest.raises(RateLimited):
        await authenticator.verify(presented("right-password", "10.1.0.9"), rec)


async def test_failures_are_rate_limited_per_source(parts) -> None:
    hasher, authenticator = parts
    rec = record(hasher, human=False)
    for n in range(5):
        await failure(authenticator, presented("wrong", "10.2.0.1", f"user{n}"), None if n else rec)
    with pytest.raises(RateLimited):
        await authenticator.verify(presented("right-password", "10.2.0.1"), rec)
