"""Loading: defaults < TOML file < ADMITTANCE_* environment < flags, by flat key; then the checks that
refuse what is inconsistent anywhere and what is unsafe outside development mode."""

from __future__ import annotations

import ipaddress
import json
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from admittance.pki.ca import CA_KEY_TYPES
from admittance.settings.errors import SettingsError
from admittance.settings.tree import KEYS, Settings

ENV_PREFIX = "ADMITTANCE_"
# Secret values that are never acceptable outside development mode.
KNOWN_WEAK_SECRETS = frozenset({"", "secret", "changeme", "change-me", "admittance", "password", "dev", "test"})
MIN_SECRET_KEY_CHARS = 32
MIN_BROKER_SECRET_CHARS = 16


def _coerce(name: str, raw: Any) -> Any:
    kind = KEYS[name].kind
    try:
        if kind is Path:
            return Path(str(raw))
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if isinstance(raw, dict):  # a TOML table, e.g. password_policy = { min = 12 }
            return json.dumps(raw)
        return str(raw)
    except ValueError as exc:
        raise SettingsError(f"setting {name}: cannot read {raw!r} as {kind.__name__}") from exc


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
            if key not in KEYS:
                raise SettingsError(f"unknown setting {key!r} in {file_path}")
            values[key] = _coerce(key, raw)
    for name in KEYS:
        env_name = ENV_PREFIX + name.upper()
        if env_name in environ:
            values[name] = _coerce(name, environ[env_name])
    for name, raw in (overrides or {}).items():
        if raw is not None:
            values[name] = _coerce(name, raw)
    settings = Settings.of(**values)
    validate(settings)
    return settings


def validate(settings: Settings) -> None:
    """Refuse what is inconsistent anywhere, and what is unsafe outside development mode."""
    location = settings.database
    values = settings.values()
    if not 0 < values["port"] < 65536:
        raise SettingsError("port must be between 1 and 65535")
    if values["workers"] < 1:
        raise SettingsError("workers must be at least 1")
    if values["max_body_bytes"] < 1024:
        raise SettingsError("max_body_bytes must be at least 1024")
    if values["max_manifest_bytes"] < 1024:
        raise SettingsError("max_manifest_bytes must be at least 1024")
    if values["max_backup_upload_bytes"] < 1024:
        raise SettingsError("max_backup_upload_bytes must be at least 1024")
    if values["job_lease_seconds"] < 1 or values["job_max_attempts"] < 1:
        raise SettingsError("job_lease_seconds and job_max_attempts must be at least 1")
    if values["nrf_challenge_seconds"] < 1:
        raise SettingsError("nrf_challenge_seconds must be at least 1")
    if not 1 <= values["nrf_device_jwt_max_seconds"] <= 604800:
        raise SettingsError("nrf_device_jwt_max_seconds must be between 1 and 604800")
    _validate_tls(values)
    if not 0 <= values["mqtt_bootstrap_port"] < 65536:
        raise SettingsError("mqtt_bootstrap_port must be between 0 (off) and 65535")
    if values["mqtt_bootstrap_port"] and values["mqtt_bootstrap_port"] == values["port"]:
        raise SettingsError("mqtt_bootstrap_port must differ from port (the HTTP server's)")
    if values["mqtt_bootstrap_max_connections"] < 1:
        raise SettingsError("mqtt_bootstrap_max_connections must be at least 1")
    if values["client_registry_new_per_source"] < 1:
        raise SettingsError("client_registry_new_per_source must be at least 1")
    if values["broker_hook_cache_seconds"] < 0:
        raise SettingsError("broker_hook_cache_seconds must not be negative")
    _validate_broker(values)
    _validate_pki(values)
    if values["token_expire_hours"] <= 0 or values["token_max_hours"] < values["token_expire_hours"]:
        raise SettingsError("token_expire_hours must be positive and token_max_hours at least as large")
    if values["console_idle_minutes"] <= 0:
        raise SettingsError("console_idle_minutes must be positive")
    limits = (values["auth_failures_per_user"], values["auth_failures_per_source"])
    if min(*limits, values["mfa_max_invalid_otps_per_user"]) < 1:
        raise SettingsError(
            "auth_failures_per_user, auth_failures_per_source and mfa_max_invalid_otps_per_user must be at least 1"
        )
    if values["dev_mode"]:
        return
    key = values["secret_key"]
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
    hook_secret = values["broker_hook_secret"]
    if hook_secret and (hook_secret.lower() in KNOWN_WEAK_SECRETS or len(hook_secret) < MIN_BROKER_SECRET_CHARS):
        raise SettingsError(
            f"ADMITTANCE_BROKER_HOOK_SECRET is weak: use at least {MIN_BROKER_SECRET_CHARS} random characters"
        )
    for name in ("admin_password", "bootstrap_password"):
        value = values[name]
        if value and (value.lower() in KNOWN_WEAK_SECRETS or len(value) < 8):
            raise SettingsError(f"ADMITTANCE_{name.upper()} is weak: use at least 8 characters")


