"""The command line of bench/bulk.py: options, machine checks, and the run from start to verdict.

Exit status: 0 every target passed, 1 a target failed, 2 the benchmark failed, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pollbench.model import RESULTS, BenchFailure
from pollbench.processes import Processes, guarded_main

from .cell import loadavg, run_cell
from .importing import PATHS
from .manifest import devices, full_manifest, group_count, reference_manifest
from .profiling import profile_engine
from .report import machine, print_table, write_results
from .targets import METHOD

DESCRIPTION = """\
Bulk-import benchmark: a 100,000-row full manifest imported by the real server, on SQLite and on
PostgreSQL, through the Cumulocity endpoint and through the background job.

For each database and each door (--paths), on a fresh server and a fresh database:

1. starts `admittance serve --workers 1` pinned to one core (taskset -c 0); for PostgreSQL first a
   throwaway PostgreSQL (tests/support/postgres.py), pinned to the same core;
2. measures the "floor" (the baseline's END-TO-END bulk row: parse + HMAC + executemany on SQLite,
   + COPY on PostgreSQL, into the same kind of database, one transaction) --reference-repeats times;
3. starts --pollers client threads polling POST /devicecontrol/deviceCredentials as the bootstrap
   user for waiting requests (404 expected), one poll every --poll-interval s each;
4. uploads the manifest (tab separated: ID AUTH_TYPE CREDENTIALS NAME TYPE IDTYPE ICCID PATH
   com_cumulocity_model_Agent.active SHELL; random 24-32 character passwords; PATH over 42 groups in
   two levels) and times it: `c8y` = POST /devicecontrol/bulkNewDeviceRequests until its 201,
   `job` = POST /admittance/v1/device-imports until the job is SUCCEEDED;
5. checks that every device can authenticate: the counters, one device user per row in the
   database and none with a pending password, and GET /user/currentUser for a random --auth-sample;
6. reads the server's peak memory (VmHWM) and measures the floor again.

Targets (issue 3 section 4, for 100,000 rows, scaled linearly with --rows): under 60 s on
PostgreSQL and 90 s on SQLite, peak server memory under 500 MB, polls answered throughout. Time is
judged as a ratio to the floor of the same run: PASS when import s < limit / factor, factor =
baseline floor s / measured floor s (bench/bulkbench/targets.py); the absolute verdict is shown too.

    .venv/bin/python bench/bulk.py                                     # everything: about 7 min
    .venv/bin/python bench/bulk.py --rows 2000 --output /tmp/bulk.json # smoke: about 40 s per database

