"""Fixtures of the end-to-end tests: real `admittance serve` processes on free ports, and fresh
PostgreSQL databases on the suite's throwaway server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.credentials import ADMIN_PASSWORD, BOOTSTRAP_PASSWORD, SECRET_KEY
from tests.support.databases import DATABASES, new_postgres_database
from tests.support.server import ServerProcess, Start

START_TIMEOUT_SECONDS = 60.0


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """Starts `admittance serve` on a free port with its own data folder; stops every one at the end."""
    started: list[ServerProcess] = []

    def launch(database_url: str) -> ServerProcess:
        env = {
            "ADMITTANCE_DATABASE_URL": database_url,
            "ADMITTANCE_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "ADMITTANCE_BOOTSTRAP_PASSWORD": BOOTSTRAP_PASSWORD,
            "ADMITTANCE_SECRET_KEY": SECRET_KEY,
        }
        server = ServerProcess(tmp_path / f"data-{len(started)}", env)
        started.append(server)
        return server.start(timeout=START_TIMEOUT_SECONDS)

    try:
        yield launch
    finally:
        for server in started:
            server.stop()


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest) -> str:
    """Empty for SQLite in the server's data folder, else a fresh, unmigrated PostgreSQL database."""
    if request.param == "sqlite":
        return ""
    return new_postgres_database(request.getfixturevalue("postgres"))
