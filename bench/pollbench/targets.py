"""The issue's targets, judged as ratios to the uvloop reference measured in the same run.

Why ratios: the project's rule is that performance is "measured as ratios against a reference run
in the same session", and this VM's speed drifts a lot (the same reference measured about 143k
req/s for the baseline and 42-80k on later days). The issue's absolute targets were set for this
machine when the reference measured BASELINE_REFERENCE_RPS = 143,337 req/s (baseline
shared/specs/performance-baseline.md section 1b, row raw-uvloop-w1-POSTlua; nginx-w1-GET measured
145,152 in the same pass). So:

* Throughput: required ratio = absolute target / 143,337, i.e. SQLite 8,000 req/s -> 5.58 % and
  PostgreSQL 3,000 req/s -> 2.09 % of the reference. PASS/FAIL is judged on the measured ratio
  (the median over the repeats of server req/s / reference req/s of the same repeat and connection
  count). The absolute target and a "scaled target" = required ratio x reference req/s of this run
  (median, same connection count) are shown beside it, for reading only.
* p99 latency (SQLite < 100 ms and PostgreSQL < 200 ms at 256 connections, < 10 ms at 16) stays an
  absolute figure, scaled the same way: allowed p99 = target x (143,337 / reference req/s of this
  run, same connection count), capped at MAX_LATENCY_SCALE = 2x the target. On a machine slower
  than the baseline's the allowance grows (at most doubles); on a faster one it shrinks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BASELINE_REFERENCE_RPS = 143_337.0  # raw-uvloop-w1-POSTlua, performance-baseline.md section 1b
MAX_LATENCY_SCALE = 2.0  # a slow machine may at most double a latency target


@dataclass(frozen=True)
class Target:
    """A target for one database at one connection count, in the issue's absolute figures."""

    database: str
    connections: int
    min_rps: float | None = None
    max_p99_ms: float | None = None

    @property
    def required_pct(self) -> float | None:
        """min_rps as a share of the reference, in %: what the issue's figure was at the baseline."""
        return None if self.min_rps is None else self.min_rps / BASELINE_REFERENCE_RPS * 100

    def describe(self) -> str:
        """The raw (absolute) target, as the issue states it."""
        parts = [f">= {self.min_rps:,.0f} req/s"] if self.min_rps else []
        if self.max_p99_ms is not None:
            parts.append(f"p99 < {self.max_p99_ms:g} ms")
        return " and ".join(parts)

    def judge(self, pct_of_reference: float, p99_ms: float, reference_rps: float) -> dict[str, Any]:
        """The verdict on one summary row, with everything that went into it (for the table and JSON)."""
        scale = latency_scale(reference_rps)
        required = self.required_pct
        scaled_rps = None if required is None else required / 100 * reference_rps
        scaled_p99 = None if self.max_p99_ms is None else self.max_p99_ms * scale
        fast_enough = required is None or pct_of_reference >= required
        quick_enough = scaled_p99 is None or p99_ms < scaled_p99
        scaled = [f">= {scaled_rps:,.0f} req/s"] if scaled_rps is not None else []
        if scaled_p99 is not None:
            scaled.append(f"p99 < {scaled_p99:.3g} ms")
        return {
            "target": self.describe(),
            "target_min_rps": self.min_rps,
            "target_max_p99_ms": self.max_p99_ms,
            "required_pct_of_reference": required,
            "scaled_min_rps": scaled_rps,
            "latency_scale": scale,
            "scaled_max_p99_ms": scaled_p99,
            "scaled_target": " and ".join(scaled),
            "pass_throughput": fast_enough,
            "pass_latency": quick_enough,
            "pass": fast_enough and quick_enough,
        }


def latency_scale(reference_rps: float) -> float:
    """How much slower than at the baseline this run's reference was, capped at MAX_LATENCY_SCALE."""
    return min(BASELINE_REFERENCE_RPS / reference_rps, MAX_LATENCY_SCALE)


def target_for(database: str, connections: int) -> Target | None:
    return next((t for t in TARGETS if t.database == database and t.connections == connections), None)


TARGETS = (
    Target("sqlite", 256, min_rps=8000, max_p99_ms=100),
    Target("postgresql", 256, min_rps=3000, max_p99_ms=200),
    Target("sqlite", 16, max_p99_ms=10),
    Target("postgresql", 16, max_p99_ms=10),
)

METHOD = {
    "baseline_reference_rps": BASELINE_REFERENCE_RPS,
    "baseline_reference_run": "raw-uvloop-w1-POSTlua, shared/specs/performance-baseline.md section 1b",
    "max_latency_scale": MAX_LATENCY_SCALE,
    "throughput": "PASS when the median ratio to the same-run reference >= target req/s / baseline reference req/s",
    "latency": "PASS when p99 < target ms x min(baseline reference req/s / this run's reference req/s, 2)",
}
