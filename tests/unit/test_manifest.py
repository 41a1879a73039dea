"""Reading bulk registration files, without a database: manifest.parse (encodings, separators,
quoting, line numbers, garbage) and rows.read_columns / read_rows (header and per-row checks)."""

from __future__ import annotations

import contextlib
import csv
import io
import random

import pytest

from admittance.devices.bulk.manifest import parse
from admittance.devices.bulk.rows import (
    AuthType,
    DeviceRow,
    RowFailure,
    read_columns,
    read_rows,
)
from admittance.kernel.errors import InvalidInput

FULL = "ID;CREDENTIALS;NAME\n"


def read(data: str | bytes, *, tenant: str = "t1", management: bool = False) -> list[DeviceRow | RowFailure]:
    manifest = parse(data.encode() if isinstance(data, str) else data)
    return read_rows(manifest, read_columns(manifest), tenant, may_choose_tenant=management)


def device(data: str | bytes, **options: bool | str) -> DeviceRow:
    """The only row of a file, which must be good."""
    [row] = read(data, **options)  # type: ignore[arg-type]
    assert isinstance(row, DeviceRow), row
    return row


def refused(data: str | bytes) -> str:
    """The message of a file refused as a whole."""
    with pytest.raises(InvalidInput) as info:
        read(data)
    assert info.value.field == "file"
    return info.value.message


def reasons(data: str) -> dict[int, str]:
    """Line -> failure reason, for the rows that failed."""
    return {row.line: row.reason for row in read(data) if isinstance(row, RowFailure)}


