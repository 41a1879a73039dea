"""What every command shares: settings from the global options, and services for one piece of work."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from admittance.bootstrap import Services, build_services
from admittance.kernel.errors import AdmittanceError
from admittance.settings import Settings, SettingsError, load_settings
from admittance.storage import migrate

T = TypeVar("T")


def settings_from(ctx: click.Context, **overrides: Any) -> Settings:
    root = ctx.find_root()
    config = root.params.get("config")
    common = {"data_dir": root.params.get("data_dir"), "database_url": root.params.get("database_url")}
    try:
        return load_settings(
            os.environ, config_file=Path(config) if config else None, overrides={**common, **overrides}
        )
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


def run_services(settings: Settings, work: Callable[[Services], Awaitable[T]]) -> T:
    async def main() -> T:
        services = await build_services(settings)
        try:
            return await work(services)
        finally:
            await services.close()

    try:
        migrate.upgrade(settings.database)
        return asyncio.run(main())
    except AdmittanceError as exc:
        raise click.ClickException(exc.message) from exc
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
