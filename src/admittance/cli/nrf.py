"""`admittance nrf import-keys FILE` and `admittance nrf claim-verification MODE`: the nRF Cloud
claim token settings of a tenant, without the HTTP API (same service, same audit events)."""

from __future__ import annotations

from pathlib import Path

import click

from admittance.bootstrap import Services
from admittance.claiming.keys import KeyImport
from admittance.claiming.verification import ClaimVerificationMode
from admittance.cli.common import run_services, settings_from
from admittance.kernel.access import RoleName
from admittance.kernel.principal import Principal

CLI_ACTOR = "cli"


def nrf_operator(tenant_id: str) -> Principal:
    """The CLI acts as the tenant's nRF Cloud owner (whoever can run it can read the database)."""
    return Principal.of(0, tenant_id, CLI_ACTOR, [RoleName.NRF_OWNER.value])


async def _tenant_checked(services: Services, tenant_id: str) -> None:
    if not await services.storage.tenant_exists(tenant_id):
        raise click.ClickException(f"There is no tenant {tenant_id}")


@click.group()
def nrf() -> None:
    """nRF Cloud-compatible claiming: identity keys and the claim verification mode."""


@nrf.command("import-keys")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tenant", "tenant_id", default=None, help="Tenant (default: the default tenant).")
@click.pass_context
def import_keys(ctx: click.Context, file: Path, tenant_id: str | None) -> None:
    """Import device identity public keys from FILE: CSV rows `deviceUuid,publicKey` (PEM or base64
    DER) or JSON [{"deviceUuid", "publicKey"}]. All or nothing; known UUIDs get the new key."""
    settings = settings_from(ctx)
    principal = nrf_operator(tenant_id or settings.default_tenant)
    data = file.read_bytes()
    if len(data) > settings.max_manifest_bytes:
        raise click.ClickException(f"{file} is larger than max_manifest_bytes ({settings.max_manifest_bytes})")
    content_type = "application/json" if file.suffix.lower() == ".json" else None

    async def work(services: Services) -> KeyImport:
        await _tenant_checked(services, principal.tenant_id)
        return await services.identity_keys.import_keys(principal, data, content_type)

    result = run_services(settings, work)
    click.echo(
        f"Imported {result.created + result.updated} identity keys ({result.created} new, {result.updated} replaced)"
    )


@nrf.command("claim-verification")
@click.argument("mode", type=click.Choice([mode.value for mode in ClaimVerificationMode]))
@click.option("--tenant", "tenant_id", default=None, help="Tenant (default: the default tenant).")
@click.pass_context
def claim_verification(ctx: click.Context, mode: str, tenant_id: str | None) -> None:
    """Set how claim tokens are verified: known-keys (the default) or structure-only (labs only)."""
    settings = settings_from(ctx)
    principal = nrf_operator(tenant_id or settings.default_tenant)

    async def work(services: Services) -> ClaimVerificationMode:
        await _tenant_checked(services, principal.tenant_id)
        return await services.identity_keys.set_mode(principal, mode)

    chosen = run_services(settings, work)
    click.echo(f"Claim verification of tenant {principal.tenant_id}: {chosen.value}")
