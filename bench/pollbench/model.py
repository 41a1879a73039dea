"""The benchmark's vocabulary: paths, credentials and ids, the subjects under load, one measurement,
and the error that stops a run.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .seeding import RequestRows

ROOT = Path(__file__).resolve().parent.parent.parent
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


class BenchFailure(RuntimeError):
    """The benchmark could not produce a valid figure: a setup step or a sanity check failed."""


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise BenchFailure(message)


def device_id(index: int) -> str:
    return f"{ID_PREFIX}{index:06d}"


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
