"""Reading a bulk registration file (a "manifest") as Cumulocity accepts it: UTF-8 with or without
BOM or "ANSI" (Windows-1252), the separator detected among tab, `;` and `,` from the header line,
quoted fields, CRLF or LF. Whole-file problems raise InvalidInput; a row that cannot be read
becomes a row with `error` set, so one bad line never hides the others.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

from admittance.kernel.errors import InvalidInput

SEPARATORS = ("\t", ";", ",")
_SEPARATOR_NAMES = {"\t": "tab", ";": "semicolon", ",": "comma"}
_BOMS_NOT_SUPPORTED = (b"\xff\xfe", b"\xfe\xff")  # UTF-16 (and UTF-32 LE starts the same way)
_MAX_CELL_CHARS = 100_000
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tab, LF and CR are the CSV's own
ENTITY = "bulk_registration"


@dataclass(frozen=True, slots=True)
class ManifestRow:
    line: int  # the physical line the row starts on; the header is line 1
    cells: tuple[str, ...]
    raw: str  # the row's text as it was in the file, without the line end
    error: str | None = None  # the row could not be read as CSV


@dataclass(frozen=True, slots=True)
class Manifest:
    columns: tuple[str, ...]
    separator: str
    encoding: str
    rows: tuple[ManifestRow, ...]

    @property
    def separator_name(self) -> str:
        return _SEPARATOR_NAMES[self.separator]


def _invalid(message: str) -> InvalidInput:
    return InvalidInput(message, entity=ENTITY, field="file")


def decode(data: bytes) -> tuple[str, str]:
    """The file's text and the encoding it was read in."""
    if data.startswith(_BOMS_NOT_SUPPORTED):
        raise _invalid("The file is UTF-16 encoded; save it as UTF-8 (or ANSI) CSV and upload it again")
    if b"\x00" in data:
        raise _invalid("The file is not a text CSV file: it contains NUL bytes (is it a spreadsheet or an archive?)")
    encoding = "utf-8"
    if data.startswith(b"\xef\xbb\xbf"):
        data, encoding = data[3:], "utf-8-sig"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text, encoding = data.decode("windows-1252"), "windows-1252"
        except UnicodeDecodeError as exc:
            raise _invalid(
                "The file is neither UTF-8 nor ANSI (Windows-1252) text: "
                f"byte 0x{data[exc.start]:02x} at offset {exc.start} is not a character"
            ) from exc
    bad = _CONTROL.search(text)
    if bad is not None:
        number = text.count("\n", 0, bad.start()) + 1
        raise _invalid(
            f"The file is not a text CSV file: line {number} contains the control character U+{ord(bad.group()):04X}"
        )
    if not text.strip():
        raise _invalid("The file is empty; the first line must name the columns, e.g. ID;CREDENTIALS")
    return text, encoding


def detect_separator(header_line: str) -> str:
    """The separator that occurs most often outside quotes in the header line (tab first on ties,
    then `;`, then `,`); a header of one column needs none, and gets `;`."""
    counts = dict.fromkeys(SEPARATORS, 0)
    quoted = False
    for ch in header_line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(SEPARATORS, key=lambda sep: counts[sep])  # max keeps the first of equals
    return best if counts[best] else ";"


def _lines(text: str, consumed: list[str]) -> Iterator[str]:
    for line in io.StringIO(text, newline=""):
        consumed.append(line)
        yield line


def parse(data: bytes) -> Manifest:
    text, encoding = decode(data)
    first_line = text.splitlines()[0]
    separator = detect_separator(first_line)
    consumed: list[str] = []
    reader = csv.reader(_lines(text, consumed), delimiter=separator, quotechar='"', doublequote=True, strict=True)
    rows: list[ManifestRow] = []
    columns: tuple[str, ...] | None = None
    line = 1
    while True:
        start = line
        error = None
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            cells, error = [], f"The line is not valid CSV ({exc}); check its quotes"
        raw = "".join(consumed).rstrip("\r\n")
        line += len(consumed)
        consumed.clear()
        if columns is None:
            if error is not None:
                raise _invalid(f"The header line is not valid CSV: {error}")
            columns = tuple(cell.strip() for cell in cells)
            continue
        if error is None and not any(cell.strip() for cell in cells):
            continue  # blank lines (a trailing newline, an empty line in between) are not rows
        if error is None and any(len(cell) > _MAX_CELL_CHARS for cell in cells):
            cells, error = [], f"A cell on this line is longer than {_MAX_CELL_CHARS} characters"
        rows.append(ManifestRow(start, tuple(cells), raw, error))
    assert columns is not None  # decode() refused a file without a first line
    return Manifest(columns, separator, encoding, tuple(rows))
