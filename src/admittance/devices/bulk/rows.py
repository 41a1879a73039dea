"""What each manifest row asks for, checked row by row before anything is written.

The columns are Cumulocity's (seed: device credentials reference, "Bulk device credentials"):
ID, CREDENTIALS, AUTH_TYPE, TENANT, TYPE, NAME, ICCID, IDTYPE, PATH, SHELL, ENROLLMENT_OTP,
`external-<type>`, and any other header as a custom property (dotted headers build objects; values
stay strings). A *simple* file (ID, PATH, TENANT, TYPE only) creates registration requests that go
through acceptance; a *full* file (with CREDENTIALS or AUTH_TYPE) creates devices that can connect.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from admittance.devices.bulk.manifest import ENTITY, Manifest, ManifestRow
from admittance.devices.inventory_model import MAX_NAME_CHARS, RESERVED_KEYS, validate_external_id
from admittance.devices.model import device_username, validate_device_id, validate_enrollable_id
from admittance.identity.model import PasswordPolicy
from admittance.jobs.model import RowStatus as RowStatus  # a manifest row's outcome is a job row's
from admittance.kernel.errors import InvalidInput
from admittance.kernel.text import has_control_chars

DEFAULT_ID_TYPE = "c8y_Serial"
EXTERNAL_PREFIX = "external-"
KNOWN = (
    "ID",
    "CREDENTIALS",
    "AUTH_TYPE",
    "TENANT",
    "TYPE",
    "NAME",
    "ICCID",
    "IDTYPE",
    "PATH",
    "SHELL",
    "ENROLLMENT_OTP",
)
SIMPLE_COLUMNS = frozenset({"ID", "PATH", "TENANT", "TYPE"})
# The failed-rows file we hand back adds this column; it is ignored, so the fixed file can be re-uploaded.
REASON_COLUMN = "FAILURE_REASON"
SECRET_COLUMNS = frozenset({"CREDENTIALS", "ENROLLMENT_OTP"})
SHELL_OPERATIONS = ["c8y_Command"]
_RELATIONS = frozenset(
    {"childDevices", "childAssets", "childAdditions", "deviceParents", "assetParents", "additionParents"}
)
# Spreadsheets run a cell that starts with one of these as a formula (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@")
_NUMBER = re.compile(r"[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?")
_MAX_PATH_DEPTH = 20
_OTP_MIN_CHARS = 8


class AuthType(StrEnum):
    BASIC = "BASIC"
    CERTIFICATES = "CERTIFICATES"


@dataclass(frozen=True, slots=True)
class Columns:
    """The header line, understood: where each known column is, and what the others mean."""

    index: dict[str, int]  # known column name -> position
    custom: tuple[tuple[int, tuple[str, ...]], ...]  # position, property path (dotted header split)
    external: tuple[tuple[int, str], ...]  # position, external id type
    count: int
    unnamed: tuple[int, ...] = ()  # trailing columns without a name: their cells must be empty

    @property
    def full(self) -> bool:
        return "CREDENTIALS" in self.index or "AUTH_TYPE" in self.index or "ENROLLMENT_OTP" in self.index


@dataclass(frozen=True, slots=True)
class DeviceRow:
    line: int
    raw: str  # the row as CSV text, secret cells emptied (see _masked)
    device_id: str
    tenant_id: str
    auth_type: AuthType | None  # None: a simple row (a registration request)
    password: str | None = None
    enrollment_otp: str | None = None
    name: str | None = None
    type: str | None = None
    path: tuple[str, ...] = ()
    fragments: dict[str, Any] = field(default_factory=dict)
    external_ids: tuple[tuple[str, str], ...] = ()  # (type, value); the first is IDTYPE/ID

    @property
    def username(self) -> str:
        return device_username(self.device_id)


@dataclass(frozen=True, slots=True)
class RowFailure:
    line: int
    raw: str
    reason: str
    device_id: str | None = None


def read_columns(manifest: Manifest) -> Columns:
    """Check the header line; every problem here refuses the whole file (nothing is written)."""
    index: dict[str, int] = {}
    custom: list[tuple[int, tuple[str, ...]]] = []
    external: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    unnamed: list[int] = []
    for position, name in enumerate(manifest.columns):
        column = position + 1
        if not name:
            if any(manifest.columns[position:]):
                raise _header(f"Column {column} of the header line has no name")
            unnamed.append(position)  # trailing separators, as spreadsheets write them: no column
            continue
        if name.startswith(_FORMULA_STARTS):
            raise _header(f"Column {column} is named {name!r}; a column name must not start with =, +, - or @")
        folded = name.casefold()
        if folded in seen:
            raise _header(f"The column {name!r} appears twice in the header line (columns {seen[folded]} and {column})")
        seen[folded] = column
        if name.upper() == REASON_COLUMN:
            continue
        if name.upper() in KNOWN:
            index[name.upper()] = position
        elif folded.startswith(EXTERNAL_PREFIX):
            id_type = name[len(EXTERNAL_PREFIX) :]
            if not id_type:
                raise _header(f"Column {column} ({name!r}) must name the external id type after 'external-'")
            external.append((position, id_type))
        else:
            custom.append((position, _property_path(name, column)))
    if "ID" not in index:
        raise _header(f"The header line must have an ID column; it has: {', '.join(manifest.columns)}")
    _check_custom_paths(custom)
    columns = Columns(index, tuple(custom), tuple(external), len(manifest.columns), tuple(unnamed))
    if not columns.full:
        extra = [name for name in index if name not in SIMPLE_COLUMNS] + [manifest.columns[p] for p, _ in custom]
        extra += [manifest.columns[p] for p, _ in external]
        if extra:
            raise _header(
                f"The file has the device columns {', '.join(extra)} but no CREDENTIALS or AUTH_TYPE column. "
                "A simple registration file has only ID and PATH (and TENANT, TYPE) and creates registration "
                "requests; a full one needs CREDENTIALS (or AUTH_TYPE CERTIFICATES) and creates devices."
            )
    if not manifest.rows:
        raise _header("The file has a header line but no device rows")
    return columns


def _header(message: str) -> InvalidInput:
    return InvalidInput(message, entity=ENTITY, field="file")


def _property_path(name: str, column: int) -> tuple[str, ...]:
    parts = tuple(name.split("."))
    if any(not part for part in parts):
        raise _header(f"Column {column} ({name!r}): a dotted column name needs a name between every two dots")
    if parts[0] in RESERVED_KEYS or parts[0] in _RELATIONS:
        raise _header(f"Column {column} ({name!r}) cannot be set from a file: the server owns {parts[0]!r}")
    return parts


def _check_custom_paths(custom: list[tuple[int, tuple[str, ...]]]) -> None:
    paths = {path for _, path in custom}
    for path in paths:
        for depth in range(1, len(path)):
            if path[:depth] in paths:
                raise _header(
                    f"The columns {'.'.join(path[:depth])!r} and {'.'.join(path)!r} conflict: "
                    "one is a value, the other an object"
                )


class CheckedRows:
    """The file's rows, checked chunk by chunk when they are applied, so memory holds the parsed file
    and one chunk of checked rows, never all of them (measured: 1.7 KB a checked row). A first pass
    checks every row once and keeps only the keys duplicates are found by (duplicate IDs and extra
    external ids fail on every line they appear on); a slice checks its rows again."""

    def __init__(
        self,
        manifest: Manifest,
        columns: Columns,
        caller_tenant: str,
        *,
        may_choose_tenant: bool,
        record_failures: bool = False,
    ) -> None:
        self._manifest = manifest
        self._columns = columns
        self._tenant = caller_tenant
        self._may_choose_tenant = may_choose_tenant
        self._policy = PasswordPolicy()
        self._secrets = {columns.index[name] for name in SECRET_COLUMNS if name in columns.index}
        # `record_failures` (a preview): the first pass keeps what it found, so failures() needs no second one.
        self._failed: list[RowFailure] | None = [] if record_failures else None
        lines_by_key: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for row in manifest.rows:
            checked = self._check(row)
            if isinstance(checked, DeviceRow):
                for key in _keys(checked):
                    lines_by_key[key].append(checked.line)
            elif self._failed is not None:
                self._failed.append(RowFailure(checked.line, "", checked.reason, checked.device_id))
        self._duplicated = {key: lines for key, lines in lines_by_key.items() if len(lines) > 1}

    def failures(self) -> list[RowFailure]:
        """Every row that will fail, in file order, without its text (built with `record_failures`):
        the first pass's findings and the duplicates; only the duplicated rows are checked again."""
        if self._failed is None:
            raise ValueError("failures() needs CheckedRows(..., record_failures=True)")
        duplicated = {line for lines in self._duplicated.values() for line in lines}
        found = list(self._failed)
        for row in self._manifest.rows:
            if row.line in duplicated:
                checked = self._with_duplicates(self._check(row))
                if isinstance(checked, RowFailure):
                    found.append(RowFailure(checked.line, "", checked.reason, checked.device_id))
        return sorted(found, key=lambda failure: failure.line)

    def __len__(self) -> int:
        return len(self._manifest.rows)

    def __getitem__(self, where: slice) -> list[DeviceRow | RowFailure]:
        return [self._with_duplicates(self._check(row)) for row in self._manifest.rows[where]]

    def _check(self, row: ManifestRow) -> DeviceRow | RowFailure:
        shown = _masked(row, self._columns, self._secrets, self._manifest.separator)
        try:
            return _read_row(row, shown, self._columns, self._tenant, self._may_choose_tenant, self._policy)
        except InvalidInput as exc:
            return RowFailure(row.line, shown, exc.message, _cell(row, self._columns, "ID") or None)

    def _with_duplicates(self, checked: DeviceRow | RowFailure) -> DeviceRow | RowFailure:
        if not self._duplicated or isinstance(checked, RowFailure):
            return checked
        reason = _duplicate_reason(checked, self._duplicated)
        return RowFailure(checked.line, checked.raw, reason, checked.device_id) if reason else checked


