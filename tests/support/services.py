"""The services as the tests build them: the composition root with the cheap test hasher. Tests that
measure hashing call `build_services` itself (production cost)."""

from __future__ import annotations

from admittance.bootstrap import Services, build_services
from admittance.kernel.clock import Clock
from admittance.settings import Settings
from tests.support.hashing import cheap_hasher


async def build(settings: Settings, *, clock: Clock | None = None) -> Services:
    return await build_services(settings, clock=clock, password_hasher=cheap_hasher)
