"""The one error of loading settings."""


class SettingsError(ValueError):
    """The settings are inconsistent or unsafe; the message says which and why."""