def read_rows(
    manifest: Manifest, columns: Columns, caller_tenant: str, *, may_choose_tenant: bool
) -> list[DeviceRow | RowFailure]:
    """Every row, checked (see CheckedRows), as a list."""
    return CheckedRows(manifest, columns, caller_tenant, may_choose_tenant=may_choose_tenant)[:]


def _masked(row: ManifestRow, columns: Columns, secrets: set[int], separator: str) -> str:
    """The row as CSV text with its secret cells emptied: what results, logs and the failed-rows
    file may show. A row whose cells cannot be lined up with the header shows nothing."""
    if row.error is not None or len(row.cells) != columns.count:
        return ""
    if not secrets:
        return row.raw
    out = io.StringIO()
    # The writer quotes a cell holding a character of the line terminator: with "\r\n", a cell with
    # a line break stays quoted (with "" it would not, and the row would no longer be one CSV row).
    csv.writer(out, delimiter=separator, lineterminator="\r\n").writerow(
        "" if position in secrets else cell for position, cell in enumerate(row.cells)
    )
    return out.getvalue().removesuffix("\r\n")


def _cell(row: ManifestRow, columns: Columns, name: str) -> str:
    position = columns.index.get(name)
    if position is None or position >= len(row.cells):
        return ""
    value = row.cells[position]
    return value if name in SECRET_COLUMNS else value.strip()


