"""Writing the registry back as a manifest, in the same columns an import reads: ID, AUTH_TYPE,
TYPE, NAME, ICCID, IDTYPE, PATH, SHELL, custom properties as dotted columns, `external-<type>`.
Credentials cannot be exported (only their hashes are stored): add a CREDENTIALS column to
re-import the file elsewhere. Values other than text (numbers, booleans, lists) are written as
JSON text, which an import reads back as strings."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import orjson

from admittance.devices.bulk.rows import DEFAULT_ID_TYPE, EXTERNAL_PREFIX, SHELL_OPERATIONS, neutralize_formula
from admittance.devices.bulk.store import BulkTransaction, RegistryDump, StoredObject
from admittance.devices.model import DEVICE_USERNAME_PREFIX
from admittance.kernel.principal import Principal, Role
from admittance.kernel.storage import Storage

FIXED_COLUMNS = ("ID", "AUTH_TYPE", "TYPE", "NAME", "ICCID", "IDTYPE", "PATH", "SHELL")
_HANDLED = frozenset({"c8y_IsDevice", "c8y_SupportedOperations"})


def manifest_rows(dump: RegistryDump) -> tuple[list[str], list[list[str]]]:
    """Columns and rows of every device (an object with c8y_IsDevice), ordered by ID."""
    ids_of: dict[int, list[tuple[str, str]]] = {}
    for mo_id, id_type, value in dump.external_ids:
        ids_of.setdefault(mo_id, []).append((id_type, value))
    parents: dict[int, list[int]] = {}
    for parent, child in dump.memberships:
        parents.setdefault(child, []).append(parent)
    names = {obj.id: obj.name or str(obj.id) for obj in dump.objects}
    records: list[dict[str, str]] = []
    for obj in dump.objects:
        if "c8y_IsDevice" not in obj.fragments:
            continue
        identity = _identity(obj, sorted(ids_of.get(obj.id, [])))
        if identity is None:
            continue  # no name to give it in a manifest
        device_id, id_type = identity
        record = {
            "ID": device_id,
            "AUTH_TYPE": "BASIC" if obj.owner_is_device else "CERTIFICATES",
            "TYPE": obj.type or "",
            "NAME": obj.name or "",
            "IDTYPE": id_type,
            "PATH": "/".join(names[group] for group in _path(obj.id, parents)),
            "SHELL": "1" if obj.fragments.get("c8y_SupportedOperations") == SHELL_OPERATIONS else "",
        }
        fragments = dict(obj.fragments)
        mobile = fragments.get("c8y_Mobile")
        if isinstance(mobile, dict) and isinstance(mobile.get("iccid"), str):
            record["ICCID"] = mobile["iccid"]
            fragments["c8y_Mobile"] = {key: value for key, value in mobile.items() if key != "iccid"}
        record.update(_flatten(fragments))
        for other_type, value in ids_of.get(obj.id, []):
            if (other_type, value) != (id_type, device_id):
                record[EXTERNAL_PREFIX + other_type] = value
        records.append(record)
    records.sort(key=lambda record: record["ID"])
    custom = sorted({key for record in records for key in record} - set(FIXED_COLUMNS), key=_column_order)
    columns = [*FIXED_COLUMNS, *custom]
    return columns, [[record.get(column, "") for column in columns] for record in records]


def write_manifest(columns: list[str], rows: list[list[str]], separator: str = ";") -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=separator, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([neutralize_formula(cell) for cell in row])
    return out.getvalue()


def _identity(obj: StoredObject, external_ids: list[tuple[str, str]]) -> tuple[str, str] | None:
    """The device's ID and its IDTYPE: the owner device user's name names it; else an external id."""
    if obj.owner.startswith(DEVICE_USERNAME_PREFIX):
        device_id = obj.owner[len(DEVICE_USERNAME_PREFIX) :]
        matching = [id_type for id_type, value in external_ids if value == device_id]
        if matching:
            return device_id, DEFAULT_ID_TYPE if DEFAULT_ID_TYPE in matching else matching[0]
    for id_type, value in sorted(external_ids, key=lambda pair: pair[0] != DEFAULT_ID_TYPE):
        return value, id_type
    return None


def _path(mo_id: int, parents: dict[int, list[int]]) -> list[int]:
    """The first group the object sits in, and that group's own parents up to the root."""
    path: list[int] = []
    current = mo_id
    while parents.get(current) and len(path) < 50:
        current = min(parents[current])
        if current in path:
            break  # a cycle; the registry refuses them, but never loop
        path.insert(0, current)
    return path


def _flatten(fragments: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    for key, value in fragments.items():
        if not prefix and key in _HANDLED:
            continue
        name = prefix + key
        if isinstance(value, dict):
            yield from _flatten(value, name + ".")
        elif isinstance(value, str):
            yield name, value
        elif value is not None:
            yield name, orjson.dumps(value).decode()


def _column_order(name: str) -> tuple[bool, str]:
    return name.startswith(EXTERNAL_PREFIX), name  # custom properties first, external ids last


class ManifestExporter:
    def __init__(self, storage: Storage[BulkTransaction]) -> None:
        self._storage = storage

    async def export(self, principal: Principal, *, separator: str = ";") -> tuple[str, int]:
        """The caller's tenant's devices as a manifest, and how many devices it has."""
        principal.require(Role.INVENTORY_READ, Role.INVENTORY_ADMIN, Role.DEVICE_CONTROL_ADMIN)
        async with self._storage.read() as tx:
            dump = await tx.bulk.registry_dump(principal.tenant_id)
        columns, rows = manifest_rows(dump)
        return write_manifest(columns, rows, separator), len(rows)
