"""Shared pieces of the bulk registration tests: the seed's example file, upload and auth helpers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import httpx

from admittance.bootstrap import Services
from admittance.identity import PresentedCredentials
from admittance.kernel.principal import Principal
from admittance.storage.schema import metadata
from tests.support.credentials import ADMIN_PASSWORD
from tests.support.cumulocity import ADMIN, basic

BULK = "/devicecontrol/bulkNewDeviceRequests"
BULK_TYPE = "application/vnd.com.nsn.cumulocity.bulknewdevicerequest+json;charset=UTF-8;ver=0.9"

# The example request of the seed (cumulocity-device-credentials-reference, "Bulk device credentials").
SEED_EXAMPLE = """ID;CREDENTIALS;TYPE;NAME;ICCID;IDTYPE;PATH;SHELL
id_101;abcd1234;type_of_device;Device 101;111111111;;csv device/subgroup0;1
id_102;abcd1234;type_of_device;Device 102;222222222;;csv device/subgroup0;0
id_111;abcd1234;type_of_device;Device 111;333333333;c8y_Imei;csv device1/subgroup1;0
id_112;abcd1234;type_of_device;Device 112;444444444;;csv device1/subgroup1;1
id_121;abcd1234;type_of_device;Device 121;555555555;;csv device1/subgroup2;1
id_122;abcd1234;type_of_device;Device 122;;;csv device1/subgroup2;
id_131;abcd1234;type_of_device;Device 131;;;csv device1/subgroup3;
"""


async def upload(
    client: httpx.AsyncClient,
    content: bytes | str,
    *,
    auth: dict[str, str] = ADMIN,
    part_type: str = "text/csv",
    filename: str = "bulk-registration.csv",
) -> httpx.Response:
    data = content.encode() if isinstance(content, str) else content
    return await client.post(
        BULK, files={"file": (filename, data, part_type)}, headers={"Accept": "application/json", **auth}
    )


def device_auth(device_id: str, password: str, tenant: str = "t1") -> dict[str, str]:
    return basic(f"{tenant}/device_{device_id}", password)


async def sql(services: Services, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Rows of a query on the services' database (same placeholders on SQLite and PostgreSQL)."""
    async with services.database.read() as db:
        return [dict(cast("Mapping[str, Any]", row)) for row in await db.fetch_all(query, params or {})]


async def database_text(services: Services) -> str:
    """Every value of every table as text: to prove a secret is stored nowhere in plaintext."""
    values: list[str] = []
    for table in metadata.sorted_tables:
        for row in await sql(services, f"SELECT * FROM {table.name}"):
            values.extend(
                value.decode(errors="replace") if isinstance(value, bytes) else str(value) for value in row.values()
            )
    return "\n".join(values)


async def principal(services: Services, tenant: str = "t1", username: str = "admin", password: str = "") -> Principal:
    return await services.identity.authenticate(
        PresentedCredentials(tenant, username, password or ADMIN_PASSWORD, "127.0.0.1")
    )


async def group_names(services: Services, tenant: str = "t1") -> list[tuple[str, str]]:
    """(type, name) of every group of a tenant, sorted."""
    rows = await sql(
        services,
        "SELECT type, name FROM managed_objects WHERE tenant_id = :tenant AND type IN (:group, :subgroup)",
        {"tenant": tenant, "group": "c8y_DeviceGroup", "subgroup": "c8y_DeviceSubGroup"},
    )
    return sorted((row["type"], row["name"]) for row in rows)


async def counts(services: Services) -> dict[str, int]:
    """How many rows the registry tables hold: to show that something changed nothing."""
    tables = ("users", "managed_objects", "external_ids", "child_assets", "registration_requests", "user_roles")
    return {table: len(await sql(services, f"SELECT 1 AS x FROM {table}")) for table in tables}
