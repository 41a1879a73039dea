"""Settings: defaults < TOML file < ADMITTANCE_* environment < command-line flags, frozen once loaded.

Loading has no side effects; the composition root (bootstrap.py) acts on the settings.
"""

from __future__ import annotations

import ipaddress
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from admittance.identity.model import PasswordPolicy
from admittance.pki.ca import CA_KEY_TYPES
from admittance.storage.location import DatabaseLocation

ENV_PREFIX = "ADMITTANCE_"
# Secret values that are never acceptable outside development mode.
KNOWN_WEAK_SECRETS = frozenset({"", "secret", "changeme", "change-me", "admittance", "password", "dev", "test"})
MIN_SECRET_KEY_CHARS = 32
MIN_BROKER_SECRET_CHARS = 16


class SettingsError(ValueError):
    """The settings are inconsistent or unsafe; the message says which and why."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("admittance-data")
    database_url: str = ""  # empty: SQLite in the data folder
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
    auth_cache_ttl_seconds: float = 300.0
    auth_failure_delay_ms: int = 300
    auth_failures_per_source: int = 30
    auth_failures_per_user: int = 10
    auth_lockout_wait_seconds: float = 60.0  # each max-failures more failures lock one more increment
    auth_lockout_max_wait_seconds: float = 900.0
    auth_failure_reset_seconds: float = 43_200.0  # failure counters forget after 12 h without a failure
    token_expire_hours: float = 12.0  # session token lifetime; also the most a token without a label may ask for
    token_max_hours: float = 8760.0  # the most a labelled (long-lived) API token may ask for
    mfa_issuer: str = "Admittance"  # the issuer shown by authenticator apps
    mfa_max_invalid_otps_per_user: int = 5
    mfa_ban_minutes: float = 15.0
    security_token_max_failures: int = 3
    # Connectware's password rules (JSON: min, lower, upper, numeric, symbol); malformed: the server refuses to start
    password_policy: str = '{"min": 8}'  # noqa: S105 - rules, not a password
    db_pool_size: int = 10
    max_manifest_bytes: int = 50 * 1024 * 1024  # bulk registration files (CSV manifests)
    worker: bool = True  # run the background job worker inside `admittance serve`
    worker_id: str = ""  # names this process's job leases; empty: host name and process id
    job_lease_seconds: float = 60.0  # a job whose worker stopped renewing this long is taken over
    job_max_attempts: int = 3  # a job that lost its worker this often is failed, not retried
    nrf_challenge_seconds: int = 600  # nRF claim token challenges (POST /admittance/v1/nrf/challenges) expire
    nrf_device_jwt_max_seconds: int = 604800  # longest lifetime (exp - iat) of a device JWT (sdk-nrf allows 604800)
    broker_hook_secret: str = ""  # /api/broker/auth/*: required when set; empty: loopback callers only
    broker_hook_cache_seconds: int = 0  # cache-control max-age on allowed broker answers; 0: no caching
    # The client registry: new registration requests one address may make before it waits (60 s more
    # for each further such number; counted afresh after 10 minutes without one)
    client_registry_new_per_source: int = 30
    # The device PKI (docs/operations/pki.md). Generated CA: key type (ec-p256, ec-p384, rsa-2048,
    # rsa-3072), CN and validity. Operator's CA: certificate and key files (PEM; the key optionally
    # encrypted with ca_key_password), its chain up to the root optional; both files or neither.
    ca_key_type: str = "ec-p256"
    ca_common_name: str = "Admittance Device CA"
    ca_validity_days: int = 3650
    ca_certificate_file: str = ""
    ca_key_file: str = ""
    ca_key_password: str = ""
    ca_chain_file: str = ""
    certificate_validity_days: int = 365  # issued device certificates
    certificate_renewal_grace_days: float = 0.0  # renewal this long after expiry (same key); 0: never after expiry
    crl_validity_hours: float = 24.0  # the CRL's nextUpdate
    backup_dir: str = ""  # database backups (files named by id); empty: <data_dir>/backups
    max_backup_upload_bytes: int = 1024 * 1024 * 1024  # a backup uploaded to POST /api/maintenance/db/restore
    # TLS in `admittance serve` and client certificates (docs/operations/client-certificates.md)
    tls: bool = False  # serve HTTPS; also on when tls_certificate_file is set
    tls_certificate_file: str = ""  # server certificate chain (PEM); empty with tls: issued from the device CA
    tls_key_file: str = ""  # its private key (PEM)
    tls_client_ca_file: str = ""  # client-certificate CA bundle; empty: the trusted store (device CA, chain, added)
    tls_server_names: str = "localhost,127.0.0.1"  # DNS names / addresses of the issued server certificate
    trusted_proxies: str = ""  # addresses/CIDRs whose client_cert_header is believed; empty: nobody's
    client_cert_header: str = "x-client-cert"  # verified client certificate from a trusted proxy (URL-encoded PEM)
    # The admin console (/console): a session ends after this many idle minutes (and at the latest
    # after token_expire_hours); its cookies are Secure unless console_insecure_cookies is set
    # (only for a plain-HTTP server reached by another name than localhost, e.g. on a lab network).
    console_idle_minutes: float = 30.0
    console_insecure_cookies: bool = False

    @property
    def database(self) -> DatabaseLocation:
        return DatabaseLocation.parse(self.database_url, self.data_dir)

    @property
    def backup_path(self) -> Path:
        return Path(self.backup_dir) if self.backup_dir else Path(self.data_dir) / "backups"

    def redacted(self) -> dict[str, Any]:
        """Every effective setting, secrets replaced, for `admittance config check`."""
        shown: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name in _SECRET_FIELDS:
                value = "***" if value else "(not set)"
            elif item.name == "database_url":
                value = self.database.redacted()
            shown[item.name] = str(value) if isinstance(value, Path) else value
        return shown


_SECRET_FIELDS = frozenset(
    {"secret_key", "admin_password", "bootstrap_password", "broker_hook_secret", "ca_key_password"}
)
_FIELD_TYPES = {item.name: item.type for item in fields(Settings)}


def _coerce(name: str, raw: Any) -> Any:
    kind = _FIELD_TYPES[name]
    try:
        if kind == "Path":
            return Path(str(raw))
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if isinstance(raw, dict):  # a TOML table, e.g. password_policy = { min = 12 }
            return json.dumps(raw)
        return str(raw)
    except ValueError as exc:
        raise SettingsError(f"setting {name}: cannot read {raw!r} as {kind}") from exc


def load_settings(
    environ: Mapping[str, str],
    *,
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    values: dict[str, Any] = {}
    file_path = config_file or (Path(environ[ENV_PREFIX + "CONFIG"]) if environ.get(ENV_PREFIX + "CONFIG") else None)
    if file_path is not None:
        try:
            document = tomllib.loads(file_path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"cannot read the settings file {file_path}: {exc}") from exc
        section = document.get("admittance", document)
        for key, raw in section.items():
            if key not in _FIELD_TYPES:
                raise SettingsError(f"unknown setting {key!r} in {file_path}")
            values[key] = _coerce(key, raw)
    for name in _FIELD_TYPES:
        env_name = ENV_PREFIX + name.upper()
        if env_name in environ:
            values[name] = _coerce(name, environ[env_name])
    for name, raw in (overrides or {}).items():
        if raw is not None:
            values[name] = _coerce(name, raw)
    settings = replace(Settings(), **values)
    validate(settings)
    return settings


def validate(settings: Settings) -> None:
    """Refuse what is inconsistent anywhere, and what is unsafe outside development mode."""
    try:
        location = settings.database
    except ValueError as exc:
        raise SettingsError(str(exc)) from exc
    if not 0 < settings.port < 65536:
        raise SettingsError("port must be between 1 and 65535")
    if settings.workers < 1:
        raise SettingsError("workers must be at least 1")
    if settings.max_body_bytes < 1024:
        raise SettingsError("max_body_bytes must be at least 1024")
    if settings.max_manifest_bytes < 1024:
        raise SettingsError("max_manifest_bytes must be at least 1024")
    if settings.max_backup_upload_bytes < 1024:
        raise SettingsError("max_backup_upload_bytes must be at least 1024")
    if settings.job_lease_seconds < 1 or settings.job_max_attempts < 1:
        raise SettingsError("job_lease_seconds and job_max_attempts must be at least 1")
    if settings.nrf_challenge_seconds < 1:
        raise SettingsError("nrf_challenge_seconds must be at least 1")
    if not 1 <= settings.nrf_device_jwt_max_seconds <= 604800:
        raise SettingsError("nrf_device_jwt_max_seconds must be between 1 and 604800")
    try:
        PasswordPolicy.from_rules(settings.password_policy)
    except ValueError as exc:
        raise SettingsError(str(exc)) from exc
    _validate_tls(settings)
    if settings.client_registry_new_per_source < 1:
        raise SettingsError("client_registry_new_per_source must be at least 1")
    if settings.broker_hook_cache_seconds < 0:
        raise SettingsError("broker_hook_cache_seconds must not be negative")
    validate_pki(settings)
    if settings.token_expire_hours <= 0 or settings.token_max_hours < settings.token_expire_hours:
        raise SettingsError("token_expire_hours must be positive and token_max_hours at least as large")
    if settings.console_idle_minutes <= 0:
        raise SettingsError("console_idle_minutes must be positive")
    limits = (settings.auth_failures_per_user, settings.auth_failures_per_source)
    if min(*limits, settings.mfa_max_invalid_otps_per_user) < 1:
        raise SettingsError(
            "auth_failures_per_user, auth_failures_per_source and mfa_max_invalid_otps_per_user must be at least 1"
        )
    if settings.dev_mode:
        return
    key = settings.secret_key
    if key and (key.lower() in KNOWN_WEAK_SECRETS or len(key) < MIN_SECRET_KEY_CHARS):
        raise SettingsError(
            f"ADMITTANCE_SECRET_KEY is weak: use at least {MIN_SECRET_KEY_CHARS} random characters "
            "(for example: python -c 'import secrets; print(secrets.token_urlsafe(48))'), "
            "or set ADMITTANCE_DEV_MODE=true for a throwaway development server"
        )
    if not key and location.dialect == "postgresql":
        raise SettingsError(
            "ADMITTANCE_SECRET_KEY must be set when the database is PostgreSQL: every server process "
            "sharing the database needs the same key"
        )
    hook_secret = settings.broker_hook_secret
    if hook_secret and (hook_secret.lower() in KNOWN_WEAK_SECRETS or len(hook_secret) < MIN_BROKER_SECRET_CHARS):
        raise SettingsError(
            f"ADMITTANCE_BROKER_HOOK_SECRET is weak: use at least {MIN_BROKER_SECRET_CHARS} random characters"
        )
    for name in ("admin_password", "bootstrap_password"):
        value = getattr(settings, name)
        if value and (value.lower() in KNOWN_WEAK_SECRETS or len(value) < 8):
            raise SettingsError(f"ADMITTANCE_{name.upper()} is weak: use at least 8 characters")


def _validate_tls(settings: Settings) -> None:
    if bool(settings.tls_certificate_file) != bool(settings.tls_key_file):
        raise SettingsError("tls_certificate_file and tls_key_file must be set together")
    try:
        for part in settings.trusted_proxies.split(","):
            if part.strip():
                ipaddress.ip_network(part.strip(), strict=False)
    except ValueError as exc:
        raise SettingsError(f"trusted_proxies: {exc} (comma-separated addresses or CIDRs)") from exc
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*", settings.client_cert_header):
        raise SettingsError("client_cert_header must be a header name (letters, digits, dashes)")
    if settings.client_cert_header.lower() in ("authorization", "host", "cookie", "content-type", "content-length"):
        raise SettingsError(f"client_cert_header cannot be {settings.client_cert_header!r}")


def validate_pki(settings: Settings) -> None:
    if settings.ca_key_type not in CA_KEY_TYPES:
        raise SettingsError(f"ca_key_type must be one of {', '.join(CA_KEY_TYPES)}")
    if not settings.ca_common_name.strip() or len(settings.ca_common_name) > 64:
        raise SettingsError("ca_common_name must have 1 to 64 characters")
    if bool(settings.ca_certificate_file) != bool(settings.ca_key_file):
        raise SettingsError("ca_certificate_file and ca_key_file go together: set both or neither")
    if settings.ca_chain_file and not settings.ca_certificate_file:
        raise SettingsError("ca_chain_file needs ca_certificate_file and ca_key_file")
    if settings.ca_validity_days < 1 or settings.certificate_validity_days < 1:
        raise SettingsError("ca_validity_days and certificate_validity_days must be at least 1")
    if settings.certificate_renewal_grace_days < 0:
        raise SettingsError("certificate_renewal_grace_days must not be negative")
    if settings.crl_validity_hours <= 0:
        raise SettingsError("crl_validity_hours must be positive")
