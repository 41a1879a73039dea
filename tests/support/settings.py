"""Settings for one test: the fixture's settings with a few fields changed."""

from __future__ import annotations

from admittance.settings import Settings


def with_settings(settings: Settings, **changes: object) -> Settings:
    return settings.with_values(**changes)
