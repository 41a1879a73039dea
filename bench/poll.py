"""Device-polling benchmark: the real server under wrk, on SQLite and on PostgreSQL.

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

    .venv/bin/python bench/poll.py                      # both databases, 256 and 16 connections
    .venv/bin/python bench/poll.py --databases sqlite --repeats 1 --duration 5

Needs: Linux with >= 2 CPUs, taskset, wrk (Debian: apt-get install wrk), and for PostgreSQL the
server binaries under /usr/lib/postgresql/*/bin (Debian: postgresql). Only 127.0.0.1 is targeted.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import http.client
import importlib
import json
import os
import platform
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
LUA_SCRIPT = BENCH / "poll.lua"
RESPONDER = BENCH / "uvloop_responder.py"
RESULTS = BENCH / "results"

HOST = "127.0.0.1"  # the load generator targets loopback only
POLL_PATH = "/devicecontrol/deviceCredentials"
TENANT = "t1"
BOOTSTRAP = ("management/devicebootstrap", "bench-Bootstrap-123")
ADMIN = ("t1/admin", "bench-Admin-Password-123")
ID_PREFIX = "bench-"
REFERENCE = "uvloop-reference"
PENDING, ACCEPTED = "PENDING_ACCEPTANCE", "ACCEPTED"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

COLUMNS = (
    "id",
    "tenant_id",
    "status",
    "owner",
    "group_id",
    "type",
    "custom_properties",
    "security_token_digest",
    "enrollment_token_digest",
    "token_failures",
    "created_at",
    "updated_at",
)
UPSERT_TAIL = " ON CONFLICT (id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at"


class BenchFailure(RuntimeError):
    """The benchmark could not produce a valid figure: a setup step or a sanity check failed."""


@dataclass(frozen=True)
class Target:
    """A performance target for one database at one connection count (checked on the medians)."""

    database: str
    connections: int
    min_rps: float | None = None
    max_p99_ms: float | None = None

    def describe(self) -> str:
        parts = [f">= {self.min_rps:,.0f} req/s"] if self.min_rps else []
        if self.max_p99_ms is not None:
            parts.append(f"p99 < {self.max_p99_ms:g} ms")
        return " and ".join(parts)

    def passes(self, rps: float, p99_ms: float) -> bool:
        fast_enough = self.min_rps is None or rps >= self.min_rps
        return fast_enough and (self.max_p99_ms is None or p99_ms < self.max_p99_ms)


TARGETS = (
    Target("sqlite", 256, min_rps=8000, max_p99_ms=100),
    Target("postgresql", 256, min_rps=3000, max_p99_ms=200),
    Target("sqlite", 16, max_p99_ms=10),
    Target("postgresql", 16, max_p99_ms=10),
)


@dataclass
class Subject:
    """One server under load: the admittance server on a database, or the bare reference."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    allowed_statuses: frozenset[int]
    rows: RequestRows | None = None
    postmaster_pid: int | None = None

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass
class Measurement:
    subject: str
    connections: int
    repeat: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    timeouts: int
    statuses: dict[str, int]
    server_cpu_pct: float
    pg_cpu_pct: float
    wrk_cpu_pct: float
    other_cpu_pct: float
    steal_pct: float
    server_rss_mb: float
    warmup_statuses: dict[str, int] = field(default_factory=dict)
    probe_201_ms: list[float] = field(default_factory=list)
    tries: int = 1
    noisy: bool = False


# --- options ---------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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


# --- processes -------------------------------------------------------------------------------------


