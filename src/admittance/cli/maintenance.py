"""`admittance backup` and `admittance restore`: the same service as /api/maintenance/db."""

from __future__ import annotations

from pathlib import Path

import click

from admittance.cli.common import run_services, settings_from


@click.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the backup to this file instead of <backup_dir>/<id>.zip.",
)
@click.pass_context
def backup(ctx: click.Context, output: str | None) -> None:
    """Take a consistent backup of the whole database (every tenant; password hashes and sealed keys
    included, the server secret key not): protect the file like the database itself."""
    settings = settings_from(ctx)
    target = Path(output) if output else None
    created, _manifest = run_services(settings, lambda s: s.maintenance.backup(None, output=target))
    written = target if target is not None else settings.backup_path / f"{created.id}.zip"
    click.echo(f"backup {created.id} written to {written}")
    click.echo(f"{created.status_message}; sha256 {created.sha256}")


@click.command()
@click.argument("source")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def restore(ctx: click.Context, source: str, yes: bool) -> None:
    """Replace every table's rows with a backup's. SOURCE is a backup file, or the id of a backup
    in the backup folder. The backup is checked completely first; a damaged backup, or one of
    another schema revision, is refused and the database is left as it was."""
    settings = settings_from(ctx)
    path = Path(source)
    if not yes:
        click.confirm(
            f"Replace ALL data in {settings.database.redacted()} with the backup {source}?", abort=True, err=True
        )
    if path.is_file():
        done = run_services(settings, lambda s: s.maintenance.restore(None, upload=path))
    elif "/" not in source and not source.endswith(".zip"):
        done = run_services(settings, lambda s: s.maintenance.restore(None, backup_id=source))
    else:
        raise click.ClickException(f"{source}: no such file")
    click.echo(done.status_message)
