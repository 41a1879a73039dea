"""`admittance` commands: serve, config check, users, tenants, db. They call the same services as
the HTTP API, built by the same composition root."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from admittance import __version__
from admittance.bootstrap import Services, first_start
from admittance.cli.common import run_services, settings_from
from admittance.cli.devices import devices, jobs, worker
from admittance.cli.maintenance import backup, restore
from admittance.cli.nrf import nrf
from admittance.cli.simulate import simulate
from admittance.cli.tls import TlsFiles, prepare_tls
from admittance.identity import SecurityTokenPolicy
from admittance.identity.service import FirstStart
from admittance.kernel.secrets import random_password
from admittance.settings import ENV_PREFIX
from admittance.storage import migrate


@click.group()
@click.version_option(__version__, prog_name="admittance", message="%(prog)s %(version)s")
@click.option("--config", type=click.Path(dir_okay=False), help="TOML settings file ([admittance] table).")
@click.option("--data-dir", help="Data folder (SQLite database, generated secret key).")
@click.option("--database-url", help="postgresql://... selects PostgreSQL; default SQLite in the data folder.")
def main(config: str | None, data_dir: str | None, database_url: str | None) -> None:
    """Admittance: zero-touch device onboarding and identity server."""


@main.command()
@click.option("--data-dir", "serve_data_dir", help="Data folder (same as the global option).")
@click.option("--database-url", "serve_database_url", help="Database URL (same as the global option).")
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default 8111).")
@click.option("--workers", type=int, help="Worker processes (default 1).")
@click.pass_context
def serve(
    ctx: click.Context,
    serve_data_dir: str | None,
    serve_database_url: str | None,
    host: str | None,
    port: int | None,
    workers: int | None,
) -> None:
    """Migrate the database, create the first tenants and users if needed, and serve HTTP."""
    import uvicorn

    settings = settings_from(ctx, host=host, port=port, workers=workers)
    if serve_data_dir or serve_database_url:
        settings = settings_from(
            ctx,
            host=host,
            port=port,
            workers=workers,
            data_dir=serve_data_dir or settings.data_dir,
            database_url=serve_database_url or settings.database.url,
        )
    created, tls = run_services(settings, _starting)
    # A wildcard bind address is not something a browser can open: show localhost instead.
    host = "localhost" if settings.host in {"0.0.0.0", "::", ""} else settings.host  # noqa: S104 - compared, not bound
    base = (settings.public_url or f"{'https' if tls else 'http'}://{host}:{settings.port}").rstrip("/")
    click.echo(f"Admittance is starting at {base}")
    click.echo(f"  the admin console: {base}/  (a browser is led to {base}/console/)")
    if settings.mqtt_bootstrap.on:
        mqtt_host = settings.mqtt_bootstrap.host or host
        scheme = "mqtts" if tls else "mqtt"
        click.echo(f"  the MQTT bootstrap (Cumulocity s/ucr): {scheme}://{mqtt_host}:{settings.mqtt_bootstrap.port}")
    if created is not None:
        click.echo(
            "First start: created the tenants 'management' and "
            f"'{created.default_tenant}', the admin and the bootstrap user."
        )
        if created.admin_password:
            click.echo(f"  admin user:     {created.default_tenant}/admin  password: {created.admin_password}")
        if created.bootstrap_password:
            click.echo(f"  bootstrap user: management/devicebootstrap  password: {created.bootstrap_password}")
        click.echo("  These generated passwords are shown only now.")
    # Worker processes read their settings from the environment, so flags go there too.
    for name, value in (
        ("data_dir", settings.data_dir),
        ("database_url", settings.database.url),
        ("host", settings.host),
        ("port", settings.port),
        ("workers", settings.workers),
    ):
        os.environ[ENV_PREFIX + name.upper()] = str(value)
    if ctx.find_root().params.get("config"):
        os.environ[ENV_PREFIX + "CONFIG"] = str(ctx.find_root().params["config"])
    protocol: dict[str, Any] = tls.uvicorn_options() if tls else {"http": "httptools"}
    uvicorn.run(
        "admittance.http.asgi:app_factory",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        backlog=4096,
        log_level=settings.log_level,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        **protocol,
    )


async def _starting(services: Services) -> tuple[FirstStart | None, TlsFiles | None]:
    """First start (tenants and users) and, with TLS on, the certificate files for uvicorn."""
    return await first_start(services), await prepare_tls(services)


@main.group()
def config() -> None:
    """Settings."""


@config.command("check")
@click.pass_context
def config_check(ctx: click.Context) -> None:
    """Print the effective settings (secrets redacted) and refuse unsafe ones."""
    settings = settings_from(ctx)
    click.echo(json.dumps(settings.redacted(), indent=2))
    click.echo("settings OK")


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply every pending migration."""
    settings = settings_from(ctx)
    migrate.upgrade(settings.database)
    click.echo(f"database at revision {migrate.current_revision(settings.database)}")