def _validate_broker(values: Mapping[str, Any]) -> None:
    if values["broker_login_cache_seconds"] < 0 or values["broker_login_cache_entries"] < 0:
        raise SettingsError("broker_login_cache_seconds and broker_login_cache_entries must not be negative")
    if not 0.1 <= values["last_seen_flush_seconds"] <= 3600:
        raise SettingsError("last_seen_flush_seconds must be between 0.1 and 3600")
    for part in values["broker_hook_client_certificates"].split(","):
        fingerprint = part.strip().lower().replace(":", "")
        if part.strip() and not re.fullmatch(r"[0-9a-f]{64}", fingerprint):
            raise SettingsError(
                "broker_hook_client_certificates: comma-separated SHA-256 fingerprints (64 hex digits each)"
            )
    for name in ("rabbitmq_vhost", "rabbitmq_exchange"):
        if not values[name] or len(values[name]) > 255 or any(ord(c) < 32 for c in values[name]):
            raise SettingsError(f"{name} must be 1 to 255 printable characters")


def _validate_tls(values: Mapping[str, Any]) -> None:
    if bool(values["tls_certificate_file"]) != bool(values["tls_key_file"]):
        raise SettingsError("tls_certificate_file and tls_key_file must be set together")
    try:
        for part in values["trusted_proxies"].split(","):
            if part.strip():
                ipaddress.ip_network(part.strip(), strict=False)
    except ValueError as exc:
        raise SettingsError(f"trusted_proxies: {exc} (comma-separated addresses or CIDRs)") from exc
    header = values["client_cert_header"]
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*", header):
        raise SettingsError("client_cert_header must be a header name (letters, digits, dashes)")
    if header.lower() in ("authorization", "host", "cookie", "content-type", "content-length"):
        raise SettingsError(f"client_cert_header cannot be {header!r}")


def _validate_pki(values: Mapping[str, Any]) -> None:
    if values["ca_key_type"] not in CA_KEY_TYPES:
        raise SettingsError(f"ca_key_type must be one of {', '.join(CA_KEY_TYPES)}")
    if not values["ca_common_name"].strip() or len(values["ca_common_name"]) > 64:
        raise SettingsError("ca_common_name must have 1 to 64 characters")
    if bool(values["ca_certificate_file"]) != bool(values["ca_key_file"]):
        raise SettingsError("ca_certificate_file and ca_key_file go together: set both or neither")
    if values["ca_chain_file"] and not values["ca_certificate_file"]:
        raise SettingsError("ca_chain_file needs ca_certificate_file and ca_key_file")
    if values["ca_validity_days"] < 1 or values["certificate_validity_days"] < 1:
        raise SettingsError("ca_validity_days and certificate_validity_days must be at least 1")
    if values["certificate_renewal_grace_days"] < 0:
        raise SettingsError("certificate_renewal_grace_days must not be negative")
    if values["crl_validity_hours"] <= 0:
        raise SettingsError("crl_validity_hours must be positive")