# --- encodings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("ID;NAME\nid1;Gerät €\n".encode(), "utf-8"),
        (b"\xef\xbb\xbf" + "ID;NAME\nid1;Gerät €\n".encode(), "utf-8-sig"),
        ("ID;NAME\nid1;Gerät €\n".encode("windows-1252"), "windows-1252"),
    ],
)
def test_utf8_bom_and_ansi_files_read_the_same(data: bytes, encoding: str) -> None:
    manifest = parse(data)
    assert manifest.encoding == encoding
    assert manifest.columns == ("ID", "NAME")  # no BOM glued to the first column name
    assert manifest.rows[0].cells == ("id1", "Gerät €")


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_are_refused_with_or_without_bom(codec: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse("ID;CREDENTIALS\nid1;secret-123\n".encode(codec))
    assert "UTF-16" in info.value.message or "NUL" in info.value.message


GARBAGE = {
    "zip header": b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00",
    "NUL in text": b"ID;CREDENTIALS\nid1;pass\x00word\n",
    "bell character": b"ID;CREDENTIALS\nid1;secret-123\nid2;pass\x07word\n",
    "not even ANSI": b"ID;NAME\nid1;\x81\x8d\x8f\x90\x9d\n",
    "PNG": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "empty": b"",
    "blank": b"\r\n  \n\t\n",
    "BOM only": b"\xef\xbb\xbf",
}


@pytest.mark.parametrize("data", GARBAGE.values(), ids=GARBAGE.keys())
def test_binary_garbage_and_empty_files_are_refused_as_a_whole(data: bytes) -> None:
    with pytest.raises(InvalidInput) as info:
        parse(data)
    assert info.value.field == "file"


def test_control_characters_are_reported_with_their_line() -> None:
    assert "line 3" in refused(GARBAGE["bell character"])
    assert "U+0007" in refused(GARBAGE["bell character"])


def test_random_bytes_never_raise_anything_but_invalid_input() -> None:
    generator = random.Random(20240601)
    for _ in range(300):
        data = generator.randbytes(generator.randint(1, 400))
        if generator.random() < 0.5:
            data = b"ID;CREDENTIALS;NAME\n" + data.replace(b"\x00", b"")
        with contextlib.suppress(InvalidInput):
            read(data)


# --- separators, quoting, line numbers ---------------------------------------------------------


@pytest.mark.parametrize(("separator", "name"), [("\t", "tab"), (";", "semicolon"), (",", "comma")])
def test_the_separator_is_detected_from_the_header_line(separator: str, name: str) -> None:
    others = "".join(sep for sep in "\t;," if sep != separator)
    text = separator.join(["ID", "CREDENTIALS", "NAME"]) + "\n"
    text += separator.join(["id1", "secret-123", f'"a{others}b"']) + "\n"
    manifest = parse(text.encode())
    assert (manifest.separator, manifest.separator_name) == (separator, name)
    assert manifest.rows[0].cells == ("id1", "secret-123", f"a{others}b")


def test_a_one_column_file_needs_no_separator() -> None:
    manifest = parse(b"ID\nid1\nid,2\n")
    assert manifest.columns == ("ID",)
    assert [row.cells for row in manifest.rows] == [("id1",), ("id,2",)]
    assert [row.device_id for row in read(b"ID\nid1\nid,2\n") if isinstance(row, DeviceRow)] == ["id1", "id,2"]


def test_quoted_header_names_do_not_confuse_the_detection() -> None:
    manifest = parse(b'"ID";"a,b,c";"CREDENTIALS"\nid1;x;secret-123\n')
    assert manifest.separator == ";"
    assert manifest.columns == ("ID", "a,b,c", "CREDENTIALS")


def test_quoted_fields_doubled_quotes_and_embedded_newlines() -> None:
    text = (
        'ID;CREDENTIALS;NAME\n"id1";"pa;ss""word";"Device ""one"""\nid2;secret-123;"two\nlines\n"\nid3;secret-123;x\n'
    )
    rows = parse(text.encode()).rows
    assert [row.cells for row in rows] == [
        ("id1", 'pa;ss"word', 'Device "one"'),
        ("id2", "secret-123", "two\nlines\n"),
        ("id3", "secret-123", "x"),
    ]
    assert [row.line for row in rows] == [2, 3, 6]  # the physical line each row starts on
    assert rows[1].raw == 'id2;secret-123;"two\nlines\n"'


def test_crlf_lf_and_cr_files_give_the_same_rows() -> None:
    text = 'ID;CREDENTIALS;NAME\nid1;secret-123;"a\nb"\n\nid2;secret-123;c\n'
    parsed = {ending: parse(text.replace("\n", ending).encode()).rows for ending in ("\n", "\r\n", "\r")}
    lines = {ending: [(row.line, row.cells[0]) for row in rows] for ending, rows in parsed.items()}
    assert lines["\n"] == lines["\r\n"] == lines["\r"] == [(2, "id1"), (5, "id2")]
    assert parsed["\r\n"][0].cells[2] == "a\r\nb"  # a quoted line break is kept as written
    assert all(not row.raw.endswith(("\r", "\n")) for rows in parsed.values() for row in rows)


def test_blank_lines_and_lines_of_separators_are_not_rows() -> None:
    rows = parse(b"ID;CREDENTIALS\n\nid1;secret-123\n;\n  \n\nid2;secret-123\n\n\n").rows
    assert [(row.line, row.cells[0]) for row in rows] == [(3, "id1"), (7, "id2")]


def test_a_line_that_is_not_csv_fails_alone_and_the_next_lines_still_count() -> None:
    text = 'ID;CREDENTIALS\nid1;"secret"-123\nid2;secret-123\nid3;"unterminated\n'
    rows = read(text)
    assert [(row.line, type(row).__name__) for row in rows] == [(2, "RowFailure"), (3, "DeviceRow"), (4, "RowFailure")]
    assert all("not valid CSV" in row.reason for row in rows if isinstance(row, RowFailure))


def test_an_unreadable_header_line_refuses_the_file() -> None:
    assert "header line is not valid CSV" in refused(b'ID;"CREDENTIALS"x\nid1;secret-123\n')


def test_cells_over_the_field_limit_fail_their_row_only() -> None:
    failures = reasons(f"ID;CREDENTIALS;NAME\nid1;secret-123;{'x' * 200_000}\nid2;secret-123;y\n")
    assert list(failures) == [2]


# --- the header line -----------------------------------------------------------------------------

HEADER_ERRORS = {
    "no ID": ("NAME;CREDENTIALS\nx;secret-123\n", "must have an ID column"),
    "duplicate column": ("ID;CREDENTIALS;NAME;name\nid1;secret-123;a;b\n", "appears twice"),
    "ID twice": ("ID;id\nid1;id2\n", "appears twice"),
    "empty column name": ("ID;;CREDENTIALS\nid1;x;secret-123\n", "Column 2 of the header line has no name"),
    "formula header": ("ID;CREDENTIALS;=cmd\nid1;secret-123;x\n", "must not start with"),
    "reserved property": ("ID;CREDENTIALS;owner\nid1;secret-123;x\n", "server owns 'owner'"),
    "relation property": ("ID;CREDENTIALS;childAssets.x\nid1;secret-123;x\n", "server owns 'childAssets'"),
    "conflicting dotted": ("ID;CREDENTIALS;a;a.b\nid1;secret-123;x;y\n", "conflict"),
    "empty dotted part": ("ID;CREDENTIALS;a..b\nid1;secret-123;x\n", "between every two dots"),
    "external without type": ("ID;CREDENTIALS;external-\nid1;secret-123;x\n", "external id type"),
    "device columns in a simple file": ("ID;NAME;PATH\nid1;x;g\n", "no CREDENTIALS or AUTH_TYPE column"),
    "no rows": ("ID;CREDENTIALS\n\n\n", "no device rows"),
}


@pytest.mark.parametrize(("text", "message"), HEADER_ERRORS.values(), ids=HEADER_ERRORS.keys())
def test_header_problems_refuse_the_whole_file(text: str, message: str) -> None:
    assert message in refused(text)


def test_column_names_are_case_insensitive_and_trimmed() -> None:
    row = device(" id ;credentials; Name \nid1;secret-123;Device 1\n")
    assert (row.device_id, row.password, row.name) == ("id1", "secret-123", "Device 1")


def test_simple_files_have_no_auth_type_and_keep_path_and_type() -> None:
    rows = read("ID;PATH;TYPE\nid1;a/b;thing\nid2;;\n")
    assert [(r.device_id, r.auth_type, r.path, r.type) for r in rows if isinstance(r, DeviceRow)] == [
        ("id1", None, ("a", "b"), "thing"),
        ("id2", None, (), None),
    ]
    assert device("ID\nid1\n").auth_type is None


# --- per-row checks ----------------------------------------------------------------------------

ROW_ERRORS = {  # lines under ROW_HEADER
    "too few fields": ("id1;secret-123", "has 2 fields but the header line has 5"),
    "too many fields": ("id1;secret-123;a;;;b", "has 6 fields but the header line has 5"),
    "empty ID": (";secret-123;a;;", "ID is empty"),
    "ID over 1000 characters": ("x" * 1001 + ";secret-123;a;;", "at most 1000 characters"),
    "ID with a colon enrolling over EST": ("a:b;;a;CERTIFICATES;otp-12345678", "must not contain ':'"),
    "formula =": ("id1;secret-123;=HYPERLINK(1);;", "NAME cell starts with '='"),
    "formula +": ("id1;secret-123;+cmd;;", "starts with '+'"),
    "formula -": ("id1;secret-123;-2+3;;", "starts with '-'"),
    "formula @": ("id1;secret-123;@SUM(A1);;", "starts with '@'"),
    "formula in ID": ("=id1;secret-123;x;;", "ID cell starts with '='"),
    "formula after spaces": ("id1;secret-123;  =1+1;;", "starts with '='"),
    "empty password": ("id1;;a;;", "CREDENTIALS is empty"),
    "short password": ("id1;short;a;;", "at least 8 characters"),
    "long password": ("id1;" + "p" * 129 + ";a;;", "at most 128 characters"),
    "password is the user name": ("id1;DEVICE_ID1;a;;", "must differ from the username"),
    "name too long": ("id1;secret-123;" + "n" * 1001 + ";;", "NAME must have at most 1000"),
    "unknown auth type": ("id1;secret-123;a;TOKEN;", "AUTH_TYPE must be BASIC or CERTIFICATES"),
    "certificates with a password": ("id1;secret-123;a;CERTIFICATES;", "CREDENTIALS must be empty"),
    "short OTP": ("id1;;a;CERTIFICATES;otp", "ENROLLMENT_OTP must have at least 8"),
    "OTP for basic": ("id1;secret-123;a;BASIC;otp-12345", "only for AUTH_TYPE CERTIFICATES"),
}
ROW_HEADER = "ID;CREDENTIALS;NAME;AUTH_TYPE;ENROLLMENT_OTP\n"


@pytest.mark.parametrize(("line", "message"), ROW_ERRORS.values(), ids=ROW_ERRORS.keys())
def test_a_bad_row_fails_alone_with_a_clear_reason(line: str, message: str) -> None:
    failures = reasons(f"{ROW_HEADER}good1;secret-123;a;;\n{line}\ngood2;;b;CERTIFICATES;otp-12345\n")
    assert list(failures) == [3]
    assert message in failures[3]


def test_the_longest_id_is_fine() -> None:
    assert device(f"{FULL}{'x' * 1000};secret-123;a\n").device_id == "x" * 1000


@pytest.mark.parametrize("value", ["-5", "+4917612345", "-1.5", "+3,25", "1e5", "-.5"])
def test_plain_numbers_starting_with_a_sign_are_not_formulas(value: str) -> None:
    row = device(f"ID;CREDENTIALS;NAME;phone\n{value};secret-123;{value};{value}\n")
    assert (row.device_id, row.name, row.fragments["phone"]) == (value, value, value)


def test_secret_cells_may_start_with_formula_characters() -> None:
    assert device(f"{FULL}id1;=Secret+123;a\n").password == "=Secret+123"
    row = device("ID;AUTH_TYPE;ENROLLMENT_OTP\nid1;CERTIFICATES;@otp-12345\n")
    assert (row.auth_type, row.enrollment_otp) == (AuthType.CERTIFICATES, "@otp-12345")


def test_a_secret_is_kept_exactly_and_other_cells_are_trimmed() -> None:
    row = device(f"{FULL} id1 ; secret-123 ; Device \n")
    assert (row.device_id, row.password, row.name) == ("id1", " secret-123 ", "Device")


def test_auth_type_defaults_to_basic_and_is_case_insensitive() -> None:
    rows = read(
        "ID;AUTH_TYPE;CREDENTIALS;ENROLLMENT_OTP\nid1;;secret-123;\nid2;basic;secret-123;\nid3;certificates;;\n"
    )
    assert [row.auth_type for row in rows if isinstance(row, DeviceRow)] == [
        AuthType.BASIC,
        AuthType.BASIC,
        AuthType.CERTIFICATES,
    ]


@pytest.mark.parametrize(
    ("shell", "operations"), [("1", ["c8y_Command"]), ("0", None), ("", None), (" 1 ", ["c8y_Command"])]
)
def test_shell_values(shell: str, operations: list[str] | None) -> None:
    row = device(f"ID;CREDENTIALS;SHELL\nid1;secret-123;{shell}\n")
    assert row.fragments.get("c8y_SupportedOperations") == operations


@pytest.mark.parametrize("shell", ["2", "yes", "true", "on"])
def test_other_shell_values_fail_the_row(shell: str) -> None:
    assert "SHELL must be 1, 0 or empty" in reasons(f"ID;CREDENTIALS;SHELL\nid1;secret-123;{shell}\n")[2]


def test_path_groups() -> None:
    assert device("ID;CREDENTIALS;PATH\nid1;secret-123; a / b c /d \n").path == ("a", "b c", "d")
    assert "empty group name" in reasons("ID;CREDENTIALS;PATH\nid1;secret-123;a//b\n")[2]
    assert "at most 20 levels" in reasons(f"ID;CREDENTIALS;PATH\nid1;secret-123;{'/'.join('g' * 21)}\n")[2]


def test_device_fragments_iccid_idtype_external_ids_and_dotted_properties() -> None:
    text = (
        "ID;CREDENTIALS;TYPE;NAME;ICCID;IDTYPE;com_cumulocity_model_Agent.active;c8y_Mobile.imei;a.b.c;note;"
        "external-c8y_Imei;external-mac\n"
        "id1;secret-123;thing;Device 1;8949;c8y_Id;true;3567;deep;{};12345;\n"
        "id2;secret-123;;;;;;;;;;aa:bb\n"
    )
    first, second = read(text)
    assert isinstance(first, DeviceRow)
    assert isinstance(second, DeviceRow)
    assert (first.name, first.type) == ("Device 1", "thing")
    assert first.fragments == {
        "c8y_IsDevice": {},
        "c8y_Mobile": {"iccid": "8949", "imei": "3567"},
        "com_cumulocity_model_Agent": {"active": "true"},
        "a": {"b": {"c": "deep"}},
        "note": "{}",  # values stay strings
    }
    assert first.external_ids == (("c8y_Id", "id1"), ("c8y_Imei", "12345"))
    assert (second.name, second.type, second.fragments) == (None, None, {"c8y_IsDevice": {}})
    assert second.external_ids == (("c8y_Serial", "id2"), ("mac", "aa:bb"))


def test_the_same_external_id_twice_in_a_row_fails_it() -> None:
    assert "same external id twice" in reasons("ID;CREDENTIALS;external-c8y_Serial\nid1;secret-123;id1\n")[2]


def test_duplicate_ids_and_external_ids_fail_on_every_line() -> None:
    text = (
        "ID;CREDENTIALS;external-mac\n"
        "id1;secret-123;m1\nid2;secret-123;m2\nid1;secret-456;m3\nid3;secret-123;m2\nid4;secret-123;m4\n"
    )
    failures = reasons(text)
    assert sorted(failures) == [2, 3, 4, 5]
    for line in (2, 4):
        assert "The ID id1 appears on lines 2, 4" in failures[line]
    for line in (3, 5):
        assert "The external id mac/m2 appears on lines 3, 5" in failures[line]


def test_an_id_named_as_another_rows_external_id_fails_both_rows() -> None:
    failures = reasons("ID;CREDENTIALS;external-c8y_Serial\nid1;secret-123;\nid2;secret-123;id1\nid3;secret-123;\n")
    assert sorted(failures) == [2, 3]
    assert all("external id c8y_Serial/id1 appears on lines 2, 3" in reason for reason in failures.values())


def test_the_tenant_column_is_honoured_only_for_the_management_tenant() -> None:
    text = "ID;CREDENTIALS;TENANT\nid1;secret-123;t2\nid2;secret-123;\nid1;secret-456;t3\n"
    chosen = read(text, tenant="management", management=True)
    assert [(row.device_id, row.tenant_id) for row in chosen if isinstance(row, DeviceRow)] == [
        ("id1", "t2"),
        ("id2", "management"),
        ("id1", "t3"),  # the same ID in another tenant is another device
    ]
    ignored = read(text, tenant="t1", management=False)
    assert [(row.line, type(row).__name__) for row in ignored] == [
        (2, "RowFailure"),
        (3, "DeviceRow"),
        (4, "RowFailure"),
    ]
    assert all(row.tenant_id == "t1" for row in ignored if isinstance(row, DeviceRow))


def test_a_failure_reason_column_is_ignored() -> None:
    row = device("ID;CREDENTIALS;FAILURE_REASON\nid1;secret-123;=previous failure\n")
    assert row.fragments == {"c8y_IsDevice": {}}


# --- what a row shows --------------------------------------------------------------------------

SECRET_FILE = (
    "ID;CREDENTIALS;NAME;ENROLLMENT_OTP;AUTH_TYPE\n"
    'id1;"Pw;with""quote";"Device\r\none";;\n'
    "id2;Plain-Pw-777;-cmd;;\n"
    "id3;Short;x;;\n"
    "id4;Extra-Pw-888;x;;;extra\n"
    'id5;"Broken-Pw-999"x;y;;\n'
    "id6;;x;Otp-secret-555;CERTIFICATES\n"
    "id1;Dup-Pw-4242;x;;\n"
)
SECRETS = ('Pw;with"quote', "Plain-Pw-777", "Short", "Extra-Pw-888", "Broken-Pw-999", "Otp-secret-555", "Dup-Pw-4242")


def test_raw_and_reasons_never_show_a_secret() -> None:
    rows = read(SECRET_FILE)
    shown = [row.raw for row in rows] + [row.reason for row in rows if isinstance(row, RowFailure)]
    assert not [text for text in shown for secret in SECRETS if secret in text]
    assert len(rows) == 7


def test_raw_is_the_row_as_csv_with_secret_cells_emptied() -> None:
    by_line = {row.line: row.raw for row in read(SECRET_FILE)}
    assert by_line[4] == "id2;;-cmd;;"
    assert by_line[8] == "id6;;x;;CERTIFICATES"
    [cells] = csv.reader(io.StringIO(by_line[2], newline=""), delimiter=";")
    assert cells == ["id1", "", "Device\r\none", "", ""]  # still one CSV row: the line break stays quoted
    assert by_line[6] == by_line[7] == ""  # cells that cannot be lined up with the header are not shown
    assert read("ID;PATH\n id1 ;a/b\n")[0].raw == " id1 ;a/b"  # without secret columns: the line as it was


def test_trailing_unnamed_columns_as_spreadsheets_write_them_are_no_columns() -> None:
    manifest = parse(b"ID;CREDENTIALS;;\nid1;secret-123;;\nid2;secret-456;x;\n")
    created, refused = read_rows(manifest, read_columns(manifest), "t1", may_choose_tenant=False)
    assert isinstance(created, DeviceRow)
    assert created.password == "secret-123"
    assert isinstance(refused, RowFailure)
    assert refused.reason == "The line has a value in column 3, which has no name in the header line"
