"""Fixtures of the broker tests: a fresh Mosquitto per test (it starts in ~50 ms) whose dynsec file
holds the admin client, and that admin connected over `$CONTROL/dynamic-security/v1`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from admittance.integrations.mosquitto import dynsec_file
from admittance.integrations.mosquitto.admin_client import DynsecAdmin
from tests.support.brokers import MosquittoBroker
from tests.support.dynsec import ADMIN_PASSWORD, ADMIN_USERNAME, state_with


@pytest.fixture
def mosquitto() -> Iterator[MosquittoBroker]:
    """Not started: write `broker.dynsec_path` first."""
    broker = MosquittoBroker()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
async def dynsec(mosquitto: MosquittoBroker) -> AsyncIterator[DynsecAdmin]:
    """The broker started with only the admin client, and Admittance's admin connection to it."""
    dynsec_file.write(mosquitto.dynsec_path, state_with())
    mosquitto.start()
    async with DynsecAdmin("127.0.0.1", mosquitto.port, ADMIN_USERNAME, ADMIN_PASSWORD) as admin:
        yield admin
