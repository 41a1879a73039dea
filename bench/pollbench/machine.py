"""What the machine spends: CPU samples from /proc (server, PostgreSQL, wrk, everything else),
waiting for the server or the whole machine to be quiet, noise detection, and the machine's identity.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .model import CLOCK_TICKS, ROOT, BenchFailure, Measurement, Subject
from .processes import children_of


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


def is_noisy(measurement: Measurement, args: argparse.Namespace) -> bool:
    """Other processes used more than --max-other-cpu % of a core during the measured window."""
    return bool(measurement.other_cpu_pct > args.max_other_cpu)


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
