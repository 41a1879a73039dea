"""The verified-credential cache: single-flight, TTL, invalidation by a changed hash, failures never cached."""

from __future__ import annotations

import asyncio

import pytest

from admittance.kernel.clock import FakeClock
from admittance.kernel.passwords import CredentialVerifier, PasswordHasher
from admittance.kernel.secrets import Pepper


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def hasher() -> PasswordHasher:
    return PasswordHasher(Pepper(b"k" * 32))


@pytest.fixture
def verifier(hasher: PasswordHasher, clock: FakeClock):
    v = CredentialVerifier(hasher, clock, ttl_seconds=60)
    yield v
    v.close()


async def test_concurrent_polls_with_one_uncached_credential_run_one_slow_verification(hasher, verifier) -> None:
    stored = hasher.hash_human("correct horse")
    results = await asyncio.gather(*(verifier.verify("7", "correct horse", stored) for _ in range(64)))
    assert all(results)
    assert verifier.slow_verifications == 1


async def test_cache_hit_until_ttl_then_verified_again(hasher, verifier, clock) -> None:
    stored = hasher.hash_human("correct horse")
    assert await verifier.verify("7", "correct horse", stored)
    assert await verifier.verify("7", "correct horse", stored)
    assert verifier.slow_verifications == 1
    clock.advance(61)
    assert await verifier.verify("7", "correct horse", stored)
    assert verifier.slow_verifications == 2


async def test_failures_are_never_cached(hasher, verifier) -> None:
    stored = hasher.hash_human("correct horse")
    assert not await verifier.verify("7", "wrong", stored)
    assert not await verifier.verify("7", "wrong", stored)
    assert verifier.slow_verifications == 2


async def test_changed_password_misses_the_cache_at_once(hasher, verifier) -> None:
    old = hasher.hash_human("correct horse")
    assert await verifier.verify("7", "correct horse", old)
    new = hasher.hash_human("battery staple")
    assert not await verifier.verify("7", "correct horse", new)
    assert await verifier.verify("7", "battery staple", new)


async def test_generated_secrets_use_the_keyed_hash_without_slow_work(hasher, verifier) -> None:
    stored = hasher.hash_generated("generated-secret-0123456789")
    assert stored.startswith("hmac-sha256$")
    assert await verifier.verify("8", "generated-secret-0123456789", stored)
    assert not await verifier.verify("8", "generated-secret-012345678X", stored)
    assert verifier.slow_verifications == 0


def test_human_passwords_are_argon2id(hasher) -> None:
    assert hasher.hash_human("correct horse").startswith("$argon2id$")


def test_pepper_digests_are_domain_separated() -> None:
    pepper = Pepper(b"k" * 32)
    assert pepper.digest("security-token", "abc") != pepper.digest("enrollment-token", "abc")
    assert "k" * 32 not in repr(pepper)
