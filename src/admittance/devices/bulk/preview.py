"""A manifest's preview before it is imported: how it was read (separator, encoding, columns, rows),
its first rows, and the problems the checks find without writing anything (whole-file problems
refuse it; row problems, such as a missing ID or CREDENTIALS, a bad PATH, a formula cell or a
duplicate ID, list the lines that will fail). Secret cells are never shown."""

from __future__ import annotations

from dataclasses import dataclass

from admittance.devices.bulk.manifest import parse
from admittance.devices.bulk.rows import SECRET_COLUMNS, CheckedRows, read_columns
from admittance.kernel.errors import InvalidInput

FIRST_ROWS = 10
MAX_PROBLEMS = 100
_ENCODINGS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 (with BOM)", "windows-1252": "ANSI (Windows-1252)"}
HIDDEN = "••••••"  # what a secret cell shows


@dataclass(frozen=True, slots=True)
class PreviewProblem:
    line: int
    device_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class ManifestPreview:
    refusal: str | None  # a whole-file problem: nothing of the file can be imported
    columns: tuple[str, ...] = ()
    separator: str = ""  # tab, semicolon or comma
    encoding: str = ""
    rows: int = 0
    full: bool = False  # creates devices (CREDENTIALS/AUTH_TYPE) rather than registration requests
    first_rows: tuple[tuple[int, tuple[str, ...]], ...] = ()  # line, cells (secrets hidden)
    problems: tuple[PreviewProblem, ...] = ()  # the first MAX_PROBLEMS
    problem_count: int = 0

    @property
    def importable(self) -> int:
        return self.rows - self.problem_count


def preview(data: bytes, tenant_id: str, *, may_choose_tenant: bool, first: int = FIRST_ROWS) -> ManifestPreview:
    """CPU only (the whole file is read and checked): run it off the event loop."""
    try:
        manifest = parse(data)
        columns = read_columns(manifest)
    except InvalidInput as exc:
        return ManifestPreview(refusal=exc.message)
    secrets = {columns.index[name] for name in SECRET_COLUMNS if name in columns.index}
    shown = tuple(
        (row.line, tuple(HIDDEN if at in secrets and cell else cell for at, cell in enumerate(row.cells)))
        for row in manifest.rows[:first]
    )
    checked = CheckedRows(manifest, columns, tenant_id, may_choose_tenant=may_choose_tenant, record_failures=True)
    failures = checked.failures()
    problems = tuple(PreviewProblem(row.line, row.device_id, row.reason) for row in failures[:MAX_PROBLEMS])
    return ManifestPreview(
        refusal=None,
        columns=manifest.columns,
        separator=manifest.separator_name,
        encoding=_ENCODINGS.get(manifest.encoding, manifest.encoding),
        rows=len(manifest.rows),
        full=columns.full,
        first_rows=shown,
        problems=problems,
        problem_count=len(failures),
    )
