"""Backup and restore over /api/maintenance/db on SQLite and PostgreSQL: the round trip restores
every row of every table; damaged, foreign and failing backups are refused with the database left
as it was; the seed's status shape; one run at a time; crashed runs are marked failed."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from admittance.bootstrap import Services
from admittance.kernel.clock import to_millis
from admittance.maintenance.model import INTERRUPTED
from admittance.storage.backup import FORMAT_VERSION, MANIFEST, tables
from admittance.storage.schema import tenants
from tests.support.connectware import ADMIN, api, assert_error, create_user, person
from tests.support.maintenance import (
    assert_same_but_audit_tail,
    dump,
    entries,
    populate,
    rewritten,
    with_manifest,
    write_archive,
)

STATUS = "/api/maintenance/db"
BACKUP = "/api/maintenance/db/backup"
BACKUPS = "/api/maintenance/db/backups"
RESTORE = "/api/maintenance/db/restore"
RUN_KEYS = {"id", "succeeded", "statusMessage", "startDate", "endDate"}
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
RESTORED = "maintenance:database:restore"
REFUSED = "maintenance:database:restore-fail"


async def take_backup(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await api(client, "POST", BACKUP)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    assert created["succeeded"] is True
    return created


def stored(services: Services, backup_id: str) -> Path:
    return services.settings.backup_path / f"{backup_id}.zip"


def content_of(path: Path) -> bytes:
    return path.read_bytes()


async def restore_file(client: httpx.AsyncClient, path: Path) -> httpx.Response:
    return await client.post(RESTORE, content=content_of(path), headers={**ADMIN, "Content-Type": "application/zip"})


async def test_round_trip_restores_every_table(client: httpx.AsyncClient, services: Services) -> None:
    await populate(client, "before")
    snapshot = await dump(services)
    created = await take_backup(client)
    assert stored(services, created["id"]).is_file()

    await populate(client, "after")
    await create_user(client, "carol")
    changed = await dump(services)
    assert changed != snapshot

    response = await api(client, "POST", RESTORE, {"id": created["id"]})
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert_same_but_audit_tail(snapshot, await dump(services), RESTORED)

    # Identity sequences follow the restored ids (PostgreSQL setval): new rows get fresh ids.
    await create_user(client, "dave")
    await populate(client, "again")
    status = (await api(client, "GET", STATUS)).json()
    assert status["restore"]["succeeded"] is True
    assert created["id"] in status["restore"]["statusMessage"]


async def test_restore_without_body_takes_the_newest_backup(client: httpx.AsyncClient, services: Services) -> None:
    assert_error(await api(client, "POST", RESTORE), 404, "no backup to restore")
    await take_backup(client)
    await create_user(client, "erin")
    snapshot = await dump(services)
    newest = await take_backup(client)
    await create_user(client, "frank")
    response = await api(client, "POST", RESTORE)
    assert response.status_code == 204, response.text
    after = await dump(services)
    assert_same_but_audit_tail(snapshot, after, RESTORED)
    listed = (await api(client, "GET", BACKUPS)).json()
    assert next(item["id"] for item in listed) == newest["id"]
    assert len(listed) == 2
    assert all(item["restorable"] for item in listed)
    assert set(listed[0]) == {"id", "createdAt", "size", "rows", "revision", "appVersion", "dialect", "restorable"}


async def test_status_has_the_seed_shape(client: httpx.AsyncClient, services: Services) -> None:
    empty = await api(client, "GET", STATUS)
    assert empty.status_code == 200
    assert empty.json() == {"running": False, "backup": None, "restore": None}
    created = await take_backup(client)
    assert set(created) == RUN_KEYS | {"sha256"}
    assert (await api(client, "POST", RESTORE, {"id": created["id"]})).status_code == 204
    body = (await api(client, "GET", STATUS)).json()
    assert set(body) == {"running", "backup", "restore"}
    assert body["running"] is False
    for kind in ("backup", "restore"):
        assert set(body[kind]) == RUN_KEYS
        assert body[kind]["succeeded"] is True
        assert ISO.fullmatch(body[kind]["startDate"])
        assert ISO.fullmatch(body[kind]["endDate"])
        assert isinstance(body[kind]["statusMessage"], str)
        assert body[kind]["statusMessage"]
    assert body["backup"]["id"] == created["id"]
    assert body["restore"]["id"] != created["id"]


async def test_download_gives_the_stored_file(client: httpx.AsyncClient, services: Services) -> None:
    created = await take_backup(client)
    response = await api(client, "GET", f"{BACKUPS}/{created['id']}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert response.content == stored(services, created["id"]).read_bytes()
    for unknown in ("00000000-0000-0000-0000-000000000000", "..%2Fsecret.key", "nope"):
        assert_error(await api(client, "GET", f"{BACKUPS}/{unknown}"), 404)


def _flip_byte_in_data(path: Path, target: Path) -> Path:
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = max(archive.infolist(), key=lambda item: item.compress_size)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0x40
    target.write_bytes(bytes(data))
    return target


def _damaged(kind: str, source: Path, target: Path) -> Path:
    if kind == "flipped-byte":
        return _flip_byte_in_data(source, target)
    if kind == "truncated":
        target.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
        return target
    if kind == "not-a-zip":
        target.write_bytes(b"id;credentials\nx;y\n")
        return target
    if kind == "no-manifest":
        content = entries(source)
        del content[MANIFEST]
        return write_archive(target, content)
    if kind == "wrong-checksum":
        content = entries(source)
        manifest = orjson.loads(content[MANIFEST])
        manifest["tables"][0]["sha256"] = "0" * 64
        content[MANIFEST] = orjson.dumps(manifest)
        return write_archive(target, content)
    if kind == "changed-data":  # data changed, manifest not: the checksum catches it
        content = entries(source)
        users = content["tables/users.jsonl"]
        content["tables/users.jsonl"] = users.replace(b'"admin"', b'"admim"', 1)
        assert content["tables/users.jsonl"] != users
        return write_archive(target, content)
    if kind == "other-revision":
        return with_manifest(source, target, revision="0003")
    if kind == "other-format-version":
        return with_manifest(source, target, formatVersion=FORMAT_VERSION + 1)
    if kind == "missing-table":
        content = entries(source)
        manifest = orjson.loads(content[MANIFEST])
        manifest["tables"] = [entry for entry in manifest["tables"] if entry["name"] != "users"]
        content[MANIFEST] = orjson.dumps(manifest)
        return write_archive(target, content)
    if kind == "bad-value":  # checksums recomputed, but a value of the wrong type
        content = entries(source)
        lines = content["tables/tenants.jsonl"].splitlines(keepends=True)
        row = orjson.loads(lines[0])
        row[[column.name for column in tenants.columns].index("created_at")] = "not a number"
        lines[0] = orjson.dumps(row) + b"\n"
        return rewritten(source, target, "tenants", b"".join(lines))
    raise AssertionError(kind)


DAMAGES = {
    "flipped-byte": (400, "damaged"),
    "truncated": (400, "damaged"),
    "not-a-zip": (400, "not a zip archive"),
    "no-manifest": (400, "not an Admittance backup"),
    "wrong-checksum": (400, "checksum"),
    "changed-data": (400, "checksum"),
    "other-revision": (422, "schema revision 0003"),
    "other-format-version": (422, "format version"),
    "missing-table": (422, "missing: ['users']"),
    "bad-value": (400, "unreadable row"),
}


@pytest.mark.parametrize("kind", sorted(DAMAGES))
async def test_a_damaged_or_foreign_backup_is_refused_and_nothing_changes(
    client: httpx.AsyncClient, services: Services, tmp_path: Path, kind: str
) -> None:
    created = await take_backup(client)
    await populate(client, "later")
    before = await dump(services)
    bad = _damaged(kind, stored(services, created["id"]), tmp_path / f"{kind}.zip")
    status, message = DAMAGES[kind]
    body = assert_error(await restore_file(client, bad), status, message)
    assert "nothing was changed" in body["message"].lower() or kind in ("no-manifest", "not-a-zip")
    assert_same_but_audit_tail(before, await dump(services), REFUSED)
    report = (await api(client, "GET", STATUS)).json()
    assert report["running"] is False
    assert report["restore"]["succeeded"] is False
    assert report["restore"]["statusMessage"] == body["message"]


async def test_a_stored_backup_changed_on_disk_is_refused(client: httpx.AsyncClient, services: Services) -> None:
    created = await take_backup(client)
    path = stored(services, created["id"])
    with_manifest(path, path, appVersion="9.9.9")  # still consistent, but not the file that was made
    before = await dump(services)
    assert_error(await api(client, "POST", RESTORE, {"id": created["id"]}), 400, "changed since it was made")
    assert_same_but_audit_tail(before, await dump(services), REFUSED)


async def test_a_restore_failing_half_way_rolls_back_entirely(
    client: httpx.AsyncClient, services: Services, tmp_path: Path
) -> None:
    created = await take_backup(client)
    await populate(client, "later")
    before = await dump(services)
    source = stored(services, created["id"])
    # The last table holding rows gets a duplicate of its first row: every other table is already
    # replaced when the insert fails.
    content = entries(source)
    last = [t.name for t in tables() if content[f"tables/{t.name}.jsonl"]][-1]
    data = content[f"tables/{last}.jsonl"]
    bad = rewritten(source, tmp_path / "duplicate.zip", last, data + data.splitlines(keepends=True)[0])
    body = assert_error(await restore_file(client, bad), 422, f"table {last}")
    assert "nothing was changed" in body["message"]
    assert_same_but_audit_tail(before, await dump(services), REFUSED)
    # A row whose parent is missing (a role grant of an unknown user).
    orphan = rewritten(
        source,
        tmp_path / "orphan.zip",
        "user_roles",
        content["tables/user_roles.jsonl"] + b'[999999,"minimum-access"]\n',
    )
    assert_error(await restore_file(client, orphan), 422, "table user_roles")
    after = await dump(services)
    assert after["users"] == before["users"]
    assert after["managed_objects"] == before["managed_objects"]


async def test_an_uploaded_multipart_backup_restores(client: httpx.AsyncClient, services: Services) -> None:
    snapshot = await dump(services)
    created = await take_backup(client)
    await populate(client, "later")
    data = stored(services, created["id"]).read_bytes()
    response = await client.post(RESTORE, files={"file": ("backup.zip", data, "application/zip")}, headers=ADMIN)
    assert response.status_code == 204, response.text
    assert_same_but_audit_tail(snapshot, await dump(services), RESTORED)
    assert not [p for p in services.settings.backup_path.iterdir() if p.name.startswith(".upload-")]


async def test_odd_restore_requests_are_client_errors(client: httpx.AsyncClient) -> None:
    assert_error(await api(client, "POST", RESTORE, {"id": "not-an-id"}), 404)
    assert_error(await api(client, "POST", RESTORE, {"id": 7}), 400)
    response = await client.post(RESTORE, content=b"{", headers={**ADMIN, "Content-Type": "application/json"})
    assert_error(response, 400)
    response = await client.post(RESTORE, content=b"x", headers={**ADMIN, "Content-Type": "text/csv"})
    assert_error(response, 415)
    response = await client.post(RESTORE, content=b"", headers={**ADMIN, "Content-Type": "application/zip"})
    assert_error(response, 400, "not a zip archive")


async def test_one_run_at_a_time_and_crashed_runs_are_marked_failed(
    client: httpx.AsyncClient, services: Services
) -> None:
    # A run left unfinished by a process that stopped: nobody holds the lock.
    async with services.database.transaction() as executor:
        await executor.execute(
            "INSERT INTO maintenance_runs (id, kind, started_at, status_message, actor) "
            "VALUES ('crashed', 'backup', :now, 'Running', 'cli')",
            {"now": to_millis(services.clock.now())},
        )
    body = (await api(client, "GET", STATUS)).json()
    assert body["running"] is False
    assert body["backup"]["id"] == "crashed"
    assert body["backup"]["succeeded"] is False
    assert body["backup"]["statusMessage"] == INTERRUPTED
    assert body["backup"]["endDate"] is not None

    # Another process is running one (it holds the lock, its row is unfinished).
    holder = services.maintenance._storage.lock()
    assert await holder.acquire()
    try:
        async with services.database.transaction() as executor:
            await executor.execute(
                "INSERT INTO maintenance_runs (id, kind, started_at, status_message, actor) "
                "VALUES ('elsewhere', 'restore', :now, 'Running', 'cli')",
                {"now": to_millis(services.clock.now()) + 1},
            )
        body = (await api(client, "GET", STATUS)).json()
        assert body["running"] is True
        assert body["restore"]["id"] == "elsewhere"
        assert body["restore"]["succeeded"] is None
        assert body["restore"]["endDate"] is None
        assert_error(await api(client, "POST", BACKUP), 409, "already running")
        assert_error(await api(client, "POST", RESTORE), 409, "already running")
    finally:
        await holder.release()
    body = (await api(client, "GET", STATUS)).json()
    assert body["running"] is False
    assert body["restore"]["statusMessage"] == INTERRUPTED
    await take_backup(client)


async def test_authorization_boundaries(client: httpx.AsyncClient, services: Services) -> None:
    created = await take_backup(client)
    endpoints = [
        ("GET", STATUS),
        ("GET", BACKUPS),
        ("POST", BACKUP),
        ("GET", f"{BACKUPS}/{created['id']}"),
        ("POST", RESTORE),
    ]
    for method, path in endpoints:
        assert_error(await api(client, method, path, auth={}), 401)
        assert_error(await api(client, method, path, auth={"Authorization": "Basic dDEvYWRtaW46d3Jvbmc="}), 401)
    await create_user(client, "plain", roles=["minimum-access"])
    for method, path in endpoints:
        assert_error(await api(client, method, path, auth=person("plain")), 403)
    # Read access to the maintenance paths shows the status and the list, but neither makes nor
    # downloads (the file holds every password hash) nor restores.
    await create_user(
        client, "reader", permissions=[{"resource": "/api/maintenance/#", "operation": "read", "context": "http"}]
    )
    assert (await api(client, "GET", STATUS, auth=person("reader"))).status_code == 200
    assert (await api(client, "GET", BACKUPS, auth=person("reader"))).status_code == 200
    for method, path in endpoints[2:]:
        assert_error(await api(client, method, path, auth=person("reader")), 403)
    # An administrator of another tenant: a backup spans every tenant.
    await services.identity.create_tenant("t2", actor="test")
    await services.identity.create_user("t2", "boss", "Boss-Secret-77", ["connectware-admin"], actor="test")
    for method, path in endpoints:
        assert_error(await api(client, method, path, auth=person("boss", "Boss-Secret-77", tenant="t2")), 403)
