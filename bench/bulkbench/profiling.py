"""`bench/bulk.py --profile-engine`: where an import's time goes, without HTTP.

For each --databases, on a fresh database (a throwaway PostgreSQL for postgresql) migrated and with
the tenant created by the admittance CLI, this process runs the import engine itself (the same
BulkImporter the endpoint and the job use) on the generated manifest, pinned to the server core,
and prints:

* stage times: prepare (decode, parse and check every row: CPU only) and run (the chunks);
* every SQL statement the engine sent, grouped by its text (digits folded), with count and wall
  time (for PostgreSQL the wall time includes the round trip and the backend's work);
* CPU of this process and of the PostgreSQL backends over the run;
* cProfile's top functions by own time and by cumulative time (the whole run, profiler overhead
  included: read the shares, not the seconds), and the raw profile in the work folder.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import functools
import io
import os
import pstats
import re
import resource
import shutil
import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pollbench.machine import cpu_ticks
from pollbench.model import CLOCK_TICKS, TENANT
from pollbench.processes import children_of, server_env, start_postgres

_DIGITS = re.compile(r"\d+")


class StatementClock:
    """Wall time and count per SQL text, by wrapping the storage executors' four methods."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.rows: dict[str, int] = defaultdict(int)
        self._undo: list[Callable[[], None]] = []

    def install(self, classes: list[type]) -> None:
        for cls in classes:
            for name in ("fetch_one", "fetch_all", "execute", "execute_many"):
                original = cls.__dict__.get(name)
                if original is not None:
                    setattr(cls, name, self._timed(original, name))
                    self._undo.append(functools.partial(setattr, cls, name, original))

    def uninstall(self) -> None:
        while self._undo:
            self._undo.pop()()

    def _timed(self, method: Any, name: str) -> Any:
        clock = self

        @functools.wraps(method)
        async def timed(executor: Any, sql: str, params: Any = None) -> Any:
            if name == "execute_many":
                params = list(params)
            key = _DIGITS.sub("N", " ".join(sql.split()))[:110]
            started = time.perf_counter()
            try:
                return await method(executor, sql, params)
            finally:
                clock.seconds[key] += time.perf_counter() - started
                clock.calls[key] += 1
                clock.rows[key] += len(params) if name == "execute_many" else 1

        return timed

    def table(self, top: int = 15) -> str:
        total = sum(self.seconds.values())
        lines = [f"SQL: {sum(self.calls.values()):,} calls, {total:.2f} s wall in the executors"]
        lines.append("   seconds  share    calls  statements  statement")
        for key in sorted(self.seconds, key=self.seconds.__getitem__, reverse=True)[:top]:
            seconds = self.seconds[key]
            lines.append(
                f"  {seconds:8.2f} {100 * seconds / total:5.1f}% {self.calls[key]:8,} {self.rows[key]:11,}  {key}"
            )
        return "\n".join(lines)


def _executor_classes() -> list[type]:
    from admittance.storage import postgres, sqlite

    return [postgres._Executor, sqlite._ReadExecutor, sqlite._WriteExecutor]


async def _import(settings: Any, manifest: bytes, clock: StatementClock, postmaster: int | None) -> dict[str, Any]:
    from admittance.bootstrap import build_services
    from admittance.cli.devices import operator

    services = await build_services(settings)
    try:
        principal = operator(TENANT)
        started = time.perf_counter()
        prepared = services.bulk.prepare(principal, manifest)
        prepared_at = time.perf_counter()
        pg_before = _pg_ticks(postmaster)
        own_before = _own_seconds()
        clock.install(_executor_classes())
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            report = await services.bulk.run(principal, prepared, source="profile")
        finally:
            profiler.disable()
            clock.uninstall()
        finished = time.perf_counter()
        return {
            "prepare_s": prepared_at - started,
            "run_s": finished - prepared_at,
            "own_cpu_s": _own_seconds() - own_before,
            "pg_cpu_s": (_pg_ticks(postmaster) - pg_before) / CLOCK_TICKS,
            "created": report.created,
            "failed": report.failed,
            "profiler": profiler,
        }
    finally:
        await services.close()


def _own_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _pg_ticks(postmaster: int | None) -> int:
    if not postmaster:
        return 0
    return sum(cpu_ticks(pid) for pid in (postmaster, *children_of(postmaster)))


def _top(profiler: cProfile.Profile, sort: str, count: int) -> str:
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(sort).print_stats(count)
    text = out.getvalue()
    return text[text.find("   ncalls") :]


def profile_database(args: argparse.Namespace, database: str, manifest: bytes, work: Path) -> None:
    from admittance.settings import load_settings

    with contextlib.ExitStack() as stack:
        url, postmaster = "", None
        if database == "postgresql":
            url, postmaster = start_postgres(stack, args)
        data_dir = work / f"profile-{database}"
        data_dir.mkdir(parents=True)
        env = server_env(data_dir, url, args.server_env)
        for command in (["db", "upgrade"], ["tenants", "create", TENANT]):
            subprocess.run([args.admittance, *command], env=env, check=True, capture_output=True)
        clock = StatementClock()
        with _pinned(args.server_cpu):
            result = asyncio.run(_import(load_settings(env), manifest, clock, postmaster))
    profiler: cProfile.Profile = result.pop("profiler")
    dump = work.parent / f"bulk-profile-{database}.prof"
    profiler.dump_stats(dump)
    rows = result["created"] + result["failed"]
    print(f"\n== {database}: {rows:,} rows ({result['created']:,} created, {result['failed']} failed)")
    print(
        f"prepare {result['prepare_s']:.2f} s; run {result['run_s']:.2f} s under cProfile"
        f" ({rows / result['run_s']:,.0f} rows/s); CPU in this process {result['own_cpu_s']:.1f} s,"
        f" PostgreSQL backends {result['pg_cpu_s']:.1f} s"
    )
    print(clock.table())
    print("\ncProfile, by own time:\n" + _top(profiler, "tottime", 25))
    print("cProfile, by cumulative time:\n" + _top(profiler, "cumulative", 30))
    print(f"raw profile: {dump} (python -m pstats)")


@contextlib.contextmanager
def _pinned(cpu: int) -> Iterator[None]:
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def profile_engine(args: argparse.Namespace, manifest: bytes) -> None:
    work = Path(tempfile.mkdtemp(prefix="admittance-bulk-profile-"))
    try:
        for database in args.databases:
            profile_database(args, database, manifest, work / "data")
    finally:
        shutil.rmtree(work / "data", ignore_errors=True)
