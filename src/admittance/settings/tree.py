"""The Settings tree: the server's own values and the sections, each the policy object of a context or
of the edge, and the flat keys (TOML keys, ADMITTANCE_* names, flags) they are assembled from."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from admittance.broker.model import BrokerPolicy
from admittance.claiming.model import ClaimingPolicy
from admittance.devices.model import RegistrationPolicy
from admittance.identity.authentication import AuthPolicy
from admittance.identity.model import PasswordPolicy
from admittance.identity.sessions import SessionPolicy
from admittance.jobs.model import JobPolicy
from admittance.kernel.principal import MANAGEMENT_TENANT
from admittance.pki.model import PkiPolicy
from admittance.registry.model import RegistryPolicy
from admittance.settings.errors import SettingsError
from admittance.settings.sections import (
    BackupSettings,
    BrokerHookSettings,
    ConsoleSettings,
    MqttBootstrapSettings,
    OperatorCaFiles,
    TlsSettings,
)
from admittance.storage.location import DatabaseLocation


def _default_database() -> DatabaseLocation:
    return DatabaseLocation.parse("", Path("admittance-data"))


def _default_pki() -> PkiPolicy:
    return PkiPolicy(trusted_store_tenants=frozenset({MANAGEMENT_TENANT, "t1"}))


@dataclass(frozen=True)
class Settings:
    # The server itself.
    data_dir: Path = Path("admittance-data")
    host: str = "127.0.0.1"
    port: int = 8111
    workers: int = 1
    public_url: str = ""  # base URL for `self` links; empty: taken from each request's Host
    default_tenant: str = "t1"
    secret_key: str = ""  # pepper for keyed hashes; empty: generated into the data folder (SQLite only)
    admin_password: str = ""  # first start only; empty: generated and printed once
    bootstrap_password: str = ""  # first start only; empty: generated and printed once
    dev_mode: bool = False
    log_level: str = "info"
    max_body_bytes: int = 1_048_576
    max_manifest_bytes: int = 50 * 1024 * 1024  # bulk registration files (CSV manifests)
    last_seen_flush_seconds: float = 5.0  # subjects' last contacts are written in one batch this often
    # The sections: the policy objects of the contexts, and the edge's own.
    database: DatabaseLocation = field(default_factory=_default_database)
    auth: AuthPolicy = field(default_factory=AuthPolicy)
    sessions: SessionPolicy = field(default_factory=SessionPolicy)
    passwords: PasswordPolicy = field(default_factory=PasswordPolicy)
    registrations: RegistrationPolicy = field(default_factory=RegistrationPolicy)
    jobs: JobPolicy = field(default_factory=JobPolicy)
    claiming: ClaimingPolicy = field(default_factory=ClaimingPolicy)
    registry: RegistryPolicy = field(default_factory=RegistryPolicy)
    pki: PkiPolicy = field(default_factory=_default_pki)
    ca_files: OperatorCaFiles = field(default_factory=OperatorCaFiles)
    broker: BrokerPolicy = field(default_factory=BrokerPolicy)
    broker_hooks: BrokerHookSettings = field(default_factory=BrokerHookSettings)
    backups: BackupSettings = field(default_factory=BackupSettings)
    tls: TlsSettings = field(default_factory=TlsSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    mqtt_bootstrap: MqttBootstrapSettings = field(default_factory=MqttBootstrapSettings)

    @classmethod
    def of(cls, **values: Any) -> Settings:
        """Settings from flat keys (those not given keep their defaults); not validated."""
        unknown = sorted(set(values) - set(KEYS))
        if unknown:
            raise SettingsError(f"unknown setting {unknown[0]!r}")
        return _assemble({**_DEFAULTS, **values})

    def with_values(self, **changes: Any) -> Settings:
        """These settings with some flat keys changed (the sections assembled again)."""
        return Settings.of(**{**self.values(), **changes})

    def values(self) -> dict[str, Any]:
        """Every setting by its flat key, as the sources name it."""
        return {name: key.read(self) for name, key in KEYS.items()}

    @property
    def backup_path(self) -> Path:
        return Path(self.backups.dir) if self.backups.dir else Path(self.data_dir) / "backups"

    def redacted(self) -> dict[str, Any]:
        """Every effective setting, secrets replaced, for `admittance config check`."""
        shown: dict[str, Any] = {}
        for name, value in self.values().items():
            if name in _SECRET_KEYS:
                value = "***" if value else "(not set)"
            elif name == "database_url":
                value = self.database.redacted()
            shown[name] = str(value) if isinstance(value, Path) else value
        return shown


# --- the flat keys ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Key:
    """One flat key: where it lives (section None: on Settings itself), its type, and the conversion
    between the key's unit and the section's when they differ (milliseconds and seconds, ...)."""

    section: str | None
    attribute: str | None  # None: the key is the whole section
    kind: type
    load: Callable[[Any], Any] | None = None  # key's value -> section's
    dump: Callable[[Any], Any] | None = None  # section's value -> key's

    def read(self, settings: Settings) -> Any:
        holder = settings if self.section is None else getattr(settings, self.section)
        value = holder if self.attribute is None else getattr(holder, self.attribute)
        return self.dump(value) if self.dump is not None else value


def _seconds_from_ms(ms: int) -> float:
    return ms / 1000


def _ms_from_seconds(seconds: float) -> int:
    return round(seconds * 1000)


def _seconds_from_minutes(minutes: float) -> float:
    return minutes * 60


def _minutes_from_seconds(seconds: float) -> float:
    return round(seconds / 60, 9)


def _top(name: str, kind: type) -> tuple[str, Key]:
    return name, Key(None, name, kind)


_ORDER = [
    "data_dir",
    "database_url",
    "host",
    "port",
    "workers",
    "public_url",
    "default_tenant",
    "secret_key",
    "admin_password",
    "bootstrap_password",
    "dev_mode",
    "log_level",
    "max_body_bytes",
    "auth_cache_ttl_seconds",
    "auth_failure_delay_ms",
    "auth_failures_per_source",
    "auth_failures_per_user",
    "auth_lockout_wait_seconds",
    "auth_lockout_max_wait_seconds",
    "auth_failure_reset_seconds",
    "token_expire_hours",
    "token_max_hours",
    "mfa_issuer",
    "mfa_max_invalid_otps_per_user",
    "mfa_ban_minutes",
    "security_token_max_failures",
    "password_policy",
    "db_pool_size",
    "max_manifest_bytes",
    "worker",
    "worker_id",
    "job_lease_seconds",
    "job_max_attempts",
    "nrf_challenge_seconds",
    "nrf_device_jwt_max_seconds",
    "broker_hook_secret",
    "broker_hook_cache_seconds",
    "broker_hook_client_certificates",
    "broker_login_cache_seconds",
    "broker_login_cache_entries",
    "rabbitmq_vhost",
    "rabbitmq_exchange",
    "last_seen_flush_seconds",
    "client_registry_new_per_source",
    "ca_key_type",
    "ca_common_name",
    "ca_validity_days",
    "ca_certificate_file",
    "ca_key_file",
    "ca_key_password",
    "ca_chain_file",
    "certificate_validity_days",
    "certificate_renewal_grace_days",
    "crl_validity_hours",
    "backup_dir",
    "max_backup_upload_bytes",
    "tls",
    "tls_certificate_file",
    "tls_key_file",
    "tls_client_ca_file",
    "tls_server_names",
    "trusted_proxies",
    "client_cert_header",
    "console_idle_minutes",
    "console_insecure_cookies",
    "mqtt_bootstrap_port",
    "mqtt_bootstrap_host",
    "mqtt_bootstrap_max_connections",
]
KEYS: dict[str, Key] = dict(
    [
        _top("data_dir", Path),
        _top("host", str),
        _top("port", int),
        _top("workers", int),
        _top("public_url", str),
        _top("default_tenant", str),
        _top("secret_key", str),
        _top("admin_password", str),
        _top("bootstrap_password", str),
        _top("dev_mode", bool),
        _top("log_level", str),
        _top("max_body_bytes", int),
        _top("max_manifest_bytes", int),
        ("database_url", Key("database", "url", str)),
        ("db_pool_size", Key("database", "pool_size", int)),
        ("auth_cache_ttl_seconds", Key("auth", "verified_cache_seconds", float)),
        ("auth_failure_delay_ms", Key("auth", "failure_delay_seconds", int, _seconds_from_ms, _ms_from_seconds)),
        ("auth_failures_per_source", Key("auth", "failures_per_source", int)),
        ("auth_failures_per_user", Key("auth", "failures_per_user", int)),
        ("auth_lockout_wait_seconds", Key("auth", "lockout_wait_seconds", float)),
        ("auth_lockout_max_wait_seconds", Key("auth", "lockout_max_wait_seconds", float)),
        ("auth_failure_reset_seconds", Key("auth", "failure_reset_seconds", float)),
        ("mfa_max_invalid_otps_per_user", Key("auth", "otp_failures_per_user", int)),
        ("mfa_ban_minutes", Key("auth", "otp_ban_seconds", float, _seconds_from_minutes, _minutes_from_seconds)),
        ("token_expire_hours", Key("sessions", "token_expire_hours", float)),
        ("token_max_hours", Key("sessions", "token_max_hours", float)),
        ("mfa_issuer", Key("sessions", "mfa_issuer", str)),
        ("security_token_max_failures", Key("registrations", "max_token_failures", int)),
        ("password_policy", Key("passwords", None, str, dump=PasswordPolicy.rules)),  # assembled in _assemble
        ("worker", Key("jobs", "in_server", bool)),
        ("worker_id", Key("jobs", "worker_id", str)),
        ("job_lease_seconds", Key("jobs", "lease_seconds", float)),
        ("job_max_attempts", Key("jobs", "max_attempts", int)),
        ("nrf_challenge_seconds", Key("claiming", "challenge_seconds", int)),
        ("nrf_device_jwt_max_seconds", Key("claiming", "device_jwt_max_seconds", int)),
        ("broker_hook_secret", Key("broker_hooks", "secret", str)),
        ("broker_hook_cache_seconds", Key("broker_hooks", "cache_seconds", int)),
        ("broker_hook_client_certificates", Key("broker_hooks", "client_certificates", str)),
        ("broker_login_cache_seconds", Key("broker", "login_cache_seconds", float)),
        ("broker_login_cache_entries", Key("broker", "login_cache_entries", int)),
        ("rabbitmq_vhost", Key("broker_hooks", "rabbitmq_vhost", str)),
        ("rabbitmq_exchange", Key("broker_hooks", "rabbitmq_exchange", str)),
        _top("last_seen_flush_seconds", float),
        ("client_registry_new_per_source", Key("registry", "new_per_source", int)),
        ("ca_key_type", Key("pki", "ca_key_type", str)),
        ("ca_common_name", Key("pki", "ca_common_name", str)),
        ("ca_validity_days", Key("pki", "ca_validity_days", int)),
        ("ca_certificate_file", Key("ca_files", "certificate_file", str)),
        ("ca_key_file", Key("ca_files", "key_file", str)),
        ("ca_key_password", Key("ca_files", "key_password", str)),
        ("ca_chain_file", Key("ca_files", "chain_file", str)),
        ("certificate_validity_days", Key("pki", "certificate_validity_days", int)),
        ("certificate_renewal_grace_days", Key("pki", "renewal_grace_days", float)),
        ("crl_validity_hours", Key("pki", "crl_validity_hours", float)),
        ("backup_dir", Key("backups", "dir", str)),
        ("max_backup_upload_bytes", Key("backups", "max_upload_bytes", int)),
        ("tls", Key("tls", "enabled", bool)),
        ("tls_certificate_file", Key("tls", "certificate_file", str)),
        ("tls_key_file", Key("tls", "key_file", str)),
        ("tls_client_ca_file", Key("tls", "client_ca_file", str)),
        ("tls_server_names", Key("tls", "server_names", str)),
        ("trusted_proxies", Key("tls", "trusted_proxies", str)),
        ("client_cert_header", Key("tls", "client_cert_header", str)),
        ("console_idle_minutes", Key("console", "idle_minutes", float)),
        ("console_insecure_cookies", Key("console", "insecure_cookies", bool)),
        ("mqtt_bootstrap_port", Key("mqtt_bootstrap", "port", int)),
        ("mqtt_bootstrap_host", Key("mqtt_bootstrap", "host", str)),
        ("mqtt_bootstrap_max_connections", Key("mqtt_bootstrap", "max_connections", int)),
    ]
)
# `admittance config check` lists the keys in the order of docs/operations/configuration.md.
KEYS = {name: KEYS[name] for name in _ORDER}
_SECRET_KEYS = frozenset(
    {"secret_key", "admin_password", "bootstrap_password", "broker_hook_secret", "ca_key_password"}
)
_SECTIONS = {
    "auth": AuthPolicy,
    "sessions": SessionPolicy,
    "registrations": RegistrationPolicy,
    "jobs": JobPolicy,
    "claiming": ClaimingPolicy,
    "registry": RegistryPolicy,
    "ca_files": OperatorCaFiles,
    "broker": BrokerPolicy,
    "broker_hooks": BrokerHookSettings,
    "backups": BackupSettings,
    "tls": TlsSettings,
    "console": ConsoleSettings,
    "mqtt_bootstrap": MqttBootstrapSettings,
}


def _assemble(flat: Mapping[str, Any]) -> Settings:
    """The settings of a complete set of flat keys (raises SettingsError on an unreadable value)."""
    top: dict[str, Any] = {}
    parts: dict[str, dict[str, Any]] = {name: {} for name in (*_SECTIONS, "pki")}
    for name, key in KEYS.items():
        value = key.load(flat[name]) if key.load is not None else flat[name]
        if key.section is None:
            top[name] = value
        elif key.section in parts and key.attribute is not None:
            parts[key.section][key.attribute] = value
    try:
        database = DatabaseLocation.parse(flat["database_url"], Path(flat["data_dir"]), pool_size=flat["db_pool_size"])
        passwords = PasswordPolicy.from_rules(flat["password_policy"])
    except ValueError as exc:
        raise SettingsError(str(exc)) from exc
    pki = PkiPolicy(**parts.pop("pki"), trusted_store_tenants=frozenset({MANAGEMENT_TENANT, flat["default_tenant"]}))
    sections = {name: _SECTIONS[name](**values) for name, values in parts.items()}
    return Settings(**top, database=database, passwords=passwords, pki=pki, **sections)


_DEFAULTS: dict[str, Any] = Settings().values()
