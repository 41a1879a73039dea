"""Settings precedence (defaults < TOML < environment < flags) and refusal of unsafe values."""

from __future__ import annotations

from pathlib import Path

import pytest

from admittance.identity.authentication import AuthPolicy
from admittance.identity.model import PasswordPolicy
from admittance.settings import ENV_PREFIX, Settings, SettingsError, load_settings

STRONG = "s" * 40


def test_defaults() -> None:
    settings = load_settings({})
    assert settings.port == 8111
    assert settings.default_tenant == "t1"
    assert settings.database.dialect == "sqlite"
    assert settings.database.sqlite_path == Path("admittance-data/admittance.sqlite3")


def test_precedence_file_then_environment_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "admittance.toml"
    config.write_text('[admittance]\nport = 9001\nhost = "0.0.0.0"\ndefault_tenant = "acme"\nworkers = 2\n')
    environ = {"ADMITTANCE_CONFIG": str(config), "ADMITTANCE_PORT": "9002", "ADMITTANCE_WORKERS": "3"}
    settings = load_settings(environ, overrides={"workers": 4, "host": None})
    assert settings.default_tenant == "acme"  # file
    assert settings.host == "0.0.0.0"  # file; a flag given as None does not override
    assert settings.port == 9002  # environment beats file
    assert settings.workers == 4  # flag beats environment


def test_postgresql_url_selects_postgresql() -> None:
    settings = load_settings(
        {"ADMITTANCE_DATABASE_URL": "postgresql://u:pw@db:5432/adm", "ADMITTANCE_SECRET_KEY": STRONG}
    )
    assert settings.database.dialect == "postgresql"
    assert settings.redacted()["database_url"] == "postgresql://u:***@db:5432/adm"
    assert settings.redacted()["secret_key"] == "***"


@pytest.mark.parametrize(
    "environ",
    [
        pytest.param({"ADMITTANCE_SECRET_KEY": "changeme"}, id="known-weak-key"),
        pytest.param({"ADMITTANCE_SECRET_KEY": "short-key"}, id="short-key"),
        pytest.param({"ADMITTANCE_DATABASE_URL": "postgresql://db/adm"}, id="postgres-without-key"),
        pytest.param({"ADMITTANCE_ADMIN_PASSWORD": "admin"}, id="weak-admin-password"),
        pytest.param({"ADMITTANCE_BOOTSTRAP_PASSWORD": "secret"}, id="weak-bootstrap-password"),
        pytest.param({"ADMITTANCE_PORT": "0"}, id="bad-port"),
        pytest.param({"ADMITTANCE_PORT": "eighty"}, id="port-not-a-number"),
        pytest.param({"ADMITTANCE_DATABASE_URL": "mysql://db/adm"}, id="unsupported-database"),
        pytest.param({"ADMITTANCE_DEV_MODE": "perhaps"}, id="bool-not-a-bool"),
    ],
)
def test_unsafe_or_invalid_settings_are_refused(environ: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        load_settings(environ)


def test_development_mode_allows_weak_secrets() -> None:
    settings = load_settings({"ADMITTANCE_SECRET_KEY": "dev", "ADMITTANCE_DEV_MODE": "true"})
    assert settings.dev_mode


def test_unknown_setting_in_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "a.toml"
    config.write_text("[admittance]\nprot = 1\n")
    with pytest.raises(SettingsError, match="prot"):
        load_settings({}, config_file=config)


def test_the_sections_are_the_policy_objects() -> None:
    settings = load_settings(
        {
            "ADMITTANCE_AUTH_FAILURE_DELAY_MS": "250",
            "ADMITTANCE_MFA_BAN_MINUTES": "2",
            "ADMITTANCE_PASSWORD_POLICY": '{"min": 12, "upper": 1}',
            "ADMITTANCE_CERTIFICATE_RENEWAL_GRACE_DAYS": "7",
            "ADMITTANCE_DEFAULT_TENANT": "acme",
            "ADMITTANCE_JOB_MAX_ATTEMPTS": "5",
        }
    )
    assert settings.auth == AuthPolicy(failure_delay_seconds=0.25, otp_ban_seconds=120.0)
    assert settings.passwords == PasswordPolicy(min_length=12, min_upper=1)
    assert settings.pki.renewal_grace_days == 7.0
    assert settings.pki.trusted_store_tenants == frozenset({"management", "acme"})
    assert settings.jobs.max_attempts == 5
    assert settings.redacted()["auth_failure_delay_ms"] == 250
    assert settings.redacted()["mfa_ban_minutes"] == 2.0
    assert settings.redacted()["password_policy"] == '{"min": 12, "upper": 1}'


def test_every_key_is_read_from_its_environment_variable_and_shown_back() -> None:
    defaults = Settings()
    assert Settings.of(**defaults.values()) == defaults
    for name, value in defaults.values().items():
        loaded = load_settings({ENV_PREFIX + name.upper(): str(value), "ADMITTANCE_DEV_MODE": "true"})
        assert loaded.values()[name] == (True if name == "dev_mode" else value), name