def _read_row(
    row: ManifestRow, shown: str, columns: Columns, caller_tenant: str, may_choose_tenant: bool, policy: PasswordPolicy
) -> DeviceRow:
    if row.error is not None:
        raise InvalidInput(row.error)
    if len(row.cells) != columns.count:
        raise InvalidInput(f"The line has {len(row.cells)} fields but the header line has {columns.count}")
    for position in columns.unnamed:
        if row.cells[position].strip():
            raise InvalidInput(f"The line has a value in column {position + 1}, which has no name in the header line")
    _refuse_formulas(row, columns)
    device_id = _cell(row, columns, "ID")
    if not device_id:
        raise InvalidInput("ID is empty")
    validate_device_id(device_id)
    tenant_id = (_cell(row, columns, "TENANT") if may_choose_tenant else "") or caller_tenant
    path = _path(_cell(row, columns, "PATH"))
    if not columns.full:
        row_type = _cell(row, columns, "TYPE") or None
        _check_name("TYPE", row_type)
        return DeviceRow(row.line, shown, device_id, tenant_id, None, type=row_type, path=path)
    auth_type = _auth_type(_cell(row, columns, "AUTH_TYPE"))
    password, otp = _cell(row, columns, "CREDENTIALS"), _cell(row, columns, "ENROLLMENT_OTP")
    if auth_type is AuthType.BASIC:
        if not password:
            raise InvalidInput("CREDENTIALS is empty; a device with AUTH_TYPE BASIC needs a password")
        if otp:
            raise InvalidInput("ENROLLMENT_OTP is only for AUTH_TYPE CERTIFICATES")
        policy.check(password, device_username(device_id))
    else:
        if password:
            raise InvalidInput(
                "CREDENTIALS must be empty for AUTH_TYPE CERTIFICATES (the device enrolls a certificate)"
            )
        if otp and (len(otp) < _OTP_MIN_CHARS or has_control_chars(otp)):
            raise InvalidInput(f"ENROLLMENT_OTP must have at least {_OTP_MIN_CHARS} printable characters")
        if otp:
            validate_enrollable_id(device_id)
    name, row_type = _cell(row, columns, "NAME") or None, _cell(row, columns, "TYPE") or None
    _check_name("NAME", name)
    _check_name("TYPE", row_type)
    return DeviceRow(
        row.line,
        shown,
        device_id,
        tenant_id,
        auth_type,
        password=password or None,
        enrollment_otp=otp or None,
        name=name,
        type=row_type,
        path=path,
        fragments=_fragments(row, columns),
        external_ids=_external_ids(row, columns, device_id),
    )


