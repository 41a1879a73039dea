"""The table, the verdict lines and the JSON file of a run."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import sqlite3
import statistics
import subprocess
from pathlib import Path
from typing import Any

from pollbench.machine import machine_info
from pollbench.model import ROOT
from pollbench.processes import postgres_support

NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "c8y": "bulkNewDeviceRequests", "job": "device-imports job"}
COLUMNS = (
    ("database", "---"),
    ("door", "---"),
    ("rows", "--:"),
    ("import s", "--:"),
    ("rows/s", "--:"),
    ("floor s (baseline)", "--:"),
    ("factor", "--:"),
    ("limit s / scaled", "---"),
    ("peak MB", "--:"),
    ("polls (errors)", "--:"),
    ("poll p50 / p99 / max ms", "---"),
    ("auth", "---"),
    ("server / PG / other CPU %", "---"),
    ("result", "---"),
)


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def cells(row: dict[str, Any]) -> list[str]:
    polls = row["polls_during_import"]
    check = row["verification"]
    floor = statistics.median(row["floor_seconds_before"] + row["floor_seconds_after"])
    latency = " / ".join(f"{polls[k]:.0f}" if polls[k] is not None else "-" for k in ("p50_ms", "p99_ms", "max_ms"))
    auth = f"{check['device_users']:,} users, {check['pending_passwords']} pending"
    auth += f", {check['sample_ok']}/{check['sample']}"
    result = _verdict(row["pass"])
    if row["pass"] != row["pass_absolute"]:
        result += " (absolute: FAIL)"
    return [
        NAMES[row["database"]],
        NAMES[row["path"]],
        f"{row['rows']:,}",
        f"{row['import_seconds']:.1f}",
        f"{row['rows_per_second']:,.0f}",
        f"{floor:.3f} ({row['floor_baseline_seconds']:.3f})",
        f"{row['machine_factor']:.2f}",
        f"< {row['limit_seconds']:.0f} / < {row['scaled_limit_seconds']:.0f}",
        f"{row['peak_memory_mb']:.0f}",
        f"{polls['polls']:,} ({polls['errors']})",
        latency,
        f"{_verdict(row['pass_authenticate'])}: {auth}",
        f"{row['server_cpu_pct']:.0f} / {row['pg_cpu_pct']:.0f} / {row['other_cpu_pct']:.0f}",
        result,
    ]


def print_table(rows: list[dict[str, Any]]) -> None:
    print()
    print("| " + " | ".join(header for header, _ in COLUMNS) + " |")
    print("|" + "|".join(align for _, align in COLUMNS) + "|")
    for row in rows:
        print("| " + " | ".join(cells(row)) + " |")
    print()
    print("floor: the baseline's END-TO-END run measured in the same session (median; baseline in brackets);")
    print("factor = baseline floor / measured floor; scaled limit = limit / factor (bench/bulkbench/targets.py).")
    for row in rows:
        parts = [
            f"time {_verdict(row['pass_time_scaled'])} scaled, {_verdict(row['pass_time_absolute'])} absolute",
            f"authenticate {_verdict(row['pass_authenticate'])}",
            f"memory {_verdict(row['pass_memory'])}",
            f"polling {_verdict(row['pass_polling'])}"
            f" (longest gap {row['polls_during_import']['longest_gap_s'] or 0:.2f} s)",
        ]
        load = f"load average {row['loadavg_before']} -> {row['loadavg_after']}"
        print(f"{row['name']}: " + ", ".join(parts) + f"; {load}")
    print()


def postgres_version() -> str:
    with contextlib.suppress(Exception):
        binary = postgres_support().find_pg_bin() / "postgres"
        return subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False).stdout.strip()
    return "unknown"


def machine() -> dict[str, Any]:
    try:
        info = machine_info()
    except OSError:  # machine_info asks wrk for its version; this benchmark does not need wrk
        info = {
            "cpus": os.cpu_count(),
            "kernel": platform.release(),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "git_commit": subprocess.run(
                ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False, cwd=ROOT
            ).stdout.strip(),
        }
    info.pop("wrk", None)
    # Other work may sit uncommitted in the tree the server runs from (an editable install): name it.
    info["src_uncommitted"] = subprocess.run(
        ["git", "status", "--porcelain", "--", "src"], capture_output=True, text=True, check=False, cwd=ROOT
    ).stdout.splitlines()
    info["postgresql"] = postgres_version()
    info["memory_total_kb"] = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    return info


def write_results(
    path: Path, args: argparse.Namespace, started: dt.datetime, host: dict[str, Any], data: dict[str, Any]
) -> None:
    """`host` is machine() taken when the run started: the commit and the uncommitted files measured."""
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    document = {"started": started.isoformat(timespec="seconds"), "options": options, "machine": host, **data}
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"results written to {path}")
