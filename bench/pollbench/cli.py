"""The command line of bench/poll.py: options, machine checks, and the run from start to verdict.

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
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from .measuring import run_matrix
from .model import RESULTS, BenchFailure
from .processes import Processes, guarded_main, start_subjects
from .report import print_table, summarize, write_results
from .seeding import accepted_indexes
from .targets import METHOD

DESCRIPTION = """\
Device-polling benchmark: the real server under wrk, on SQLite and on PostgreSQL.

What it does, for each database:

1. starts the real server (`admittance serve --workers 1`) pinned to one core (`taskset -c 0`);
   for PostgreSQL it first starts a throwaway PostgreSQL (tests/support/postgres.py) and pins the
   postmaster and every backend to the same core before each measurement;
2. writes N pending registration requests (default 100,000) straight into the migrated database,
   a share of them ACCEPTED (each answers one 201 with credentials, then 404 "no request");
3. checks the setup through the HTTP API (admin view of a request, one pending and one accepted poll);
4. drives `POST /devicecontrol/deviceCredentials` as the bootstrap user from wrk (bench/poll.lua,
   one thread pinned to the other core), cycling over all device ids, at each connection count:
   a warm-up, then the measured window.

In the same pass it measures a bare uvloop responder (bench/uvloop_responder.py, same core, same
wrk script) so that every figure also reads as a ratio. Each (target, connections) cell is
measured --repeats times, interleaved, and the median is reported. Every response must be 404 or
201 and wrk must see no connect, read or write error, else the run stops with an error (exit
status 2); responses slower than --wrk-timeout are counted and reported. Results go
to bench/results/poll-<date>.json; the exit status is 1 when a target is missed.

Targets are judged as ratios to the reference of the same run: the issue's req/s targets divided
by the baseline reference (143,337 req/s), p99 targets scaled by how much slower this run's
reference is, at most 2x (bench/pollbench/targets.py).

    .venv/bin/python bench/poll.py                      # both databases, 256 and 16 connections
    .venv/bin/python bench/poll.py --databases sqlite --repeats 1 --duration 5

Needs: Linux with >= 2 CPUs, taskset, wrk (Debian: apt-get install wrk), and for PostgreSQL the
server binaries under /usr/lib/postgresql/*/bin (Debian: postgresql). Only 127.0.0.1 is targeted.
"""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--databases", default="sqlite,postgresql", help="comma separated (default: %(default)s)")
    parser.add_argument("--connections", default="256,16", help="comma separated (default: %(default)s)")
    parser.add_argument("--devices", type=int, default=100_000, help="pending requests (default: %(default)s)")
    parser.add_argument(
        "--accepted-percent", type=float, default=1.0, help="share of ACCEPTED requests (default: %(default)s)"
    )
    parser.add_argument(
        "--probes", type=int, default=3, help="timed ACCEPTED polls sent beside wrk in each window (default: 3)"
    )
    parser.add_argument("--warmup", type=int, default=2, help="seconds before each measurement (default: 2)")
    parser.add_argument("--duration", type=int, default=10, help="measured seconds (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per cell; the median is reported (default: 3)")
    parser.add_argument("--server-cpu", type=int, default=0, help="core for server and database (default: 0)")
    parser.add_argument("--client-cpu", type=int, default=1, help="core for wrk (default: 1)")
    parser.add_argument(
        "--wrk-timeout", type=int, default=10, help="wrk counts slower responses as timeouts (default: 10 s)"
    )
    parser.add_argument(
        "--max-other-cpu",
        type=float,
        default=15.0,
        help="measure again when other processes used more than this %% of a core (default: %(default)s)",
    )
    parser.add_argument("--max-tries", type=int, default=4, help="measurements per cell at most (default: 4)")
    parser.add_argument(
        "--quiet-wait",
        type=int,
        default=120,
        help="seconds to wait, before each measurement, for the machine to be quiet (default: %(default)s)",
    )
    parser.add_argument(
        "--admittance",
        default=str(Path(sys.executable).parent / "admittance"),
        help="the admittance console script (default: next to this Python)",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra server setting, e.g. ADMITTANCE_DB_POOL_SIZE=20 (repeatable)",
    )
    parser.add_argument("--output", type=Path, help="results JSON (default: bench/results/poll-<date>.json)")
    args = parser.parse_args(argv)
    args.databases = [name.strip() for name in args.databases.split(",") if name.strip()]
    args.connections = [int(count) for count in args.connections.split(",")]
    if any("=" not in item for item in args.server_env):
        parser.error("--server-env takes NAME=VALUE")
    unknown = set(args.databases) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown database(s): {', '.join(sorted(unknown))}")
    if min(args.repeats, args.duration, args.devices, args.max_tries) < 1 or min(args.warmup, args.probes) < 0:
        parser.error("--repeats, --duration, --devices and --max-tries must be positive; --warmup, --probes >= 0")
    return args


def check_machine(args: argparse.Namespace) -> None:
    cpus = os.sched_getaffinity(0)
    if {args.server_cpu, args.client_cpu} - cpus or args.server_cpu == args.client_cpu:
        raise BenchFailure(f"need two distinct usable CPUs for server and client; usable: {sorted(cpus)}")
    for tool in ("taskset", "wrk"):
        if shutil.which(tool) is None:
            raise BenchFailure(
                f"{tool} not found (Debian: apt-get install -y {'wrk' if tool == 'wrk' else 'util-linux'})"
            )
    if not Path(args.admittance).exists():
        raise BenchFailure(f"admittance console script not found at {args.admittance}")


def run(args: argparse.Namespace) -> int:
    started = dt.datetime.now(dt.UTC)
    output = args.output or RESULTS / f"poll-{started.date().isoformat()}.json"
    accepted = accepted_indexes(args.devices, args.accepted_percent, args.probes)
    os.sched_setaffinity(0, {args.client_cpu})  # the harness keeps off the server core
    processes = Processes()
    work = Path(tempfile.mkdtemp(prefix="admittance-bench-"))
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        stack.callback(processes.stop_all)  # if starting fails half way
        subjects = start_subjects(stack, processes, args, work, accepted)
        stack.callback(processes.stop_all)  # callbacks run last-in first-out: servers stop before PostgreSQL
        measurements = run_matrix(subjects, args, accepted)
    rows = summarize(measurements, args)
    print_table(rows)
    data = {"targets": METHOD, "summary": rows, "runs": [asdict(m) for m in measurements]}
    write_results(output, args, started, data)
    verdicts = [r["pass"] for r in rows if "pass" in r]
    print("targets:", "all PASS" if all(verdicts) else f"{verdicts.count(False)} FAIL")
    return 0 if all(verdicts) else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return guarded_main(lambda: check_machine(args), lambda: run(args))
