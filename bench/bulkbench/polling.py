"""Devices that keep polling while the import runs: a few client threads, each on its own
keep-alive connection, each polling `POST /devicecontrol/deviceCredentials` as the bootstrap user
for a device whose registration request waits (expected answer: 404 "not yet"), with a pause
between polls. Every answer other than 404, and every socket error or timeout, is an error.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pollbench.api import basic_auth, call, poll_once
from pollbench.model import ADMIN, BOOTSTRAP, HOST, POLL_PATH, expect

WAITING_PREFIX = "bench-waiting-"
# A device on a 5 s polling interval sees no missed poll as long as no answer takes longer than this.
MAX_GAP_SECONDS = 5.0


@dataclass
class Poll:
    started: float
    seconds: float
    status: int  # 0: no HTTP answer (socket error or timeout)
    error: str = ""


@dataclass
class PollSummary:
    polls: int
    errors: int
    statuses: dict[str, int]
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    longest_gap_s: float | None  # the longest stretch of the window in which no poll was answered
    first_errors: list[str] = field(default_factory=list)

    @property
    def answering(self) -> bool:
        gap = self.longest_gap_s
        return self.polls > 0 and self.errors == 0 and gap is not None and gap < MAX_GAP_SECONDS


def create_waiting_requests(port: int, count: int) -> list[str]:
    """Registration requests created by the admin; each one's first poll turns it PENDING_ACCEPTANCE."""
    ids = [f"{WAITING_PREFIX}{index}" for index in range(count)]
    for device_id in ids:
        status, body = call(
            port, "POST", "/devicecontrol/newDeviceRequests", auth=basic_auth(*ADMIN), body={"id": device_id}
        )
        expect(status == 201, f"creating request {device_id} answered {status}: {body[:300]!r}")
        status, body = poll_once(port, device_id)
        expect(status == 404, f"first poll of waiting {device_id} answered {status}: {body[:300]!r}")
    return ids


class Pollers:
    """Client threads polling until stopped; each records every poll it sends."""

    def __init__(self, port: int, device_ids: list[str], interval: float, timeout: float) -> None:
        self._port = port
        self._ids = device_ids
        self._interval = interval
        self._timeout = timeout
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.polls: list[Poll] = []
        self._lock = threading.Lock()

    def __enter__(self) -> Pollers:
        for device_id in self._ids:
            thread = threading.Thread(target=self._run, args=(device_id,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self._timeout + 5)

    def _run(self, device_id: str) -> None:
        body = json.dumps({"id": device_id}).encode()
        headers = {
            "Authorization": basic_auth(*BOOTSTRAP),
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        connection: http.client.HTTPConnection | None = None
        mine: list[Poll] = []
        while not self._stop.is_set():
            if connection is None:
                connection = http.client.HTTPConnection(HOST, self._port, timeout=self._timeout)
            started = time.monotonic()
            try:
                connection.request("POST", POLL_PATH, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                mine.append(Poll(started, time.monotonic() - started, response.status))
            except (OSError, http.client.HTTPException) as exc:
                mine.append(Poll(started, time.monotonic() - started, 0, f"{type(exc).__name__}: {exc}"))
                connection.close()
                connection = None
            self._stop.wait(self._interval)
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.close()
        with self._lock:
            self.polls.extend(mine)

    def summary(self, begin: float, end: float) -> PollSummary:
        """The polls sent within [begin, end): the import window."""
        inside = sorted((p for p in self.polls if begin <= p.started < end), key=lambda p: p.started)
        return summarize(inside, begin, end)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summarize(polls: list[Poll], begin: float, end: float) -> PollSummary:
    statuses: dict[str, int] = {}
    for poll in polls:
        statuses[str(poll.status)] = statuses.get(str(poll.status), 0) + 1
    failed = [p for p in polls if p.status != 404]
    latencies = [p.seconds * 1000 for p in polls]
    answered = sorted(p.started + p.seconds for p in polls if p.status == 404)
    gap = None
    if answered:
        marks = [begin, *[t for t in answered if t < end], end]
        gap = max(later - earlier for earlier, later in itertools.pairwise(marks))
    return PollSummary(
        polls=len(polls),
        errors=len(failed),
        statuses=statuses,
        p50_ms=statistics.median(latencies) if latencies else None,
        p99_ms=_percentile(latencies, 0.99) if latencies else None,
        max_ms=max(latencies) if latencies else None,
        longest_gap_s=gap,
        first_errors=[p.error or f"HTTP {p.status}" for p in failed[:5]],
    )


def as_dict(summary: PollSummary) -> dict[str, Any]:
    return {**summary.__dict__, "answering": summary.answering}
