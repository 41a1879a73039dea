"""Settings: defaults < TOML file < ADMITTANCE_* environment < command-line flags, frozen once loaded.

Every source names a setting by its flat key (`auth_failure_delay_ms`, TOML key and, upper-cased
after `ADMITTANCE_`, environment variable). The keys are assembled into sections that are the
policy objects themselves (`settings.auth` is identity's AuthPolicy, `settings.pki` the PkiPolicy,
...), so the composition root hands them on. Loading has no side effects.
"""

from admittance.settings.errors import SettingsError
from admittance.settings.loading import ENV_PREFIX, load_settings, validate
from admittance.settings.sections import (
    BackupSettings,
    BrokerHookSettings,
    ConsoleSettings,
    MqttBootstrapSettings,
    OperatorCaFiles,
    TlsSettings,
)
from admittance.settings.tree import KEYS, Key, Settings

__all__ = [
    "ENV_PREFIX",
    "KEYS",
    "BackupSettings",
    "BrokerHookSettings",
    "ConsoleSettings",
    "Key",
    "MqttBootstrapSettings",
    "OperatorCaFiles",
    "Settings",
    "SettingsError",
    "TlsSettings",
    "load_settings",
    "validate",
]
