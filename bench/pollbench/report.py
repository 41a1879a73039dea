"""Medians per cell, the verdict on each target (see targets.py), the Markdown table, and the
results JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
from pathlib import Path
from typing import Any

from .machine import machine_info
from .model import REFERENCE, Measurement
from .targets import BASELINE_REFERENCE_RPS, MAX_LATENCY_SCALE, latency_scale, target_for


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
    target = target_for(name, connections)
    if target is not None:
        row.update(target.judge(row["pct_of_reference"], row["p99_ms"], row["reference_rps"]))
    return row


# (header, Markdown alignment) of each column
TABLE_COLUMNS = (
    ("subject", "---"), ("conns", "---:"), ("req/s median (min-max)", "---:"), ("p50 ms", "---:"),
    ("p99 ms", "---:"), ("% of reference", "---:"), ("server CPU %", "---:"), ("PG CPU %", "---:"),
    ("wrk CPU %", "---:"), ("other CPU %", "---:"), ("RSS MB", "---:"), ("statuses (all runs)", "---"),
    ("201 probe ms median (max)", "---:"), ("target", "---"), ("required % of reference", "---:"),
    ("scaled target", "---"), ("result", "---"),
)  # fmt: skip


def verdict(r: dict[str, Any]) -> str:
    if "pass" not in r:
        text = ""
    elif r["pass"]:
        text = "PASS"
    else:
        missed = [part for part, ok in (("ratio", r["pass_throughput"]), ("p99", r["pass_latency"])) if not ok]
        text = f"FAIL ({', '.join(missed)})"
    if r["noisy_runs"]:
        text += f" ({r['noisy_runs']} noisy run(s))"
    return text


def table_cells(r: dict[str, Any]) -> list[str]:
    probes = r["probe_201_ms"]
    required = r.get("required_pct_of_reference")
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
        "" if required is None else f"{required:.2f}",
        r.get("scaled_target", ""),
        verdict(r),
    ]


def reference_lines(rows: list[dict[str, Any]]) -> list[str]:
    """How fast this run's reference was against the baseline's, and what that does to the targets."""
    lines = []
    for r in rows:
        if r["subject"] == REFERENCE:
            scale = latency_scale(r["rps"])
            capped = " (capped)" if scale >= MAX_LATENCY_SCALE else ""
            lines.append(
                f"reference at {r['connections']} connections: {r['rps']:,.0f} req/s ="
                f" {r['rps'] / BASELINE_REFERENCE_RPS:.2f} x the baseline's {BASELINE_REFERENCE_RPS:,.0f};"
                f" p99 targets x {scale:.2f}{capped}"
            )
    return lines


def print_table(rows: list[dict[str, Any]]) -> None:
    print()
    print("| " + " | ".join(header for header, _ in TABLE_COLUMNS) + " |")
    print("|" + "|".join(align for _, align in TABLE_COLUMNS) + "|")
    for row in rows:
        print("| " + " | ".join(table_cells(row)) + " |")
    print()
    print("Targets are judged on the ratio to the reference of the same run (see bench/pollbench/targets.py);")
    for line in reference_lines(rows):
        print(line)
    print()


def write_results(path: Path, args: argparse.Namespace, started: dt.datetime, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    document = {"started": started.isoformat(timespec="seconds"), "options": options, "machine": machine_info(), **data}
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"results written to {path}")