class Processes:
    """Every child process this run started; all are stopped by pid, in reverse order."""

    def __init__(self) -> None:
        self._started: list[subprocess.Popen[bytes]] = []

    def start(self, command: Sequence[str], *, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            # A new session: Ctrl-C reaches only this script, which then stops the children itself.
            process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True
            )
        self._started.append(process)
        return process

    def stop_all(self) -> None:
        while self._started:
            stop_process(self._started.pop())


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def raise_on_sigterm() -> None:
    def handler(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def postgres_support() -> Any:
    """tests/support/postgres.py: the suite's throwaway PostgreSQL server (initdb + pg_ctl)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module("tests.support.postgres")


def log_tail(path: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


# --- HTTP checks -----------------------------------------------------------------------------------


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def call(port: int, method: str, path: str, *, auth: str | None = None, body: Any = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    headers = {"Accept": "application/json"}
    if auth:
        headers["Authorization"] = auth
    payload = None if body is None else json.dumps(body).encode()
    if payload is not None:
        headers["Content-Type"] = "application/json"
    try:
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def poll_once(port: int, device_id: str) -> tuple[int, bytes]:
    return call(port, "POST", POLL_PATH, auth=basic_auth(*BOOTSTRAP), body={"id": device_id})


def wait_until_serving(subject: Subject, path: str, expected: int, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if subject.process.poll() is not None:
            raise BenchFailure(f"{subject.name} exited with {subject.process.returncode}:\n{log_tail(subject.log)}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            status, _ = call(subject.port, "POST" if path == POLL_PATH else "GET", path, body=None)
            if status == expected:
                return
        time.sleep(0.2)
    raise BenchFailure(f"{subject.name} did not answer {path} with {expected} in {timeout:.0f} s")


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise BenchFailure(message)


def check_subject(subject: Subject, pending_id: str, accepted_id: str | None) -> None:
    """The API sees the seeded rows: a pending poll is a JSON 404, an accepted one a 201, then 404."""
    status, body = call(subject.port, "GET", f"/devicecontrol/newDeviceRequests/{pending_id}", auth=basic_auth(*ADMIN))
    expect(status == 200, f"{subject.name}: admin GET of {pending_id} answered {status}: {body[:300]!r}")
    expect(json.loads(body).get("status") == PENDING, f"{subject.name}: {pending_id} is not pending: {body[:300]!r}")
    status, body = poll_once(subject.port, pending_id)
    expect(status == 404, f"{subject.name}: pending poll answered {status}: {body[:300]!r}")
    expect(isinstance(json.loads(body), dict), f"{subject.name}: pending poll body is not a JSON object")
    if accepted_id is None:
        return
    status, body = poll_once(subject.port, accepted_id)
    expect(status == 201, f"{subject.name}: accepted poll answered {status}: {body[:300]!r}")
    expect("password" in json.loads(body), f"{subject.name}: 201 without credentials: {body[:300]!r}")
    status, body = poll_once(subject.port, accepted_id)
    expect(status == 404, f"{subject.name}: second accepted poll answered {status}: {body[:300]!r}")


# --- seeding ---------------------------------------------------------------------------------------


def device_id(index: int) -> str:
    return f"{ID_PREFIX}{index:06d}"


def accepted_indexes(devices: int, percent: float, probes: int) -> list[int]:
    """ACCEPTED requests: every (100 / percent)-th id that wrk polls, then the probe ids after those."""
    step = max(1, round(100 / percent)) if percent > 0 else devices + 1
    return [*range(step // 2, devices, step), *probe_indexes(devices, probes)]


def probe_indexes(devices: int, probes: int) -> list[int]:
    """Ids outside wrk's cycle, polled only by the harness to time the 201 path under load."""
    return list(range(devices, devices + probes))


def request_row(index: int, status: str, now_ms: int) -> tuple[Any, ...]:
    return (device_id(index), TENANT, status, "admin", None, None, "{}", None, None, 0, now_ms, now_ms)


def seed_rows(devices: int, accepted: set[int]) -> Iterator[tuple[Any, ...]]:
    now_ms = int(time.time() * 1000)
    for index in range(devices):
        yield request_row(index, ACCEPTED if index in accepted else PENDING, now_ms)


class RequestRows:
    """Writes registration_requests rows straight into the server's database."""

    placeholder = "?"

    def insert_sql(self, upsert: bool) -> str:
        values = ", ".join([self.placeholder] * len(COLUMNS))
        sql = f"INSERT INTO registration_requests ({', '.join(COLUMNS)}) VALUES ({values})"
        return sql + UPSERT_TAIL if upsert else sql

    def fill(self, rows: Iterable[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def upsert(self, rows: Iterable[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def count_by_status(self) -> dict[str, int]:
        raise NotImplementedError

    def reset_accepted(self, indexes: list[int]) -> None:
        """Make the ACCEPTED requests ACCEPTED again (a 201 deletes its request)."""
        if indexes:
            now_ms = int(time.time() * 1000)
            self.upsert([request_row(index, ACCEPTED, now_ms) for index in indexes])


class SqliteRows(RequestRows):
    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def fill(self, rows: Iterable[tuple[Any, ...]]) -> None:
        self.upsert(rows)
        with contextlib.closing(self._connect()) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def upsert(self, rows: Iterable[tuple[Any, ...]]) -> None:
        with contextlib.closing(self._connect()) as db, db:
            db.executemany(self.insert_sql(upsert=True), rows)

    def count_by_status(self) -> dict[str, int]:
        with contextlib.closing(self._connect()) as db:
            found = db.execute("SELECT status, count(*) FROM registration_requests GROUP BY status").fetchall()
        return {status: int(count) for status, count in found}


class PostgresRows(RequestRows):
    placeholder = "%s"

    def __init__(self, url: str) -> None:
        self.url = url

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.url, autocommit=False)

    def fill(self, rows: Iterable[tuple[Any, ...]]) -> None:
        with self._connect() as db:
            with (
                db.cursor() as cursor,
                cursor.copy(f"COPY registration_requests ({', '.join(COLUMNS)}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            db.commit()
            db.autocommit = True
            db.execute("ANALYZE registration_requests")

    def upsert(self, rows: Iterable[tuple[Any, ...]]) -> None:
        with self._connect() as db, db.cursor() as cursor:
            cursor.executemany(self.insert_sql(upsert=True), rows)

    def count_by_status(self) -> dict[str, int]:
        with self._connect() as db:
            found = db.execute("SELECT status, count(*) FROM registration_requests GROUP BY status").fetchall()
        return {status: int(count) for status, count in found}


def seed(subject: Subject, args: argparse.Namespace, accepted: list[int]) -> float:
    assert subject.rows is not None
    total = args.devices + args.probes
    started = time.perf_counter()
    subject.rows.fill(seed_rows(total, set(accepted)))
    seconds = time.perf_counter() - started
    counts = subject.rows.count_by_status()
    wanted = {PENDING: total - len(accepted), ACCEPTED: len(accepted)}
    expect(
        {k: v for k, v in counts.items() if v} == {k: v for k, v in wanted.items() if v},
        f"seeded {counts}, wanted {wanted}",
    )
    return seconds


# --- starting the subjects -------------------------------------------------------------------------


def server_env(data_dir: Path, database_url: str, extra: Sequence[str] = ()) -> dict[str, str]:
    import secrets

    env = {key: value for key, value in os.environ.items() if not key.startswith("ADMITTANCE_")}
    env.update(
        ADMITTANCE_DATA_DIR=str(data_dir),
        ADMITTANCE_DATABASE_URL=database_url,
        ADMITTANCE_SECRET_KEY=secrets.token_urlsafe(36),  # 48 characters
        ADMITTANCE_ADMIN_PASSWORD=ADMIN[1],
        ADMITTANCE_BOOTSTRAP_PASSWORD=BOOTSTRAP[1],
    )
    env.update(item.split("=", 1) for item in extra)
    return env


def start_admittance(
    processes: Processes, args: argparse.Namespace, name: str, work: Path, database_url: str
) -> Subject:
    data_dir = work / name
    data_dir.mkdir()
    port = free_port()
    command = ["taskset", "-c", str(args.server_cpu), args.admittance, "serve", "--port", str(port), "--workers", "1"]
    log = work / f"{name}-server.log"
    process = processes.start(command, log=log, env=server_env(data_dir, database_url, args.server_env))
    subject = Subject(name, port, process, log, frozenset({201, 404}))
    wait_until_serving(subject, "/health", 200)
    return subject


def start_postgres(stack: contextlib.ExitStack, args: argparse.Namespace) -> tuple[str, int]:
    """A throwaway PostgreSQL on the server core; returns (database URL, postmaster pid)."""
    import psycopg

    server = postgres_support().PostgresServer()
    stack.callback(server.stop)
    server.start()
    assert server.pid is not None
    pin_process_tree(server.pid, args.server_cpu)
    with psycopg.connect(server.admin_url, autocommit=True) as admin:
        admin.execute("CREATE DATABASE admittance_bench")
    return server.url("admittance_bench"), server.pid


def start_reference(processes: Processes, args: argparse.Namespace, work: Path) -> Subject:
    port = free_port()
    command = ["taskset", "-c", str(args.server_cpu), sys.executable, str(RESPONDER), "--port", str(port)]
    log = work / "reference.log"
    subject = Subject(REFERENCE, port, processes.start(command, log=log), log, frozenset({404}))
    wait_until_serving(subject, POLL_PATH, 404)
    return subject


def start_subjects(
    stack: contextlib.ExitStack, processes: Processes, args: argparse.Namespace, work: Path, accepted: list[int]
) -> list[Subject]:
    subjects = [start_reference(processes, args, work)]
    for database in args.databases:
        postmaster = None
        if database == "postgresql":
            url, postmaster = start_postgres(stack, args)
        else:
            url = ""
        subject = start_admittance(processes, args, database, work, url)
        subject.postmaster_pid = postmaster
        subject.rows = PostgresRows(url) if postmaster else SqliteRows(work / database / "admittance.sqlite3")
        seconds = seed(subject, args, accepted)
        print(
            f"{database}: server pid {subject.pid} on port {subject.port}, {args.devices:,} requests in {seconds:.2f} s"
        )
        check_subject(subject, device_id(1), device_id(accepted[-1]) if accepted else None)
        subject.rows.reset_accepted(accepted)
        subjects.append(subject)
    return subjects


# --- CPU pinning and accounting --------------------------------------------------------------------


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def pin_process_tree(pid: int, cpu: int) -> None:
    """`taskset -a -p -c cpu` for the process, every thread, and every direct child (PG backends)."""
    for process in (pid, *children_of(pid)):
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{process}/task").iterdir():
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(int(task.name), {cpu})


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process (all its threads), in clock ticks; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def machine_ticks() -> tuple[int, int]:
    """(busy, steal) clock ticks of the whole machine; busy includes the time the hypervisor stole."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    return user + nice + system + irq + softirq + steal, steal


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class CpuSample:
    wall: float
    server: int
    postgres: int
    machine: int
    steal: int
    children: float

    @classmethod
    def take(cls, subject: Subject) -> CpuSample:
        pg = 0
        if subject.postmaster_pid:
            pg = sum(cpu_ticks(pid) for pid in (subject.postmaster_pid, *children_of(subject.postmaster_pid)))
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        busy, steal = machine_ticks()
        return cls(time.monotonic(), cpu_ticks(subject.pid), pg, busy, steal, usage.ru_utime + usage.ru_stime)


# --- wrk -------------------------------------------------------------------------------------------


def wrk_command(args: argparse.Namespace, port: int, connections: int, seconds: int) -> list[str]:
    return [
        "taskset", "-c", str(args.client_cpu),
        "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", f"--timeout={args.wrk_timeout}s",
        "-s", str(LUA_SCRIPT), f"http://{HOST}:{port}",
        "--", basic_auth(*BOOTSTRAP), ID_PREFIX, str(args.devices), "0", "1",
    ]  # fmt: skip


@contextlib.contextmanager
def wrk_running(command: list[str], seconds: int) -> Iterator[list[dict[str, Any]]]:
    """Runs wrk while the block runs; afterwards the list holds its POLL_RESULT. wrk never outlives it."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    result: list[dict[str, Any]] = []
    try:
        yield result
        out, err = process.communicate(timeout=seconds + 60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    for line in out.splitlines():
        if line.startswith("POLL_RESULT "):
            result.append(json.loads(line.removeprefix("POLL_RESULT ")))
            return
    raise BenchFailure(f"wrk failed ({process.returncode}):\n{out}\n{err}")


def run_wrk(args: argparse.Namespace, port: int, connections: int, seconds: int) -> dict[str, Any]:
    with wrk_running(wrk_command(args, port, connections, seconds), seconds) as result:
        pass
    return result[0]


def check_wrk(subject: Subject, result: dict[str, Any], phase: str) -> None:
    """Fail loudly on any socket error or any status other than those the subject may answer. A timeout
    is a response slower than --wrk-timeout: wrk still reads it (and checks its status), so it is
    reported, not fatal."""
    errors = {kind: count for kind, count in result["errors"].items() if count and kind != "timeout"}
    expect(not errors, f"{subject.name} {phase}: wrk socket errors {errors}")
    statuses = {int(status): count for status, count in result["statuses"].items()}
    unexpected = {status: n for status, n in statuses.items() if status not in subject.allowed_statuses}
    expect(not unexpected, f"{subject.name} {phase}: unexpected HTTP statuses {unexpected} (all: {statuses})")
    expect(sum(statuses.values()) > 0, f"{subject.name} {phase}: no responses at all")


def probe(subject: Subject, args: argparse.Namespace) -> list[float]:
    """Times ACCEPTED polls (201) while wrk keeps the load on: one poll on a new connection at each of
    --probes evenly spaced moments of the window, each in its own thread so that a slow one does not
    push the next one out of the window."""
    if subject.rows is None or not args.probes:
        return []
    timings: dict[int, float] = {}
    failures: list[str] = []

    def one(index: int, delay: float) -> None:
        time.sleep(delay)
        started = time.perf_counter()
        try:
            status, body = poll_once(subject.port, device_id(index))
        except (OSError, http.client.HTTPException) as exc:
            failures.append(f"{device_id(index)}: {exc}")
            return
        timings[index] = (time.perf_counter() - started) * 1000
        if status != 201:
            failures.append(f"{device_id(index)} answered {status}: {body[:200]!r}")

    indexes = probe_indexes(args.devices, args.probes)
    spacing = args.duration / (len(indexes) + 1)
    threads = [
        threading.Thread(target=one, args=(index, spacing * (n + 1)), daemon=True) for n, index in enumerate(indexes)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expect(not failures, f"{subject.name}: probe polls of ACCEPTED requests failed: {failures}")
    return [timings[index] for index in indexes]


def settle(subject: Subject, timeout: float = 60.0) -> None:
    """Waits until the server (and PostgreSQL) is idle: requests of the previous run that were still
    queued when wrk stopped must not change the rows the next run starts from."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = CpuSample.take(subject)
        time.sleep(0.25)
        after = CpuSample.take(subject)
        busy = (after.server - before.server + after.postgres - before.postgres) / CLOCK_TICKS
        if busy / (after.wall - before.wall) < 0.05:
            return
    raise BenchFailure(f"{subject.name} stayed busy for {timeout:.0f} s after wrk stopped")


def measure(
    subject: Subject, args: argparse.Namespace, connections: int, repeat: int, accepted: list[int]
) -> Measurement:
    warmup: dict[str, Any] = {"statuses": {}}
    if args.warmup:
        prepare(subject, args, accepted)
        warmup = run_wrk(args, subject.port, connections, args.warmup)
        check_wrk(subject, warmup, "warm-up")
        settle(subject)
    prepare(subject, args, accepted)
    before = CpuSample.take(subject)
    with wrk_running(wrk_command(args, subject.port, connections, args.duration), args.duration) as result:
        probes = probe(subject, args)
    after = CpuSample.take(subject)
    settle(subject)
    check_wrk(subject, result[0], "measurement")
    found = to_measurement(subject, connections, repeat, result[0], before, after)
    found.warmup_statuses = warmup["statuses"]
    found.probe_201_ms = probes
    return found


def measure_quietly(
    subject: Subject, args: argparse.Namespace, connections: int, repeat: int, accepted: list[int]
) -> Measurement:
    """Measures again (up to --max-tries) while other processes ate CPU; keeps the quietest try."""
    tries: list[Measurement] = []
    while len(tries) < args.max_tries:
        wait_until_quiet(args)
        tries.append(measure(subject, args, connections, repeat, accepted))
        if tries[-1].other_cpu_pct <= args.max_other_cpu:
            break
        print(f"    other processes used {tries[-1].other_cpu_pct:.0f} % of a core: measuring again", flush=True)
    best = min(tries, key=lambda m: m.other_cpu_pct)
    best.tries = len(tries)
    best.noisy = best.other_cpu_pct > args.max_other_cpu
    return best


def wait_until_quiet(args: argparse.Namespace) -> None:
    """Everything of ours is idle here, so what the machine spends is other processes' work."""
    deadline = time.monotonic() + args.quiet_wait
    while True:
        busy, _ = machine_ticks()
        time.sleep(1.0)
        used = (machine_ticks()[0] - busy) / CLOCK_TICKS * 100
        if used <= args.max_other_cpu or time.monotonic() > deadline:
            return
        print(f"    waiting: other processes use {used:.0f} % of a core", flush=True)


def prepare(subject: Subject, args: argparse.Namespace, accepted: list[int]) -> None:
    """Before each wrk run: ACCEPTED requests back, PostgreSQL (new backends too) on the server core."""
    if subject.rows is not None:
        subject.rows.reset_accepted(accepted)
    if subject.postmaster_pid:
        pin_process_tree(subject.postmaster_pid, args.server_cpu)


def to_measurement(
    subject: Subject,
    connections: int,
    repeat: int,
    result: dict[str, Any],
    before: CpuSample,
    after: CpuSample,
) -> Measurement:
    wall = after.wall - before.wall
    server = (after.server - before.server) / CLOCK_TICKS / wall * 100
    pg = (after.postgres - before.postgres) / CLOCK_TICKS / wall * 100
    wrk = (after.children - before.children) / wall * 100
    machine = (after.machine - before.machine) / CLOCK_TICKS / wall * 100
    steal = (after.steal - before.steal) / CLOCK_TICKS / wall * 100
    latency = result["latency_us"]
    return Measurement(
        subject=subject.name,
        connections=connections,
        repeat=repeat,
        rps=result["requests"] / (result["duration_us"] / 1e6),
        p50_ms=latency["p50"] / 1000,
        p90_ms=latency["p90"] / 1000,
        p99_ms=latency["p99"] / 1000,
        max_ms=latency["max"] / 1000,
        requests=result["requests"],
        timeouts=result["errors"]["timeout"],
        statuses=result["statuses"],
        server_cpu_pct=server,
        pg_cpu_pct=pg,
        wrk_cpu_pct=wrk,
        other_cpu_pct=machine - server - pg - wrk,
        steal_pct=steal,
        server_rss_mb=rss_mb(subject.pid),
    )


# --- the run ---------------------------------------------------------------------------------------


def run_matrix(subjects: list[Subject], args: argparse.Namespace, accepted: list[int]) -> list[Measurement]:
    """Repeats outermost and subjects innermost, so drift of the machine hits every cell alike."""
    measurements = []
    for repeat in range(1, args.repeats + 1):
        for connections in args.connections:
            for subject in subjects:
                found = measure_quietly(subject, args, connections, repeat, accepted)
                print(f"  run {repeat}/{args.repeats} {progress_line(found)}", flush=True)
                measurements.append(found)
    return measurements


def progress_line(m: Measurement) -> str:
    return (
        f"{m.subject:>16} c={m.connections:<4} {m.rps:>9,.0f} req/s  p50 {m.p50_ms:6.2f} ms  p99 {m.p99_ms:7.2f} ms"
        f"  server CPU {m.server_cpu_pct:3.0f} %  PG CPU {m.pg_cpu_pct:3.0f} %  other {m.other_cpu_pct:3.0f} %"
        f"  statuses {m.statuses}  timeouts {m.timeouts}  201 probes ms {[round(t) for t in m.probe_201_ms]}"
    )


def summarize(measurements: list[Measurement], args: argparse.Namespace) -> list[dict[str, Any]]:
    reference = {(m.connections, m.repeat): m.rps for m in measurements if m.subject == REFERENCE}
    rows = []
    for name in [REFERENCE, *args.databases]:
        for connections in args.connections:
            cell = [m for m in measurements if m.subject == name and m.connections == connections]
            rows.append(summary_row(name, connections, cell, reference))
    return rows


def summary_row(
    name: str, connections: int, cell: list[Measurement], reference: dict[tuple[int, int], float]
) -> dict[str, Any]:
    def median(attribute: str) -> float:
        return float(statistics.median(getattr(m, attribute) for m in cell))

    statuses: dict[str, int] = {}
    for m in cell:
        for status, count in m.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
    row: dict[str, Any] = {
        "subject": name,
        "connections": connections,
        "runs": len(cell),
        "rps": median("rps"),
        "rps_min": min(m.rps for m in cell),
        "rps_max": max(m.rps for m in cell),
        "p50_ms": median("p50_ms"),
        "p99_ms": median("p99_ms"),
        "reference_rps": statistics.median(reference[(connections, m.repeat)] for m in cell),
        "pct_of_reference": statistics.median(m.rps / reference[(connections, m.repeat)] * 100 for m in cell),
        "server_cpu_pct": median("server_cpu_pct"),
        "pg_cpu_pct": median("pg_cpu_pct"),
        "wrk_cpu_pct": median("wrk_cpu_pct"),
        "other_cpu_pct": median("other_cpu_pct"),
        "steal_pct": median("steal_pct"),
        "server_rss_mb": max(m.server_rss_mb for m in cell),
        "statuses": statuses,
        "timeouts": sum(m.timeouts for m in cell),
        "probe_201_ms": sorted(t for m in cell for t in m.probe_201_ms),
        "noisy_runs": sum(m.noisy for m in cell),
    }
    target = next((t for t in TARGETS if t.database == name and t.connections == connections), None)
    if target is not None:
        row["target"] = target.describe()
        row["pass"] = target.passes(row["rps"], row["p99_ms"])
    return row


TABLE_HEADER = (
    "subject", "conns", "req/s median (min-max)", "p50 ms", "p99 ms", "% of reference", "server CPU %", "PG CPU %",
    "wrk CPU %", "other CPU %", "RSS MB", "statuses (all runs)", "201 probe ms median (max)", "target", "result",
)  # fmt: skip


def table_cells(r: dict[str, Any]) -> list[str]:
    verdict = "" if "pass" not in r else ("PASS" if r["pass"] else "FAIL")
    if r["noisy_runs"]:
        verdict += f" ({r['noisy_runs']} noisy run(s))"
    probes = r["probe_201_ms"]
    return [
        r["subject"],
        str(r["connections"]),
        f"{r['rps']:,.0f} ({r['rps_min']:,.0f}-{r['rps_max']:,.0f})",
        f"{r['p50_ms']:.2f}",
        f"{r['p99_ms']:.2f}",
        f"{r['pct_of_reference']:.1f}",
        *(f"{r[key]:.0f}" for key in ("server_cpu_pct", "pg_cpu_pct", "wrk_cpu_pct", "other_cpu_pct", "server_rss_mb")),
        ", ".join([*(f"{k}: {v:,}" for k, v in sorted(r["statuses"].items())), f"timeouts: {r['timeouts']:,}"]),
        f"{statistics.median(probes):.0f} ({max(probes):.0f})" if probes else "",
        r.get("target", ""),
        verdict,
    ]


def print_table(rows: list[dict[str, Any]]) -> None:
    print()
    print("| " + " | ".join(TABLE_HEADER) + " |")
    print("|---|" + "---:|" * 10 + "---|---:|---|---|")
    for row in rows:
        print("| " + " | ".join(table_cells(row)) + " |")
    print()


def machine_info() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        "unknown",
    )
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "wrk": (wrk.stdout or wrk.stderr).splitlines()[0] if (wrk.stdout or wrk.stderr) else "unknown",
        "git_commit": subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False, cwd=ROOT
        ).stdout.strip(),
    }


def write_results(path: Path, args: argparse.Namespace, started: dt.datetime, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    document = {"started": started.isoformat(timespec="seconds"), "options": options, "machine": machine_info(), **data}
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"results written to {path}")


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
    write_results(output, args, started, {"summary": rows, "runs": [asdict(m) for m in measurements]})
    verdicts = [r["pass"] for r in rows if "pass" in r]
    print("targets:", "all PASS" if all(verdicts) else f"{verdicts.count(False)} FAIL")
    return 0 if all(verdicts) else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    raise_on_sigterm()
    try:
        check_machine(args)
        return run(args)
    except BenchFailure as exc:
        print(f"BENCHMARK FAILED: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; every started process has been stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
