"""Two uploads of overlapping files at once, through two service instances on one database (two
server processes): every device, external id and group exists once, and the counters add up."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from admittance.bootstrap import Services
from admittance.devices.bulk.engine import ImportReport
from admittance.devices.bulk.rows import RowStatus
from admittance.identity import PresentedCredentials
from admittance.kernel.errors import Unauthenticated
from admittance.settings import Settings
from tests.support.bulk import group_names, principal, sql
from tests.support.services import build

CHUNK_ROWS = 7  # small chunks, so that the two imports interleave many times
PASSWORDS = ("First-Pass-1", "Second-Pass-2")


def manifest(numbers: list[int], password: str) -> bytes:
    rows = "".join(f"race-{n};{password};Race {n};race/sub{n % 3}\n" for n in numbers)
    return ("ID;CREDENTIALS;NAME;PATH\n" + rows).encode()


async def imported(services: Services, data: bytes) -> ImportReport:
    caller = await principal(services)
    return await services.bulk.run(caller, services.bulk.prepare(caller, data))


def updated_ids(report: ImportReport) -> list[str | None]:
    return [outcome.device_id for outcome in report.outcomes if outcome.status is RowStatus.CREDENTIAL_UPDATED]


ORDERS = {
    "same order": (list(range(60)), list(range(30, 90))),
    "reversed order": (list(range(60)), list(range(89, 29, -1))),
    "the same file": (list(range(60)), list(range(60))),
}


@pytest.mark.parametrize(("first", "second"), ORDERS.values(), ids=ORDERS.keys())
async def test_overlapping_uploads_make_every_device_and_group_once(
    services: Services, settings: Settings, first: list[int], second: list[int]
) -> None:
    other = await build(settings)
    try:
        services.bulk.chunk_rows = other.bulk.chunk_rows = CHUNK_ROWS
        reports = await asyncio.gather(
            imported(services, manifest(first, PASSWORDS[0])), imported(other, manifest(second, PASSWORDS[1]))
        )
    finally:
        await other.close()

    everyone = sorted(set(first) | set(second))
    overlap = sorted(set(first) & set(second))
    assert [report.total for report in reports] == [len(first), len(second)]
    assert [report.failed for report in reports] == [0, 0], [report.outcomes for report in reports]
    # Each device was created by exactly one upload; the other updated its password.
    assert sum(report.created for report in reports) == len(everyone)
    updated = Counter(device_id for report in reports for device_id in updated_ids(report))
    assert updated == Counter(f"race-{n}" for n in overlap)

    users = await sql(services, "SELECT username FROM users WHERE username LIKE 'device_race-%'")
    assert sorted(row["username"] for row in users) == sorted(f"device_race-{n}" for n in everyone)
    devices = await sql(services, "SELECT id, owner FROM managed_objects WHERE owner LIKE 'device_race-%'")
    assert sorted(row["owner"] for row in devices) == sorted(f"device_race-{n}" for n in everyone)
    external = await sql(services, "SELECT value, managed_object_id FROM external_ids")
    assert sorted(row["value"] for row in external) == sorted(f"race-{n}" for n in everyone)
    assert {row["managed_object_id"] for row in external} == {row["id"] for row in devices}

    assert await group_names(services) == [
        ("c8y_DeviceGroup", "race"),
        ("c8y_DeviceSubGroup", "sub0"),
        ("c8y_DeviceSubGroup", "sub1"),
        ("c8y_DeviceSubGroup", "sub2"),
    ]
    memberships = await sql(services, "SELECT parent_id, child_id FROM child_assets")
    children = Counter(row["child_id"] for row in memberships)
    assert len(memberships) == 3 + len(everyone)  # group -> subgroups, subgroups -> devices
    assert set(children.values()) == {1}

    for n in everyone:  # the password of the upload that wrote the device last
        works = [await _connects(services, n, password, attempt) for attempt, password in enumerate(PASSWORDS)]
        assert works in ([n in first, False], [False, n in second]), (n, works)
        assert any(works), n


async def _connects(services: Services, n: int, password: str, attempt: int) -> bool:
    source = f"10.{attempt}.0.{n}"  # one source an attempt: no failure limit in the way
    try:
        await services.identity.authenticate(PresentedCredentials("t1", f"device_race-{n}", password, source))
    except Unauthenticated:
        return False
    return True