@main.group()
def tenants() -> None:
    """Tenants."""


@tenants.command("create")
@click.argument("tenant_id")
@click.option(
    "--security-token-policy",
    type=click.Choice([p.value for p in SecurityTokenPolicy]),
    default=SecurityTokenPolicy.OPTIONAL.value,
    show_default=True,
)
@click.option("--device-limit", type=int, help="Largest number of devices the tenant may register.")
@click.pass_context
def tenants_create(ctx: click.Context, tenant_id: str, security_token_policy: str, device_limit: int | None) -> None:
    """Create a tenant."""
    tenant = run_services(
        settings_from(ctx),
        lambda s: s.identity.create_tenant(
            tenant_id, policy=SecurityTokenPolicy(security_token_policy), device_limit=device_limit, actor="cli"
        ),
    )
    click.echo(f"created tenant {tenant.id}")


@tenants.command("list")
@click.pass_context
def tenants_list(ctx: click.Context) -> None:
    """List tenants."""
    for tenant in run_services(settings_from(ctx), lambda s: s.identity.list_tenants()):
        limit = "" if tenant.device_limit is None else f" device-limit={tenant.device_limit}"
        click.echo(f"{tenant.id}\tsecurity-token-policy={tenant.security_token_policy.value}{limit}")


@main.group()
def users() -> None:
    """Users."""


def _password_option(password: str | None, generate: bool) -> tuple[str, bool]:
    if password and generate:
        raise click.UsageError("give either --password or --generate, not both")
    if generate:
        return random_password(32), True
    if password:
        return password, False
    entered = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return str(entered), False


@users.command("create")
@click.option("--tenant", "tenant_id", required=True)
@click.argument("username")
@click.option("--role", "roles", multiple=True, help="Role name, e.g. ROLE_DEVICE_CONTROL_ADMIN (repeatable).")
@click.option("--password", envvar="ADMITTANCE_NEW_PASSWORD", help="Or ADMITTANCE_NEW_PASSWORD; else prompted.")
@click.option("--generate", is_flag=True, help="Generate a strong password and print it once.")
@click.pass_context
def users_create(
    ctx: click.Context, tenant_id: str, username: str, roles: tuple[str, ...], password: str | None, generate: bool
) -> None:
    """Create a user."""
    secret, generated = _password_option(password, generate)
    user = run_services(
        settings_from(ctx),
        lambda s: s.identity.create_user(tenant_id, username, secret, roles, generated=generated, actor="cli"),
    )
    click.echo(f"created user {user.tenant_id}/{user.username}")
    if generated:
        click.echo(f"password: {secret}")


@users.command("list")
@click.option("--tenant", "tenant_id", required=True)
@click.pass_context
def users_list(ctx: click.Context, tenant_id: str) -> None:
    """List the users of a tenant."""
    for user in run_services(settings_from(ctx), lambda s: s.identity.list_users(tenant_id)):
        state = "enabled" if user.enabled else "disabled"
        click.echo(f"{user.username}\t{user.kind.value}\t{state}\t{','.join(sorted(user.roles))}")


@users.command("set-password")
@click.option("--tenant", "tenant_id", required=True)
@click.argument("username")
@click.option("--password", envvar="ADMITTANCE_NEW_PASSWORD", help="Or ADMITTANCE_NEW_PASSWORD; else prompted.")
@click.option("--generate", is_flag=True, help="Generate a strong password and print it once.")
@click.pass_context
def users_set_password(ctx: click.Context, tenant_id: str, username: str, password: str | None, generate: bool) -> None:
    """Set a user's password (also rotates the bootstrap user: --tenant management devicebootstrap)."""
    secret, generated = _password_option(password, generate)
    run_services(
        settings_from(ctx),
        lambda s: s.identity.set_password(tenant_id, username, secret, generated=generated, actor="cli"),
    )
    click.echo(f"password changed for {tenant_id}/{username}")
    if generated:
        click.echo(f"password: {secret}")


main.add_command(devices)
main.add_command(jobs)
main.add_command(worker)
main.add_command(backup)
main.add_command(restore)
main.add_command(nrf)
main.add_command(simulate)
