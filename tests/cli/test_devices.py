"""`admittance devices import|export`, `jobs list|show` and `worker --drain` through the real command
line (click's runner, in this process), on SQLite and PostgreSQL: summaries and exit codes, background
imports, and the round trip import -> export -> import elsewhere -> export."""

from __future__ import annotations

import csv
import io
import itertools
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from admittance.cli.main import main
from admittance.storage.location import DatabaseLocation
from tests.support.bulk import SEED_EXAMPLE
from tests.support.credentials import SECRET_KEY
from tests.support.databases import create_database
from tests.support.jobs import parse_csv, strong_password
from tests.support.postgres import PostgresServer

_fresh = itertools.count()

# Every column the import reads back from an export: fixed ones, dotted custom properties (also
# next to ICCID in c8y_Mobile), a plain custom property, and another external id type.
ROUND_TRIP_HEADER = (
    "ID;CREDENTIALS;TYPE;NAME;ICCID;IDTYPE;PATH;SHELL;c8y_Hardware.model;c8y_Hardware.serialNumber;"
    "c8y_Mobile.imsi;vendor;external-c8y_Imei"
)
ROUND_TRIP_ROWS = [
    "rt-001;{pw};c8y_Sensor;Sensor 1;8949000001;;plant/hall-a;1;M-100;SN-001;262011;Acme;35000001",
    'rt-002;{pw};c8y_Sensor;Sensor 2;;c8y_Serial;plant/hall-a;0;M-100;SN-002;;"Acme; ""Ltd""";35000002',
    "rt-003;{pw};c8y_Gateway;Gateway Hallé 3;8949000003;c8y_Mac;plant/hall-b;1;G-7;SN-003;262013;Acme;",
    "rt-004;{pw};;;;;;;;;;;",
]


@dataclass
class Cli:
    database_url: str
    data_dir: Path

    def __call__(self, *args: str) -> Result:
        return CliRunner().invoke(
            main,
            ["--data-dir", str(self.data_dir), "--database-url", self.database_url, *args],
            env={"ADMITTANCE_SECRET_KEY": SECRET_KEY},
            catch_exceptions=False,
        )


