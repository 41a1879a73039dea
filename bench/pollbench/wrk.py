"""Running wrk with bench/poll.lua against one subject, parsing the POLL_RESULT line the script
prints, and rejecting any run with socket errors or unexpected HTTP statuses.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
from collections.abc import Iterator
from typing import Any

from .api import basic_auth
from .model import BOOTSTRAP, HOST, ID_PREFIX, LUA_SCRIPT, BenchFailure, Subject, expect

RESULT_PREFIX = "POLL_RESULT "


def wrk_command(args: argparse.Namespace, port: int, connections: int, seconds: int) -> list[str]:
    return [
        "taskset", "-c", str(args.client_cpu),
        "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", f"--timeout={args.wrk_timeout}s",
        "-s", str(LUA_SCRIPT), f"http://{HOST}:{port}",
        "--", basic_auth(*BOOTSTRAP), ID_PREFIX, str(args.devices), "0", "1",
    ]  # fmt: skip


def parse_result(out: str) -> dict[str, Any] | None:
    """The JSON of the first POLL_RESULT line of wrk's output, or None when there is none."""
    for line in out.splitlines():
        if line.startswith(RESULT_PREFIX):
            return dict(json.loads(line.removeprefix(RESULT_PREFIX)))
    return None


@contextlib.contextmanager
def wrk_running(command: list[str], seconds: int) -> Iterator[list[dict[str, Any]]]:
    """Runs wrk while the block runs; afterwards the list holds its POLL_RESULT. wrk never outlives it."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    result: list[dict[str, Any]] = []
    try:
        yield result
        out, err = process.communicate(timeout=seconds + 60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    parsed = parse_result(out)
    if parsed is None:
        raise BenchFailure(f"wrk failed ({process.returncode}):\n{out}\n{err}")
    result.append(parsed)


def run_wrk(args: argparse.Namespace, port: int, connections: int, seconds: int) -> dict[str, Any]:
    with wrk_running(wrk_command(args, port, connections, seconds), seconds) as result:
        pass
    return result[0]


def check_wrk(subject: Subject, result: dict[str, Any], phase: str) -> None:
    """Fail loudly on any socket error or any status other than those the subject may answer. A timeout
    is a response slower than --wrk-timeout: wrk still reads it (and checks its status), so it is
    reported, not fatal."""
    errors = {kind: count for kind, count in result["errors"].items() if count and kind != "timeout"}
    expect(not errors, f"{subject.name} {phase}: wrk socket errors {errors}")
    statuses = {int(status): count for status, count in result["statuses"].items()}
    unexpected = {status: n for status, n in statuses.items() if status not in subject.allowed_statuses}
    expect(not unexpected, f"{subject.name} {phase}: unexpected HTTP statuses {unexpected} (all: {statuses})")
    expect(sum(statuses.values()) > 0, f"{subject.name} {phase}: no responses at all")
