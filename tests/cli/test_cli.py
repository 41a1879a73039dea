"""The CLI against a real SQLite data folder: it calls the same services as the HTTP API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from admittance import __version__
from admittance.cli.main import main

KEY = "cli-test-secret-key-0123456789abcdefghijklmnop"


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name in ("ADMITTANCE_DATABASE_URL", "ADMITTANCE_SECRET_KEY", "ADMITTANCE_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None):
        return runner.invoke(main, ["--data-dir", str(tmp_path / "data"), *args], env=env, catch_exceptions=False)

    return invoke


def test_config_check_redacts_secrets(run) -> None:
    result = run("config", "check", env={"ADMITTANCE_SECRET_KEY": KEY, "ADMITTANCE_ADMIN_PASSWORD": "pw-123456789"})
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output.rsplit("}", 1)[0] + "}")
    assert shown["secret_key"] == "***"
    assert shown["admin_password"] == "***"
    assert KEY not in result.output
    assert "pw-123456789" not in result.output


def test_config_check_refuses_weak_secret(run) -> None:
    result = run("config", "check", env={"ADMITTANCE_SECRET_KEY": "changeme"})
    assert result.exit_code != 0
    assert "weak" in result.output


def test_tenants_and_users_lifecycle(run) -> None:
    assert run("db", "upgrade").exit_code == 0
    assert "created tenant acme" in run("tenants", "create", "acme", "--security-token-policy", "REQUIRED").output
    listed = run("tenants", "list").output
    assert "acme\tsecurity-token-policy=REQUIRED" in listed
    created = run(
        "users",
        "create",
        "--tenant",
        "acme",
        "alice",
        "--role",
        "ROLE_DEVICE_CONTROL_READ",
        "--password",
        "alice-Secret-1",
    )
    assert created.exit_code == 0, created.output
    assert "alice\thuman\tenabled\tROLE_DEVICE_CONTROL_READ" in run("users", "list", "--tenant", "acme").output
    rotated = run("users", "set-password", "--tenant", "acme", "alice", "--generate")
    assert rotated.exit_code == 0
    assert "password: " in rotated.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("tenants", "create", "Bad_Id"), "tenant id"),
        (("users", "create", "--tenant", "nope", "bob", "--password", "bob-Secret-1"), "no tenant"),
        (
            ("users", "create", "--tenant", "management", "bob", "--role", "ROLE_NOPE", "--password", "bob-Secret-1"),
            "unknown roles",
        ),
        (("users", "create", "--tenant", "management", "bob", "--password", "short"), "at least 8"),
        (("users", "set-password", "--tenant", "management", "ghost", "--generate"), "no user"),
    ],
)
def test_cli_errors_are_clear_messages(run, args: tuple[str, ...], message: str) -> None:
    run("tenants", "create", "management")
    result = run(*args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_version_names_the_package_version(run) -> None:
    result = run("--version")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"admittance {__version__}"