def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in os.environ:
        if name.startswith("ADMITTANCE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def cli(location: DatabaseLocation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The command line on the test's database (tenants t1 and management exist)."""
    _clean_environment(monkeypatch)
    return Cli(location.postgres_url or f"sqlite:///{location.sqlite_path}", tmp_path / "data")


@pytest.fixture
def fresh_cli(request: pytest.FixtureRequest, location: DatabaseLocation, tmp_path: Path) -> Cli:
    """The command line on another, empty database of the same kind: the CLI migrates it; tenant t1 is
    created as an operator does on a fresh data folder."""
    if location.dialect == "sqlite":
        url = f"sqlite:///{tmp_path / 'fresh' / 'admittance.sqlite3'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        url = create_database(server, f"cli_fresh_{os.getpid()}_{next(_fresh)}")
    fresh = Cli(url, tmp_path / "fresh-data")
    created = fresh("tenants", "create", "t1")
    assert created.exit_code == 0, created.output
    return fresh


def summary(output: str) -> dict[str, int]:
    found = re.findall(r"^  (rows|created|credentials updated|failed) +([\d,]+)$", output, re.MULTILINE)
    return {label: int(value.replace(",", "")) for label, value in found}


def queued_job_id(output: str) -> str:
    match = re.search(r"Queued job (\S+) \((\d+) rows\)", output)
    assert match, output
    return match.group(1)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def rows_by_id(text: str, separator: str = ";") -> list[dict[str, str]]:
    header, *rows = parse_csv(text, separator)
    return sorted((dict(zip(header, row, strict=True)) for row in rows), key=lambda row: row["ID"])


def test_importing_the_seed_example_prints_a_summary_and_exits_0(cli: Cli, tmp_path: Path) -> None:
    result = cli("devices", "import", str(write(tmp_path / "seed.csv", SEED_EXAMPLE)))
    assert result.exit_code == 0, result.output
    assert summary(result.stdout) == {"rows": 7, "created": 7, "credentials updated": 0, "failed": 0}
    assert "7/7" in result.stderr  # the progress line
    assert "rows/s" in result.stderr
    assert "7 passwords were not random enough" in result.stdout

    again = cli("devices", "import", str(tmp_path / "seed.csv"))
    assert summary(again.stdout) == {"rows": 7, "created": 0, "credentials updated": 7, "failed": 0}
    # The weak passwords were queued for wrapping once; a worker runs that job and stops.
    listed = cli("jobs", "list").stdout.splitlines()
    assert len(listed) == 1
    assert re.search(r"password-wrap +PENDING", listed[0])
    drained = cli("worker", "--drain")
    assert drained.exit_code == 0, drained.output
    assert "Ran 1 jobs" in drained.stderr
    assert re.search(r"password-wrap +SUCCEEDED .*updated 7 ", cli("jobs", "list").stdout)


def test_a_failing_row_exits_2_and_shows_its_line_and_reason(cli: Cli, tmp_path: Path) -> None:
    text = f"ID;CREDENTIALS;NAME\ngood-1;{strong_password()};Good\nbad-1;;Bad\nbad-2;{strong_password()};=cmd()\n"
    result = cli("devices", "import", str(write(tmp_path / "mixed.csv", text)))
    assert result.exit_code == 2, result.output
    assert summary(result.stdout) == {"rows": 3, "created": 1, "credentials updated": 0, "failed": 2}
    assert re.search(r"^ +3  bad-1 +CREDENTIALS is empty", result.stdout, re.MULTILINE)
    assert re.search(r"^ +4  bad-2 +The NAME cell starts with '='", result.stdout, re.MULTILINE)
    assert "not random enough" not in result.stdout


def test_errors_are_messages_not_tracebacks(cli: Cli, tmp_path: Path) -> None:
    missing_tenant = cli("devices", "import", "--tenant", "nope", str(write(tmp_path / "s.csv", SEED_EXAMPLE)))
    assert missing_tenant.exit_code == 1
    assert "There is no tenant nope" in missing_tenant.output
    broken = cli("devices", "import", str(write(tmp_path / "broken.csv", "NAME;TYPE\nx;y\n")))
    assert broken.exit_code == 1
    assert "must have an ID column" in broken.output
    unknown = cli("jobs", "show", "no-such-job")
    assert unknown.exit_code == 1
    assert "There is no job no-such-job" in unknown.output
    assert "Traceback" not in missing_tenant.output + broken.output + unknown.output


def test_a_background_import_is_run_by_a_draining_worker(cli: Cli, tmp_path: Path) -> None:
    queued = cli("devices", "import", "--background", str(write(tmp_path / "seed.csv", SEED_EXAMPLE)))
    assert queued.exit_code == 0, queued.output
    job_id = queued_job_id(queued.stdout)
    assert re.search(rf"^{job_id}  device-import +PENDING +0/7 ", cli("jobs", "show", job_id).stdout)
    drained = cli("worker", "--drain")
    assert drained.exit_code == 0, drained.output
    assert "Ran 2 jobs" in drained.stderr  # the import, then the wrapping of its weak passwords
    shown = cli("jobs", "show", job_id).stdout
    assert re.search(rf"^{job_id}  device-import +SUCCEEDED +7/7 +created 7 updated 0 failed 0$", shown.strip())
    assert len(rows_by_id(cli("devices", "export").stdout)) == 7


def test_an_export_is_the_imported_file_without_credentials_and_imports_again_elsewhere(
    cli: Cli, fresh_cli: Cli, tmp_path: Path
) -> None:
    text = "\n".join([ROUND_TRIP_HEADER, *(row.format(pw=strong_password()) for row in ROUND_TRIP_ROWS)]) + "\n"
    imported = cli("devices", "import", str(write(tmp_path / "full.csv", text)))
    assert imported.exit_code == 0, imported.output
    assert summary(imported.stdout)["created"] == 4

    exported = cli("devices", "export", "-o", str(tmp_path / "export.csv"))
    assert exported.exit_code == 0, exported.output
    assert f"Wrote 4 devices to {tmp_path / 'export.csv'}" in exported.stderr
    first_export = (tmp_path / "export.csv").read_text(encoding="utf-8")
    assert first_export.splitlines()[0] == (
        "ID;AUTH_TYPE;TYPE;NAME;ICCID;IDTYPE;PATH;SHELL;c8y_Hardware.model;c8y_Hardware.serialNumber;"
        "c8y_Mobile.imsi;vendor;external-c8y_Imei"
    )
    expected = []
    for row in rows_by_id(text):
        del row["CREDENTIALS"]
        # What an export normalises: the AUTH_TYPE is written out, an empty IDTYPE is the default
        # c8y_Serial, SHELL 0 is written as empty (both mean no shell), and a device without a NAME
        # was named after its ID at import.
        row["AUTH_TYPE"] = "BASIC"
        row["IDTYPE"] = row["IDTYPE"] or "c8y_Serial"
        row["SHELL"] = "1" if row["SHELL"] == "1" else ""
        row["NAME"] = row["NAME"] or row["ID"]
        expected.append(row)
    assert rows_by_id(first_export) == expected
    assert "Hallé" in first_export
    assert '"Acme; ""Ltd"""' in first_export
    assert rows_by_id(cli("devices", "export", "--separator", "tab").stdout, "\t") == expected
    assert rows_by_id(cli("devices", "export", "--separator", ",").stdout, ",") == expected

    # With passwords added, the export is a manifest for another installation, which exports the same.
    header, *rows = parse_csv(first_export)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow([header[0], "CREDENTIALS", *header[1:]])
    writer.writerows([row[0], strong_password(), *row[1:]] for row in rows)
    again = fresh_cli("devices", "import", str(write(tmp_path / "with-passwords.csv", out.getvalue())))
    assert again.exit_code == 0, again.output
    assert summary(again.stdout) == {"rows": 4, "created": 4, "credentials updated": 0, "failed": 0}
    assert fresh_cli("devices", "export").stdout == first_export
