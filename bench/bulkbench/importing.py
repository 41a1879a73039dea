"""The import itself, through either door, timed from the first byte of the upload:

* `c8y`: `POST /devicecontrol/bulkNewDeviceRequests` (multipart, part `file`), synchronous; the
  time ends with the 201 and its counters;
* `job`: `POST /admittance/v1/device-imports` (the CSV as a text/csv body), 202 with a job; the
  harness GETs the job every --job-poll seconds until it is SUCCEEDED or FAILED; the time ends when
  it sees SUCCEEDED (so it overstates by at most one --job-poll interval; the job's own
  createdAt..finishedAt is recorded beside it).
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pollbench.api import basic_auth
from pollbench.model import ADMIN, HOST, BenchFailure, expect

C8Y_PATH = "/devicecontrol/bulkNewDeviceRequests"
JOB_PATH = "/admittance/v1/device-imports"
PATHS = ("c8y", "job")


@dataclass
class ImportResult:
    path: str
    seconds: float  # upload start -> 201 (c8y) or SUCCEEDED seen (job)
    upload_seconds: float  # upload start -> first answer (the 201 itself for c8y, the 202 for job)
    total: int
    created: int
    failed: int
    answer: dict[str, Any] = field(default_factory=dict)  # the 201 body (lists cut) or the final job document
    job_seconds: float | None = None  # the job's createdAt -> finishedAt


def multipart(data: bytes, filename: str = "manifest.csv") -> tuple[bytes, str]:
    boundary = "bench-" + secrets.token_hex(12)
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _send(port: int, method: str, path: str, body: bytes | None, content_type: str | None, timeout: float) -> Any:
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    headers = {"Authorization": basic_auth(*ADMIN), "Accept": "application/json"}
    if content_type:
        headers["Content-Type"] = content_type
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def run_import(path: str, port: int, data: bytes, *, timeout: float, job_poll: float) -> ImportResult:
    if path == "c8y":
        return c8y_import(port, data, timeout)
    return job_import(port, data, timeout, job_poll)


def c8y_import(port: int, data: bytes, timeout: float) -> ImportResult:
    body, content_type = multipart(data)
    started = time.perf_counter()
    status, answer = _send(port, "POST", C8Y_PATH, body, content_type, timeout)
    seconds = time.perf_counter() - started
    expect(status == 201, f"{C8Y_PATH} answered {status}: {answer[:500]!r}")
    document = json.loads(answer)
    failures = document.get("failedCreationList", [])
    kept = {k: v for k, v in document.items() if not isinstance(v, list)}
    kept["failedCreationList"] = failures[:5]
    return ImportResult(
        "c8y",
        seconds,
        seconds,
        int(document["numberOfAll"]),
        int(document["numberOfCreated"]),
        int(document["numberOfFailed"]),
        kept,
    )


def _moment(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def job_import(port: int, data: bytes, timeout: float, job_poll: float) -> ImportResult:
    started = time.perf_counter()
    status, answer = _send(port, "POST", JOB_PATH, data, "text/csv", timeout)
    upload_seconds = time.perf_counter() - started
    expect(status == 202, f"{JOB_PATH} answered {status}: {answer[:500]!r}")
    link = urlsplit(json.loads(answer)["self"]).path
    deadline = started + timeout
    while True:
        status, answer = _send(port, "GET", link, None, None, 30)
        expect(status == 200, f"GET {link} answered {status}: {answer[:500]!r}")
        job = json.loads(answer)
        if job["status"] in ("SUCCEEDED", "FAILED"):
            seconds = time.perf_counter() - started
            break
        if time.perf_counter() > deadline:
            raise BenchFailure(f"job {link} still {job['status']} after {timeout:.0f} s: {job.get('progress')}")
        time.sleep(job_poll)
    expect(job["status"] == "SUCCEEDED", f"job {link} ended {job['status']}: {job.get('error')}")
    created_at, finished_at = _moment(job.get("createdAt")), _moment(job.get("finishedAt"))
    progress = job["progress"]
    return ImportResult(
        "job",
        seconds,
        upload_seconds,
        int(progress["total"]),
        int(progress["created"]),
        int(progress["failed"]),
        job,
        (finished_at - created_at).total_seconds() if created_at and finished_at else None,
    )