Needs: Linux with >= 2 CPUs, taskset, and for PostgreSQL the server binaries under
/usr/lib/postgresql/*/bin (Debian: postgresql). Only 127.0.0.1 is targeted.
"""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--databases", default="sqlite,postgresql", help="comma separated (default: %(default)s)")
    add("--paths", default="c8y,job", help="doors, comma separated: c8y, job (default: %(default)s)")
    add("--rows", type=int, default=100_000, help="manifest rows (default: %(default)s)")
    add("--auth-sample", type=int, default=1000, help="devices tried over HTTP afterwards (default: %(default)s)")
    add("--pollers", type=int, default=4, help="concurrent polling clients (default: %(default)s)")
    add("--poll-interval", type=float, default=0.05, help="pause between one client's polls (default: %(default)s s)")
    add("--poll-timeout", type=float, default=10.0, help="a poll slower than this is an error (default: %(default)s s)")
    add("--poll-lead", type=float, default=1.0, help="polling before and after the import (default: %(default)s s)")
    add("--job-poll", type=float, default=0.2, help="GET interval while a job runs (default: %(default)s s)")
    add("--import-timeout", type=float, default=900, help="give up on one import after (default: %(default)s s)")
    add("--reference-repeats", type=int, default=3, help="floor runs before and after each import (default: 3)")
    add(
        "--floor-rows",
        type=int,
        default=100_000,
        help="rows of the floor, whatever --rows is: the baseline's size keeps the factor exact (default: %(default)s)",
    )
    add("--seed", type=int, default=1, help="random seed of the manifest and the sample (default: %(default)s)")
    add("--server-cpu", type=int, default=0, help="core for the server and PostgreSQL (default: 0)")
    add("--client-cpu", type=int, default=1, help="core for this harness and its pollers (default: 1)")
    add(
        "--max-other-cpu",
        type=float,
        default=15.0,
        help="before each import, wait while other processes use more than this %% of a core (default: %(default)s)",
    )
    add(
        "--quiet-wait",
        type=int,
        help="... for at most this many seconds (default: 60, or 0 below 10,000 rows: a smoke run does not wait)",
    )
    add(
        "--admittance",
        default=str(Path(sys.executable).parent / "admittance"),
        help="the admittance console script (default: next to this Python)",
    )
    add(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra server setting, e.g. ADMITTANCE_LOG_LEVEL=debug (repeatable)",
    )
    add(
        "--profile-engine",
        action="store_true",
        help="instead: run the import engine in this process under cProfile and SQL timing (profiling.py)",
    )
    add("--write-manifest", type=Path, help="also write the generated manifest to this file")
    add("--output", type=Path, help="results JSON (default: bench/results/bulk-<date>.json)")
    args = parser.parse_args(argv)
    args.databases = [name.strip() for name in args.databases.split(",") if name.strip()]
    args.paths = [name.strip() for name in args.paths.split(",") if name.strip()]
    if set(args.databases) - {"sqlite", "postgresql"} or not args.databases:
        parser.error("--databases takes sqlite and/or postgresql")
    if set(args.paths) - set(PATHS) or not args.paths:
        parser.error("--paths takes c8y and/or job")
    if any("=" not in item for item in args.server_env):
        parser.error("--server-env takes NAME=VALUE")
    if args.quiet_wait is None:
        args.quiet_wait = 60 if args.rows >= 10_000 else 0
    if min(args.rows, args.pollers, args.reference_repeats, args.floor_rows) < 1 or args.auth_sample < 0:
        parser.error("--rows, --pollers, --reference-repeats and --floor-rows must be positive, --auth-sample >= 0")
    return args


def check_machine(args: argparse.Namespace) -> None:
    cpus = os.sched_getaffinity(0)
    if {args.server_cpu, args.client_cpu} - cpus or args.server_cpu == args.client_cpu:
        raise BenchFailure(f"need two distinct usable CPUs for server and client; usable: {sorted(cpus)}")
    if shutil.which("taskset") is None:
        raise BenchFailure("taskset not found (Debian: apt-get install -y util-linux)")
    if not Path(args.admittance).exists():
        raise BenchFailure(f"admittance console script not found at {args.admittance}")


def run(args: argparse.Namespace) -> int:
    started = dt.datetime.now(dt.UTC)
    output = args.output or RESULTS / f"bulk-{started.date().isoformat()}.json"
    host = machine()
    os.sched_setaffinity(0, {args.client_cpu})  # the harness keeps off the server core
    generating = time.perf_counter()
    found = devices(args.rows, args.seed)
    manifest = full_manifest(found)
    floor_devices = found if args.floor_rows == args.rows else devices(args.floor_rows, args.seed)
    reference_data = reference_manifest(floor_devices)
    print(
        f"manifest: {args.rows:,} rows, {len(manifest) / 1e6:.1f} MB, {group_count()} groups,"
        f" generated in {time.perf_counter() - generating:.1f} s; load average {loadavg()}",
        flush=True,
    )
    if args.write_manifest:
        args.write_manifest.write_bytes(manifest)
    if args.profile_engine:
        profile_engine(args, manifest)
        return 0
    processes = Processes()
    work = Path(tempfile.mkdtemp(prefix="admittance-bulk-"))
    rows: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        stack.callback(processes.stop_all)
        rows.extend(
            run_cell(args, processes, work, database, path, found, manifest, reference_data)
            for database in args.databases
            for path in args.paths
        )
    print(f"all imports done in {time.perf_counter() - generating:.0f} s")
    print_table(rows)
    write_results(output, args, started, host, {"targets": METHOD, "summary": rows})
    verdicts = [row["pass"] for row in rows]
    print("targets:", "all PASS" if all(verdicts) else f"{verdicts.count(False)} FAIL", "(judged on the scaled limits)")
    return 0 if all(verdicts) else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return guarded_main(lambda: check_machine(args), lambda: run(args))
