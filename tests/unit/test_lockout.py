"""The Keycloak-style temporary lockout with a fake clock: waits grow by the increment every
max-failures failures, are capped, and counters forget after the reset time."""

from __future__ import annotations

from admittance.kernel.clock import FakeClock
from admittance.kernel.ratelimit import Lockout


def lockout(clock: FakeClock) -> Lockout:
    return Lockout(clock, max_failures=3, wait_increment_seconds=60, max_wait_seconds=150, reset_after_seconds=3600)


def test_locks_after_max_failures_for_the_increment() -> None:
    clock = FakeClock()
    lock = lockout(clock)
    for _ in range(2):
        lock.record_failure("a")
    assert not lock.blocked("a")
    lock.record_failure("a")
    assert lock.retry_after("a") == 60
    clock.advance(59.5)
    assert lock.blocked("a")
    clock.advance(1)
    assert not lock.blocked("a")
    assert not lock.blocked("b")


def test_every_further_failure_locks_again_and_the_wait_grows_to_the_cap() -> None:
    clock = FakeClock()
    lock = lockout(clock)
    waits = []
    for _ in range(12):
        lock.record_failure("a")
        waits.append(lock.retry_after("a"))
        clock.advance(lock.retry_after("a"))
    assert waits == [0, 0, 60, 60, 60, 120, 120, 120, 150, 150, 150, 150]


def test_counters_reset_after_quiet_time_and_on_reset() -> None:
    clock = FakeClock()
    lock = lockout(clock)
    for _ in range(2):
        lock.record_failure("a")
    clock.advance(3600)
    lock.record_failure("a")
    assert lock.failures("a") == 1
    assert not lock.blocked("a")
    lock.reset("a")
    assert lock.failures("a") == 0


def test_memory_is_bounded() -> None:
    clock = FakeClock()
    lock = Lockout(
        clock, max_failures=1, wait_increment_seconds=1, max_wait_seconds=1, reset_after_seconds=10, max_keys=5
    )
    for n in range(20):
        lock.record_failure(f"k{n}")
    assert sum(lock.failures(f"k{n}") for n in range(20)) == 5
