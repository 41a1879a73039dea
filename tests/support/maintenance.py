"""Helpers of the backup and restore tests: every row of every table, sample data, backup files."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path
from typing import Any

import httpx
import orjson

from admittance.bootstrap import Services
from admittance.storage.backup import MANIFEST, _columns, _encode, _select, tables
from tests.support.bulk import SEED_EXAMPLE, upload
from tests.support.connectware import api, create_user, permission
from tests.support.cumulocity import NDR, call

Dump = dict[str, list[list[Any]]]


async def dump(services: Services) -> Dump:
    """Every row of every table a backup holds, values as a backup encodes them (comparable across
    SQLite and PostgreSQL)."""
    found: Dump = {}
    async with services.database.read() as executor:
        for table in tables():
            kinds = [kind for _, kind in _columns(table)]
            rows = await executor.fetch_all(_select(table))
            found[table.name] = [
                [_encode(row[name], kind) for (name, _), kind in zip(_columns(table), kinds, strict=True)]
                for row in rows
            ]
    return found


def audit_tags(state: Dump) -> list[str]:
    index = [column.name for column in next(t for t in tables() if t.name == "audit_events").columns].index("tag")
    return [row[index] for row in state["audit_events"]]


def without_audit(state: Dump) -> Dump:
    return {name: rows for name, rows in state.items() if name != "audit_events"}


def assert_same_but_audit_tail(before: Dump, after: Dump, *tags: str) -> None:
    """`after` equals `before` except for audit events appended at the end (with the given tags)."""
    assert without_audit(after) == without_audit(before)
    kept = after["audit_events"][: len(before["audit_events"])]
    assert kept == before["audit_events"]
    added = audit_tags(after)[len(before["audit_events"]) :]
    assert added == list(tags)


async def populate(client: httpx.AsyncClient, prefix: str) -> None:
    """Users, a role, registrations and bulk-imported devices with groups."""
    await create_user(client, f"{prefix}.alice", roles=["minimum-access"])
    role = await api(client, "POST", "/api/roles", {"name": f"{prefix}-ops", "permissions": [permission("/ops/#")]})
    assert role.status_code == 201, role.text
    await create_user(client, f"{prefix}.bob", permissions=[permission("/api/session", "read")])
    for number in range(3):
        created = await call(client, "POST", NDR, {"id": f"{prefix}-req-{number}"})
        assert created.status_code == 201, created.text
    content = SEED_EXAMPLE.replace("id_1", f"{prefix}_1").replace("csv device", f"{prefix} csv device")
    uploaded = await upload(client, content)
    assert uploaded.status_code == 201, uploaded.text


def entries(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_archive(path: Path, content: dict[str, bytes]) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in content.items():
            archive.writestr(name, data)
    path.write_bytes(buffer.getvalue())
    return path


def rewritten(source: Path, target: Path, table: str, data: bytes) -> Path:
    """A copy of a backup with one table's data replaced and every checksum recomputed (a backup
    that passes the checks but holds what the test wants)."""
    content = entries(source)
    content[f"tables/{table}.jsonl"] = data
    manifest = orjson.loads(content[MANIFEST])
    total = hashlib.sha256()
    for entry in manifest["tables"]:
        table_data = content[f"tables/{entry['name']}.jsonl"]
        entry["sha256"] = hashlib.sha256(table_data).hexdigest()
        entry["rows"] = table_data.count(b"\n")
        total.update(table_data)
    manifest["sha256"] = total.hexdigest()
    content[MANIFEST] = orjson.dumps(manifest)
    return write_archive(target, content)


def with_manifest(source: Path, target: Path, **changes: Any) -> Path:
    content = entries(source)
    manifest = orjson.loads(content[MANIFEST])
    manifest.update(changes)
    content[MANIFEST] = orjson.dumps(manifest)
    return write_archive(target, content)
