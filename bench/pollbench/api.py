"""HTTP calls to a subject's API from the harness: readiness, one poll, and the setup checks that
the seeded rows are what the server sees.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import time
from pathlib import Path
from typing import Any

from .model import ADMIN, BOOTSTRAP, HOST, PENDING, POLL_PATH, BenchFailure, Subject, expect


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def call(port: int, method: str, path: str, *, auth: str | None = None, body: Any = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    headers = {"Accept": "application/json"}
    if auth:
        headers["Authorization"] = auth
    payload = None if body is None else json.dumps(body).encode()
    if payload is not None:
        headers["Content-Type"] = "application/json"
    try:
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def poll_once(port: int, device_id: str) -> tuple[int, bytes]:
    return call(port, "POST", POLL_PATH, auth=basic_auth(*BOOTSTRAP), body={"id": device_id})


def log_tail(path: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


def wait_until_serving(subject: Subject, path: str, expected: int, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if subject.process.poll() is not None:
            raise BenchFailure(f"{subject.name} exited with {subject.process.returncode}:\n{log_tail(subject.log)}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            status, _ = call(subject.port, "POST" if path == POLL_PATH else "GET", path, body=None)
            if status == expected:
                return
        time.sleep(0.2)
    raise BenchFailure(f"{subject.name} did not answer {path} with {expected} in {timeout:.0f} s")


def check_subject(subject: Subject, pending_id: str, accepted_id: str | None) -> None:
    """The API sees the seeded rows: a pending poll is a JSON 404, an accepted one a 201, then 404."""
    status, body = call(subject.port, "GET", f"/devicecontrol/newDeviceRequests/{pending_id}", auth=basic_auth(*ADMIN))
    expect(status == 200, f"{subject.name}: admin GET of {pending_id} answered {status}: {body[:300]!r}")
    expect(json.loads(body).get("status") == PENDING, f"{subject.name}: {pending_id} is not pending: {body[:300]!r}")
    status, body = poll_once(subject.port, pending_id)
    expect(status == 404, f"{subject.name}: pending poll answered {status}: {body[:300]!r}")
    expect(isinstance(json.loads(body), dict), f"{subject.name}: pending poll body is not a JSON object")
    if accepted_id is None:
        return
    status, body = poll_once(subject.port, accepted_id)
    expect(status == 201, f"{subject.name}: accepted poll answered {status}: {body[:300]!r}")
    expect("password" in json.loads(body), f"{subject.name}: 201 without credentials: {body[:300]!r}")
    status, body = poll_once(subject.port, accepted_id)
    expect(status == 404, f"{subject.name}: second accepted poll answered {status}: {body[:300]!r}")
