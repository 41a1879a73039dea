"""The databases a test runs on: the two kinds (the PostgreSQL one marked `postgres`), and on the
suite's throwaway PostgreSQL server the migrated templates each test database is cloned from and
new databases (empty, or copies of a template)."""

from __future__ import annotations

import itertools
import os

import psycopg
import pytest

from tests.support.postgres import PostgresServer

TEMPLATE = "admittance_template"
PRODUCTION_TEMPLATE = "admittance_template_production"  # hashes at production cost (production_hashing)
# The parameters of every fixture that runs a test once per database: the PostgreSQL case carries
# the postgres marker, so that `-m "not postgres"` runs the SQLite cases only.
DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
_databases = itertools.count()


def create_database(server: PostgresServer, name: str, template: str | None = None) -> str:
    with psycopg.connect(server.admin_url, autocommit=True) as connection:
        suffix = f" TEMPLATE {template}" if template else ""
        connection.execute(f"CREATE DATABASE {name}{suffix}")
    return server.url(name)


def new_postgres_database(postgres: PostgresServer) -> str:
    """A fresh, empty (unmigrated) database, as a real server finds it at its first start."""
    name = f"e2e_{os.getpid()}_{next(_databases)}"
    with psycopg.connect(postgres.admin_url, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return postgres.url(name)