def _refuse_formulas(row: ManifestRow, columns: Columns) -> None:
    secrets = {columns.index[name] for name in SECRET_COLUMNS if name in columns.index}
    for position, value in enumerate(row.cells):
        text = value.strip()
        if position in secrets or not text.startswith(_FORMULA_STARTS) or _NUMBER.fullmatch(text):
            continue
        if _column_name(columns, position) == REASON_COLUMN:
            continue
        raise InvalidInput(
            f"The {_column_name(columns, position)} cell starts with {text[0]!r}: cells that begin with =, +, - or @ "
            "are refused because spreadsheets run them as formulas (a plain number such as -5 is fine)"
        )


def neutralize_formula(cell: str) -> str:
    """A cell for a file people open in spreadsheets: one that would run as a formula gets a leading
    apostrophe (OWASP's advice for CSV injection)."""
    text = cell.strip()
    if text.startswith(_FORMULA_STARTS) and not _NUMBER.fullmatch(text):
        return "'" + cell
    return cell


def _column_name(columns: Columns, position: int) -> str:
    for name, at in columns.index.items():
        if at == position:
            return name
    for at, path in columns.custom:
        if at == position:
            return ".".join(path)
    for at, id_type in columns.external:
        if at == position:
            return EXTERNAL_PREFIX + id_type
    return REASON_COLUMN


def _auth_type(value: str) -> AuthType:
    try:
        return AuthType(value.upper() or AuthType.BASIC)
    except ValueError:
        raise InvalidInput(f"AUTH_TYPE must be BASIC or CERTIFICATES, not {value!r}") from None


def _check_name(label: str, value: str | None) -> None:
    if value is not None and len(value) > MAX_NAME_CHARS:
        raise InvalidInput(f"{label} must have at most {MAX_NAME_CHARS} characters")


def _path(value: str) -> tuple[str, ...]:
    if not value:
        return ()
    parts = tuple(part.strip() for part in value.split("/"))
    if any(not part for part in parts):
        raise InvalidInput(f"PATH {value!r} has an empty group name; write it as group/subgroup/...")
    if len(parts) > _MAX_PATH_DEPTH:
        raise InvalidInput(f"PATH may have at most {_MAX_PATH_DEPTH} levels")
    for part in parts:
        _check_name("A group name in PATH", part)
    return parts


def _fragments(row: ManifestRow, columns: Columns) -> dict[str, Any]:
    fragments: dict[str, Any] = {"c8y_IsDevice": {}}
    iccid = _cell(row, columns, "ICCID")
    if iccid:
        fragments["c8y_Mobile"] = {"iccid": iccid}
    shell = _cell(row, columns, "SHELL")
    if shell == "1":
        fragments["c8y_SupportedOperations"] = list(SHELL_OPERATIONS)
    elif shell not in ("", "0"):
        raise InvalidInput(f"SHELL must be 1, 0 or empty, not {shell!r}")
    for position, path in columns.custom:
        value = row.cells[position].strip()
        if not value:
            continue
        target = fragments
        for part in path[:-1]:
            nested = target.setdefault(part, {})
            if not isinstance(nested, dict):  # e.g. c8y_Mobile set from ICCID, then c8y_Mobile.x
                raise InvalidInput(f"The column {'.'.join(path)!r} conflicts with the value of {part!r}")
            target = nested
        target[path[-1]] = value
    return fragments


def _external_ids(row: ManifestRow, columns: Columns, device_id: str) -> tuple[tuple[str, str], ...]:
    pairs = [(_cell(row, columns, "IDTYPE") or DEFAULT_ID_TYPE, device_id)]
    pairs += [(id_type, row.cells[at].strip()) for at, id_type in columns.external if row.cells[at].strip()]
    for id_type, value in pairs:
        validate_external_id(id_type, value)
    if len(set(pairs)) != len(pairs):
        raise InvalidInput("The row names the same external id twice")
    return tuple(pairs)


def _keys(row: DeviceRow) -> list[tuple[str, ...]]:
    # Every external id, the IDTYPE/ID one too: one row's ID may be another row's external-<type>.
    return [("id", row.tenant_id, row.device_id)] + [
        ("external", row.tenant_id, id_type, value) for id_type, value in row.external_ids
    ]


def _duplicate_reason(row: DeviceRow, duplicated: dict[tuple[str, ...], list[int]]) -> str | None:
    lines = duplicated.get(("id", row.tenant_id, row.device_id))
    if lines:
        where = ", ".join(str(line) for line in lines)
        return f"The ID {row.device_id} appears on lines {where}; each device may appear once per file"
    for id_type, value in row.external_ids:
        lines = duplicated.get(("external", row.tenant_id, id_type, value))
        if lines:
            where = ", ".join(str(line) for line in lines)
            return f"The external id {id_type}/{value} appears on lines {where}; an external id names one device"
    return None
