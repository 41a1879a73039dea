"""A backup taken on one database restores into the other (the way from the embedded SQLite to a
production PostgreSQL, and back); `admittance backup` and `admittance restore` round trip."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from admittance.bootstrap import Services, first_start
from admittance.cli.main import main
from admittance.http.app import create_app
from admittance.identity import PresentedCredentials
from admittance.settings import Settings
from admittance.storage.location import DatabaseLocation
from tests.support.connectware import PASSWORD
from tests.support.credentials import ADMIN_PASSWORD, BOOTSTRAP_PASSWORD, SECRET_KEY
from tests.support.databases import TEMPLATE, create_database
from tests.support.maintenance import assert_same_but_audit_tail, dump, populate
from tests.support.postgres import PostgresServer
from tests.support.services import build

_names = itertools.count()


def _database(kind: str, tmp_path: Path, sqlite_template: Path, postgres: PostgresServer) -> str:
    if kind == "sqlite":
        path = tmp_path / f"{next(_names)}.sqlite3"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite:///{path}"
    return create_database(postgres, f"m_{os.getpid()}_{next(_names)}", TEMPLATE)


@asynccontextmanager
async def _server(url: str, data_dir: Path) -> AsyncIterator[tuple[Services, httpx.AsyncClient]]:
    settings = Settings.of(
        data_dir=data_dir,
        database_url=url,
        secret_key=SECRET_KEY,
        admin_password=ADMIN_PASSWORD,
        bootstrap_password=BOOTSTRAP_PASSWORD,
        auth_failure_delay_ms=20,
    )
    services = await build(settings)
    try:
        await first_start(services)
        transport = httpx.ASGITransport(app=create_app(settings, services), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield services, client
    finally:
        await services.close()


@pytest.mark.parametrize(("source_kind", "target_kind"), [("sqlite", "postgresql"), ("postgresql", "sqlite")])
async def test_a_backup_restores_into_the_other_database(
    tmp_path: Path, sqlite_template: Path, postgres: PostgresServer, source_kind: str, target_kind: str
) -> None:
    source_url = _database(source_kind, tmp_path, sqlite_template, postgres)
    target_url = _database(target_kind, tmp_path, sqlite_template, postgres)
    async with _server(source_url, tmp_path / "source") as (source, client):
        await populate(client, "moved")
        snapshot = await dump(source)
        run, manifest = await source.maintenance.backup(None)
        assert manifest.dialect == source_kind
        path = source.settings.backup_path / f"{run.id}.zip"
    async with _server(target_url, tmp_path / "target") as (target, client):
        await populate(client, "local")  # data of its own, replaced by the restore
        restored = await target.maintenance.restore(None, upload=path)
        assert restored.succeeded is True
        assert_same_but_audit_tail(snapshot, await dump(target), "maintenance:database:restore")
        # Password hashes and keyed digests came along: the moved user signs in on the new database.
        principal = await target.identity.authenticate(PresentedCredentials("t1", "moved.alice", PASSWORD, "127.0.0.1"))
        assert principal.username == "moved.alice"
        await populate(client, "new")  # ids continue after the restored ones


def _cli(location: DatabaseLocation, data_dir: Path, *args: str, answer: str | None = None) -> tuple[int, str]:
    url = location.postgres_url or f"sqlite:///{location.sqlite_path}"
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["--database-url", url, "--data-dir", str(data_dir), *args],
        input=answer,
        env={"ADMITTANCE_SECRET_KEY": SECRET_KEY},
        catch_exceptions=False,
    )
    return result.exit_code, result.output


def _usernames(location: DatabaseLocation, data_dir: Path) -> list[str]:
    code, output = _cli(location, data_dir, "users", "list", "--tenant", "t1")
    assert code == 0, output
    return [line.split("\t", 1)[0] for line in output.splitlines()]


def test_cli_backup_and_restore_round_trip(location: DatabaseLocation, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    file = tmp_path / "exported.zip"
    code, output = _cli(location, data_dir, "backup", "-o", str(file))
    assert code == 0, output
    assert f"written to {file}" in output
    assert "sha256" in output
    before = _usernames(location, data_dir)

    code, output = _cli(location, data_dir, "users", "create", "--tenant", "t1", "zed", "--generate")
    assert code == 0, output
    assert "zed" in _usernames(location, data_dir)

    code, output = _cli(location, data_dir, "restore", str(file), answer="n\n")
    assert code == 1
    assert "Aborted" in output
    assert "zed" in _usernames(location, data_dir)

    code, output = _cli(location, data_dir, "restore", str(file), answer="y\n")
    assert code == 0, output
    assert "Restored uploaded file" in output
    assert _usernames(location, data_dir) == before

    broken = tmp_path / "broken.zip"
    broken.write_bytes(file.read_bytes()[:1000])
    code, output = _cli(location, data_dir, "restore", str(broken), "--yes")
    assert code == 1
    assert "damaged" in output
    assert _usernames(location, data_dir) == before

    # Without -o the backup goes to the backup folder and is restored by its id.
    code, output = _cli(location, data_dir, "backup")
    assert code == 0, output
    backup_id = output.split()[1]
    assert (data_dir / "backups" / f"{backup_id}.zip").is_file()
    _cli(location, data_dir, "users", "create", "--tenant", "t1", "yves", "--generate")
    code, output = _cli(location, data_dir, "restore", backup_id, "--yes")
    assert code == 0, output
    assert _usernames(location, data_dir) == before
    code, output = _cli(location, data_dir, "restore", "no-such-file.zip", "--yes")
    assert code == 1
    assert "no such file" in output
