"""One measured import: a fresh server (and, for PostgreSQL, a fresh throwaway PostgreSQL) for one
database and one door, the same-session floor before and after it, pollers during it, then the
checks that every device can authenticate.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pollbench.machine import CpuSample, wait_until_quiet
from pollbench.model import CLOCK_TICKS, BenchFailure, Subject
from pollbench.processes import Processes, children_of, pin_process_tree, start_admittance, start_postgres, stop_process

from . import reference
from .importing import ImportResult, run_import
from .manifest import Device
from .polling import Pollers, as_dict, create_waiting_requests
from .targets import judge
from .verify import verify


def status_kb(pid: int, field: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def peak_memory_mb(pid: int) -> float:
    """VmHWM of the server and every child it may have forked (uvicorn with --workers > 1)."""
    return sum(status_kb(p, "VmHWM") for p in (pid, *children_of(pid))) / 1024


def rss_mb(pid: int) -> float:
    return sum(status_kb(p, "VmRSS") for p in (pid, *children_of(pid))) / 1024


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def harness_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_use(subject: Subject, before: CpuSample, after: CpuSample, harness: float) -> dict[str, float]:
    """% of one core over the import window: server, PostgreSQL, this harness, everything else."""
    wall = after.wall - before.wall
    server = (after.server - before.server) / CLOCK_TICKS
    postgres = (after.postgres - before.postgres) / CLOCK_TICKS
    machine = (after.machine - before.machine) / CLOCK_TICKS
    steal = (after.steal - before.steal) / CLOCK_TICKS
    other = max(0.0, machine - server - postgres - harness)
    return {
        "server_cpu_pct": 100 * server / wall,
        "pg_cpu_pct": 100 * postgres / wall,
        "harness_cpu_pct": 100 * harness / wall,
        "other_cpu_pct": 100 * other / wall,
        "steal_pct": 100 * steal / wall,
    }


def floor(args: argparse.Namespace, database: str, target: str | Path, data: bytes, when: str) -> list[float]:
    seconds = reference.measure(database, target, data, args.reference_repeats, args.client_cpu)
    print(f"    floor {when}: " + ", ".join(f"{s:.3f}" for s in seconds) + " s", flush=True)
    return seconds


def run_cell(
    args: argparse.Namespace,
    processes: Processes,
    work: Path,
    database: str,
    path: str,
    devices: list[Device],
    manifest: bytes,
    reference_data: bytes,
) -> dict[str, Any]:
    name = f"{database}-{path}"
    print(f"== {name}: {len(devices):,} rows, load average {loadavg()}", flush=True)
    with contextlib.ExitStack() as stack:
        url, postmaster = "", None
        if database == "postgresql":
            url, postmaster = start_postgres(stack, args)
        subject = start_admittance(processes, args, name, work, url)
        stack.callback(stop_process, subject.process)  # before PostgreSQL stops (last in, first out)
        subject.postmaster_pid = postmaster
        sqlite_path = None if postmaster else work / name / "admittance.sqlite3"
        floor_target: str | Path = reference.reference_database(url) if postmaster else work / f"{name}-floor.db"
        print(f"    server pid {subject.pid} on port {subject.port}", flush=True)

        floor_before = floor(args, database, floor_target, reference_data, "before")
        waiting = create_waiting_requests(subject.port, args.pollers)
        wait_until_quiet(args)
        if postmaster:
            pin_process_tree(postmaster, args.server_cpu)
        load_before = loadavg()
        memory_before = peak_memory_mb(subject.pid)
        with Pollers(subject.port, waiting, args.poll_interval, args.poll_timeout) as pollers:
            time.sleep(args.poll_lead)
            cpu_before, harness_before = CpuSample.take(subject), harness_seconds()
            begin = time.monotonic()
            try:
                result = run_import(path, subject.port, manifest, timeout=args.import_timeout, job_poll=args.job_poll)
            except BenchFailure as exc:
                raise BenchFailure(f"{name}: {exc}") from exc
            end = time.monotonic()
            cpu_after, harness_after = CpuSample.take(subject), harness_seconds()
            peak_at_answer = peak_memory_mb(subject.pid)
            time.sleep(args.poll_lead)
        load_after = loadavg()
        cpu = cpu_use(subject, cpu_before, cpu_after, harness_after - harness_before)
        during = pollers.summary(begin, end)
        idle = pollers.summary(begin - args.poll_lead, begin)
        counts_ok = counts_match(name, result, len(devices))
        print(
            f"    imported in {result.seconds:.2f} s ({len(devices) / result.seconds:,.0f} rows/s);"
            f" peak memory {peak_at_answer:.0f} MB; polls {during.polls} ({during.errors} errors),"
            f" p99 {during.p99_ms or 0:.1f} ms; server CPU {cpu['server_cpu_pct']:.0f} %,"
            f" PG {cpu['pg_cpu_pct']:.0f} %, other {cpu['other_cpu_pct']:.0f} %",
            flush=True,
        )
        checked = verify(subject.port, sqlite_path, url, devices, args.auth_sample, args.seed)
        print(
            f"    device users {checked.device_users:,}, pending {checked.pending_passwords},"
            f" sample {checked.sample_ok}/{checked.sample} authenticated",
            flush=True,
        )
        floor_after = floor(args, database, floor_target, reference_data, "after")
        peak = max(peak_at_answer, peak_memory_mb(subject.pid))
        rss_after = rss_mb(subject.pid)
    floors = floor_before + floor_after
    factor = reference.factor(database, args.floor_rows, floors)
    verdict = judge(
        database,
        len(devices),
        result.seconds,
        factor,
        counts_ok and checked.passed(len(devices)),
        peak,
        during.answering,
    )
    return {
        "name": name,
        "database": database,
        "path": path,
        "rows": len(devices),
        "manifest_bytes": len(manifest),
        "import_seconds": result.seconds,
        "rows_per_second": len(devices) / result.seconds,
        "import": asdict(result),
        "floor_seconds_before": floor_before,
        "floor_seconds_after": floor_after,
        "floor_rows": args.floor_rows,
        "floor_baseline_seconds": reference.baseline_seconds(database, args.floor_rows),
        "floor_baseline_run": reference.BASELINE_RUN[database],
        "machine_factor": factor,
        "peak_memory_mb": peak,
        "peak_memory_mb_at_answer": peak_at_answer,
        "peak_memory_mb_before_import": memory_before,
        "rss_mb_after": rss_after,
        "polls_during_import": as_dict(during),
        "polls_before_import": as_dict(idle),
        "verification": asdict(checked),
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        **cpu,
        **verdict,
    }


def counts_match(name: str, result: ImportResult, rows: int) -> bool:
    """Every row created, none failed; anything else is a failed target (said here, judged later)."""
    if result.total == rows and result.created == rows and result.failed == 0:
        return True
    print(
        f"    {name}: the import reported {result.total} rows, {result.created} created, {result.failed} failed"
        f" (wanted {rows} created): {str(result.answer)[:800]}",
        flush=True,
    )
    return False
