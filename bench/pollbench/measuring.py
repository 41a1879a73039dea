"""One measurement of one subject at one connection count (warm-up, wrk window, 201 probes, CPU),
retried while the machine is noisy, and the interleaved matrix of all of them.
"""

from __future__ import annotations

import argparse
import http.client
import threading
import time
from typing import Any

from .api import poll_once
from .machine import CpuSample, is_noisy, rss_mb, settle, wait_until_quiet
from .model import CLOCK_TICKS, Measurement, Subject, device_id, expect
from .processes import pin_process_tree
from .seeding import probe_indexes
from .wrk import check_wrk, run_wrk, wrk_command, wrk_running


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


def prepare(subject: Subject, args: argparse.Namespace, accepted: list[int]) -> None:
    """Before each wrk run: ACCEPTED requests back, PostgreSQL (new backends too) on the server core."""
    if subject.rows is not None:
        subject.rows.reset_accepted(accepted)
    if subject.postmaster_pid:
        pin_process_tree(subject.postmaster_pid, args.server_cpu)


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
        if not is_noisy(tries[-1], args):
            break
        print(f"    other processes used {tries[-1].other_cpu_pct:.0f} % of a core: measuring again", flush=True)
    best = min(tries, key=lambda m: m.other_cpu_pct)
    best.tries = len(tries)
    best.noisy = is_noisy(best, args)
    return best


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
