"""`admittance devices import|export`, `admittance jobs list|show` and `admittance worker`: bulk
registration without a browser, on the same engine as the HTTP API."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import click

from admittance.bootstrap import Services
from admittance.cli.common import run_services, settings_from
from admittance.devices.bulk.engine import ImportReport
from admittance.devices.bulk.imports import DEVICE_IMPORT
from admittance.devices.bulk.rows import RowStatus
from admittance.jobs import Job
from admittance.kernel.principal import ADMIN_ROLES, Principal

CLI_ACTOR = "cli"
_SHOWN_FAILURES = 20


def operator(tenant_id: str) -> Principal:
    """The CLI acts as an administrator of the tenant (whoever can run it can read the database)."""
    return Principal.of(0, tenant_id, CLI_ACTOR, (role.value for role in ADMIN_ROLES))


class ProgressMeter:
    """One status line on stderr: a bar, rows done, rows/s and the time left."""

    def __init__(self, total: int, label: str, width: int = 30) -> None:
        self._total, self._label, self._width = total, label, width
        self._started = time.monotonic()
        self._shown_at = 0.0

    def show(self, done: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._shown_at < 0.1 and done < self._total:
            return
        self._shown_at = now
        elapsed = max(now - self._started, 1e-6)
        rate = done / elapsed
        filled = self._width * done // self._total if self._total else self._width
        eta = (self._total - done) / rate if rate else 0.0
        click.echo(
            f"\r{self._label} [{'#' * filled}{'-' * (self._width - filled)}] {done:,}/{self._total:,} "
            f"{rate:,.0f} rows/s ETA {int(eta) // 60}:{int(eta) % 60:02d}  ",
            nl=False,
            err=True,
        )

    def close(self) -> None:
        self.show(self._total, force=True)
        click.echo("", err=True)


@click.group()
def devices() -> None:
    """Bulk registration: import and export manifests (Cumulocity's CSV format)."""


@devices.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tenant", "tenant_id", default=None, help="Tenant to import into (default: the default tenant).")
@click.option("--background", is_flag=True, help="Queue the file as a job for the worker and print its id.")
@click.pass_context
def devices_import(ctx: click.Context, file: Path, tenant_id: str | None, background: bool) -> None:
    """Import FILE: per-row results, a progress bar (rows/s, ETA), and a summary at the end."""
    settings = settings_from(ctx)
    principal = operator(tenant_id or settings.default_tenant)
    data = file.read_bytes()
    if len(data) > settings.max_manifest_bytes:
        raise click.ClickException(f"{file} is larger than max_manifest_bytes ({settings.max_manifest_bytes})")

    async def work(services: Services) -> ImportReport | Job:
        if not await services.storage.tenant_exists(principal.tenant_id):
            raise click.ClickException(f"There is no tenant {principal.tenant_id}")
        if background:
            return await services.imports.submit_import(principal, data)
        prepared = await asyncio.to_thread(services.bulk.prepare, principal, data)
        meter = ProgressMeter(len(prepared.rows), file.name)
        report = await services.bulk.run(
            principal, prepared, progress=lambda done, _report: meter.show(done), source=f"cli {file.name}"
        )
        meter.close()
        await services.imports.after_import(report, CLI_ACTOR)
        return report

    outcome = run_services(settings, work)
    if isinstance(outcome, Job):
        click.echo(f"Queued job {outcome.id} ({outcome.total} rows); follow it with: admittance jobs show {outcome.id}")
        return
    _summary(outcome)
    if outcome.failed:
        ctx.exit(2)


def _summary(report: ImportReport) -> None:
    click.echo("")
    for label, value in (
        ("rows", report.total),
        ("created", report.created),
        ("credentials updated", report.updated),
        ("failed", report.failed),
    ):
        click.echo(f"  {label:<20} {value:>9,}")
    failures = [o for o in report.outcomes if o.status is RowStatus.FAILED]
    if failures:
        click.echo("")
        click.echo(f"  {'line':>6}  {'ID':<24} reason")
        for outcome in failures[:_SHOWN_FAILURES]:
            click.echo(f"  {outcome.line:>6}  {(outcome.device_id or '')[:24]:<24} {outcome.reason}")
        if len(failures) > _SHOWN_FAILURES:
            click.echo(f"  ... and {len(failures) - _SHOWN_FAILURES} more")
    if report.pending_passwords:
        click.echo(
            f"\n  {report.pending_passwords} passwords were not random enough for the fast hash; a background job "
            "wraps them in argon2id (`admittance worker` or a running server does it). They work already."
        )


@devices.command("export")
@click.option("--tenant", "tenant_id", default=None, help="Tenant to export (default: the default tenant).")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="File to write (default: stdout)."
)
@click.option("--separator", type=click.Choice([";", ",", "tab"]), default=";", show_default=True)
@click.pass_context
def devices_export(ctx: click.Context, tenant_id: str | None, output: Path | None, separator: str) -> None:
    """Write the registry's devices as a manifest in the import's columns (without credentials)."""
    settings = settings_from(ctx)
    principal = operator(tenant_id or settings.default_tenant)
    text, count = run_services(
        settings, lambda s: s.exporter.export(principal, separator="\t" if separator == "tab" else separator)
    )
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"Wrote {count} devices to {output}", err=True)


@click.group()
def jobs() -> None:
    """Background jobs: imports and password wrapping."""


def _describe(job: Job) -> str:
    processed = job.cursor if job.kind == DEVICE_IMPORT else job.updated_count
    return (
        f"{job.id}  {job.kind:<14} {job.status.value:<11} {processed:>7,}/{job.total:<7,} "
        f"created {job.created_count:,} updated {job.updated_count:,} failed {job.failed_count:,}"
        + (f"  error: {job.error}" if job.error else "")
    )


@jobs.command("list")
@click.option("--tenant", "tenant_id", default=None, help="Tenant (default: the default tenant).")
@click.pass_context
def jobs_list(ctx: click.Context, tenant_id: str | None) -> None:
    from admittance.kernel.paging import PageRequest

    settings = settings_from(ctx)
    principal = operator(tenant_id or settings.default_tenant)
    page = run_services(settings, lambda s: s.jobs.list_jobs(principal, PageRequest(1, 100)))
    for job in page.items:
        click.echo(_describe(job))


@jobs.command("show")
@click.argument("job_id")
@click.option("--tenant", "tenant_id", default=None, help="Tenant (default: the default tenant).")
@click.pass_context
def jobs_show(ctx: click.Context, job_id: str, tenant_id: str | None) -> None:
    settings = settings_from(ctx)
    principal = operator(tenant_id or settings.default_tenant)
    click.echo(_describe(run_services(settings, lambda s: s.jobs.get(principal, job_id))))


@click.command()
@click.option("--drain", is_flag=True, help="Stop when no job is left instead of waiting for more.")
@click.pass_context
def worker(ctx: click.Context, drain: bool) -> None:
    """Run background jobs (any number of workers may share one PostgreSQL database)."""
    settings = settings_from(ctx)

    async def work(services: Services) -> int:
        runner = services.runner
        if drain:
            count = 0
            while await runner.run_once() is not None:
                count += 1
            return count
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        task = asyncio.create_task(runner.run_forever(stop))
        await stop.wait()
        from admittance.jobs.runner import stop_task

        await stop_task(task, stop)
        return 0

    count = run_services(settings, work)
    if drain:
        click.echo(f"Ran {count} jobs", err=True)
