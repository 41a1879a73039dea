"""Starting, pinning and stopping what is measured: the server, the uvloop reference, PostgreSQL.

Every child is recorded and stopped by its pid on every exit path (see Processes and cli.run).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .api import check_subject, wait_until_serving
from .model import ADMIN, BOOTSTRAP, HOST, POLL_PATH, REFERENCE, RESPONDER, ROOT, BenchFailure, Subject, device_id
from .seeding import PostgresRows, SqliteRows, seed


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


def guarded_main(check: Callable[[], None], run: Callable[[], int]) -> int:
    """A benchmark's entry point: SIGTERM stops it like Ctrl-C, and the exit status says how it
    ended (0 all targets passed, 1 a target failed, 2 the benchmark failed, 130 interrupted)."""
    raise_on_sigterm()
    try:
        check()
        return run()
    except BenchFailure as exc:
        print(f"BENCHMARK FAILED: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; every started process has been stopped", file=sys.stderr)
        return 130


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def postgres_support() -> Any:
    """tests/support/postgres.py: the suite's throwaway PostgreSQL server (initdb + pg_ctl)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module("tests.support.postgres")


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


def server_env(data_dir: Path, database_url: str, extra: Sequence[str] = ()) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ADMITTANCE_")}
    env.update(
        ADMITTANCE_DATA_DIR=str(data_dir),
        ADMITTANCE_DATABASE_URL=database_url,
        ADMITTANCE_SECRET_KEY=secrets.token_urlsafe(36),  # 48 characters
        ADMITTANCE_ADMIN_PASSWORD=ADMIN[1],
        ADMITTANCE_BOOTSTRAP_PASSWORD=BOOTSTRAP[1],
    )
    for item in extra:
        name, _, value = item.partition("=")
        env[name] = value
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
    stack.callback(server.stop)  # pg_ctl stop, then SIGKILL to the postmaster's pid
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
