""" "Every imported device able to authenticate": counted in the database (one device user per row,
none with a password still pending its argon2id wrap) and tried over HTTP on a random sample
(`GET /user/currentUser` as `t1/device_<ID>` with the manifest's password must answer 200).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pollbench.api import basic_auth
from pollbench.model import HOST, TENANT

from .manifest import DEVICE_PREFIX, Device

PENDING_PREFIX = "hmac-sha256-pending$"
KEYED_PREFIX = "hmac-sha256$"
COUNTS = (
    "SELECT count(*), "
    "coalesce(sum(CASE WHEN password_hash LIKE 'hmac-sha256-pending$%' THEN 1 ELSE 0 END), 0), "
    "coalesce(sum(CASE WHEN password_hash LIKE 'hmac-sha256$%' THEN 1 ELSE 0 END), 0) "
    "FROM users WHERE tenant_id = ? AND kind = 'device' AND username LIKE ?"
)


@dataclass
class Verification:
    device_users: int
    pending_passwords: int
    keyed_passwords: int
    sample: int
    sample_ok: int
    sample_failures: list[str] = field(default_factory=list)

    def passed(self, rows: int) -> bool:
        return (
            self.device_users == rows
            and self.pending_passwords == 0
            and self.keyed_passwords == rows
            and self.sample_ok == self.sample
        )


def count_users(sqlite_path: Path | None, database_url: str) -> tuple[int, int, int]:
    like = f"device_{DEVICE_PREFIX}%"
    if sqlite_path is not None:
        with contextlib.closing(sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True, timeout=30)) as db:
            found = db.execute(COUNTS, (TENANT, like)).fetchone()
    else:
        import psycopg

        with psycopg.connect(database_url) as db:
            found = db.execute(COUNTS.replace("?", "%s").replace("%'", "%%'"), (TENANT, like)).fetchone()
    assert found is not None
    return int(found[0]), int(found[1]), int(found[2])


def authenticate_sample(port: int, devices: list[Device], size: int, seed: int) -> tuple[int, list[str]]:
    """GET /user/currentUser for a random sample; returns (how many answered 200 as that user, failures)."""
    sample = random.Random(seed).sample(devices, min(size, len(devices)))
    ok, failures = 0, []
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        for device in sample:
            headers = {"Authorization": basic_auth(f"{TENANT}/{device.username}", device.password)}
            try:
                connection.request("GET", "/user/currentUser", headers=headers)
                response = connection.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as exc:
                failures.append(f"{device.device_id}: {type(exc).__name__}: {exc}")
                connection.close()
                connection = http.client.HTTPConnection(HOST, port, timeout=30)
                continue
            if response.status == 200 and _user_name(body) in (device.username, f"{TENANT}/{device.username}"):
                ok += 1
            else:
                failures.append(f"{device.device_id}: HTTP {response.status} {body[:200]!r}")
    finally:
        connection.close()
    return ok, failures[:10]


def _user_name(body: bytes) -> Any:
    with contextlib.suppress(ValueError):
        return json.loads(body).get("userName")
    return None


def verify(
    port: int, sqlite_path: Path | None, database_url: str, devices: list[Device], sample: int, seed: int
) -> Verification:
    users, pending, keyed = count_users(sqlite_path, database_url)
    ok, failures = authenticate_sample(port, devices, sample, seed)
    return Verification(users, pending, keyed, min(sample, len(devices)), ok, failures)
