"""Fixtures shared by every layer: both databases (SQLite file, real PostgreSQL), settings, services,
an ASGI client. Store and HTTP tests take `location` and so run once per database."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import shutil
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from admittance.bootstrap import Services, build_services, first_start
from admittance.http.app import create_app
from admittance.settings import Settings
from admittance.storage import migrate
from admittance.storage.location import DatabaseLocation
from tests.support import secrets as leak_check
from tests.support.credentials import ADMIN_PASSWORD, BOOTSTRAP_PASSWORD, SECRET_KEY
from tests.support.databases import DATABASES, PRODUCTION_TEMPLATE, TEMPLATE, create_database
from tests.support.postgres import PostgresServer
from tests.support.services import build

_counter = itertools.count()
_LOG_CAPTURE = leak_check.LogCapture()


def pytest_configure(config: pytest.Config) -> None:
    """Keep every log record of the session (INFO and up from the server) for the leak check."""
    leak_check.register(ADMIN_PASSWORD, BOOTSTRAP_PASSWORD, SECRET_KEY)
    logging.getLogger().addHandler(_LOG_CAPTURE)
    server_logger = logging.getLogger("admittance")
    if server_logger.level == logging.NOTSET:
        server_logger.setLevel(logging.INFO)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Markers the loops select by (docs/development/testing.md): `e2e` for tests/e2e, `browser` for
    the tests that drive Chromium, `postgres` for the tests that take the server itself (the
    `location` and `database_url` fixtures mark their own PostgreSQL cases).
    Browser tests run last. Playwright's sync API (one Chromium for the session) keeps its own
    event loop marked running in this thread, so no asyncio test may run after the first of them."""
    e2e = Path(__file__).parent / "e2e"
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if item.path.is_relative_to(e2e):
            item.add_marker(pytest.mark.e2e)
        if "browser" in fixtures:
            item.add_marker(pytest.mark.browser)
        if "postgres" in fixtures:
            item.add_marker(pytest.mark.postgres)
    in_browser = [item for item in items if "browser" in getattr(item, "fixturenames", ())]
    if in_browser:
        chosen = {id(item) for item in in_browser}
        items[:] = [item for item in items if id(item) not in chosen] + in_browser


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when a registered password, token, code or secret appears in any log (issue 4)."""
    logging.getLogger().removeHandler(_LOG_CAPTURE)
    found = leak_check.leaks(_LOG_CAPTURE)
    if found:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = ["secrets appeared in the logs of this run:", *found[:50]]
        if reporter is not None:
            reporter.write_sep("=", "leaked secrets", red=True)
            for line in lines:
                reporter.write_line(line, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _production_hashing(request: pytest.FixtureRequest) -> bool:
    return request.node.get_closest_marker("production_hashing") is not None


def _initialized(location: DatabaseLocation, *, production_hashing: bool) -> None:
    """Migrate a template database and run the first start on it once, so that each test copies
    tenants and users instead of paying for their password hashes again. The admin's and the
    bootstrap user's hashes have the cost the tests of this template verify them at."""
    migrate.upgrade(location)
    url = location.postgres_url or f"sqlite:///{location.sqlite_path}"
    template_settings = Settings.of(
        database_url=url, secret_key=SECRET_KEY, admin_password=ADMIN_PASSWORD, bootstrap_password=BOOTSTRAP_PASSWORD
    )

    async def initialize() -> None:
        built = await (build_services(template_settings) if production_hashing else build(template_settings))
        try:
            await first_start(built)
        finally:
            await built.close()

    asyncio.run(initialize())
    if location.sqlite_path is not None:  # fold the WAL into the file that tests copy
        with contextlib.closing(sqlite3.connect(location.sqlite_path)) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


@pytest.fixture(scope="session")
def postgres(request: pytest.FixtureRequest) -> Iterator[PostgresServer]:
    if "not postgres" in request.config.getoption("markexpr"):  # keep `-m "not postgres"` honest
        pytest.fail("a test asked for PostgreSQL without the postgres marker (tests/support/databases.py)")
    server = PostgresServer()
    server.start()
    try:
        _initialized(_postgres_location(server, TEMPLATE), production_hashing=False)
        yield server
    finally:
        server.stop()


def _postgres_location(server: PostgresServer, name: str, template: str | None = None) -> DatabaseLocation:
    return DatabaseLocation("postgresql", postgres_url=create_database(server, name, template))


@pytest.fixture(scope="session")
def postgres_production_template(postgres: PostgresServer) -> str:
    _initialized(_postgres_location(postgres, PRODUCTION_TEMPLATE), production_hashing=True)
    return PRODUCTION_TEMPLATE


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    _initialized(DatabaseLocation("sqlite", sqlite_path=path), production_hashing=False)
    return path


@pytest.fixture(scope="session")
def sqlite_production_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-production-template") / "template.sqlite3"
    _initialized(DatabaseLocation("sqlite", sqlite_path=path), production_hashing=True)
    return path


@pytest.fixture(params=DATABASES)
def location(request: pytest.FixtureRequest, tmp_path: Path) -> DatabaseLocation:
    """A fresh database of each kind, migrated and initialized as by a first start (the PostgreSQL
    case carries the postgres marker)."""
    production = _production_hashing(request)
    if request.param == "sqlite":
        path = tmp_path / "admittance.sqlite3"
        template = "sqlite_production_template" if production else "sqlite_template"
        shutil.copyfile(request.getfixturevalue(template), path)
        return DatabaseLocation("sqlite", sqlite_path=path)
    server: PostgresServer = request.getfixturevalue("postgres")
    template = request.getfixturevalue("postgres_production_template") if production else TEMPLATE
    return _postgres_location(server, f"t_{os.getpid()}_{next(_counter)}", template)


@pytest.fixture
def settings(location: DatabaseLocation, tmp_path: Path) -> Settings:
    url = location.postgres_url or f"sqlite:///{location.sqlite_path}"
    return Settings.of(
        data_dir=tmp_path / "data",
        database_url=url,
        secret_key=SECRET_KEY,
        admin_password=ADMIN_PASSWORD,
        bootstrap_password=BOOTSTRAP_PASSWORD,
        auth_failure_delay_ms=20,
        public_url="",
    )


@pytest.fixture
async def services(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Services]:
    built = await (build_services(settings) if _production_hashing(request) else build(settings))
    try:
        await first_start(built)
        yield built
    finally:
        await built.close()


@pytest.fixture
async def client(settings: Settings, services: Services) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, services)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
