"""POST /devicecontrol/bulkNewDeviceRequests: who may call it, which bodies it takes, its limits
(request size, the tenant's device limit) and what it stores of the passwords, on both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from admittance.bootstrap import Services
from admittance.http.app import create_app
from admittance.kernel.principal import Role
from admittance.kernel.secrets import random_password
from admittance.settings import Settings
from tests.support.bulk import BULK, BULK_TYPE, device_auth, sql, upload
from tests.support.cumulocity import ADMIN, assert_error, basic, call
from tests.support.services import build
from tests.support.settings import with_settings

SIXTY_MB = 60 * 1024 * 1024
_CHUNK = b"device;Secret-Pass-1\r\n" * 50_000  # about 1 MB


class LazyUpload:
    """A multipart body of about `size` bytes, made as the server reads it; `sent` counts what it read."""

    BOUNDARY = "lazy-boundary-7f3a"

    def __init__(self, size: int, *, declared: bool = True) -> None:
        self.declared = declared  # False: no Content-Length, the body comes chunked
        self.head = (
            f'--{self.BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
            "Content-Type: text/csv\r\n\r\nID;CREDENTIALS\r\n"
        ).encode()
        self.tail = f"\r\n--{self.BOUNDARY}--\r\n".encode()
        self.chunks = max(1, size // len(_CHUNK))
        self.sent = 0

    @property
    def headers(self) -> dict[str, str]:
        length = len(self.head) + self.chunks * len(_CHUNK) + len(self.tail)
        headers = {"Content-Type": f"multipart/form-data; boundary={self.BOUNDARY}"}
        return headers | ({"Content-Length": str(length)} if self.declared else {})

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in (self.head, *([_CHUNK] * self.chunks), self.tail):
            self.sent += len(part)
            yield part

    async def post(self, client: httpx.AsyncClient, auth: dict[str, str]) -> httpx.Response:
        return await client.post(BULK, content=self, headers={**self.headers, "Accept": "application/json", **auth})


@pytest.mark.parametrize("auth", [{}, basic("t1/admin", "wrong-password")], ids=["no auth", "bad password"])
async def test_without_valid_credentials_it_is_401_before_the_body_is_read(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    assert_error(await upload(client, "ID\nx\n", auth=auth), 401)
    big = LazyUpload(SIXTY_MB)
    assert_error(await big.post(client, auth), 401)
    assert big.sent < 2 * len(_CHUNK)


async def test_without_the_device_control_admin_role_it_is_403_before_the_body_is_read(
    client: httpx.AsyncClient, services: Services
) -> None:
    await services.identity.create_user("t1", "viewer", "Viewer-Pass-1", [Role.DEVICE_CONTROL_READ.value])
    assert (await upload(client, "ID;CREDENTIALS\nd1;Device-Pass-1\n")).status_code == 201
    for auth in (basic("t1/viewer", "Viewer-Pass-1"), device_auth("d1", "Device-Pass-1")):
        assert_error(await upload(client, "ID\nx\n", auth=auth), 403)
        big = LazyUpload(SIXTY_MB)
        assert_error(await big.post(client, auth), 403)
        assert big.sent < 2 * len(_CHUNK)
    assert not await sql(services, "SELECT id FROM registration_requests")


async def test_a_body_that_is_not_multipart_is_415(client: httpx.AsyncClient) -> None:
    assert_error(await call(client, "POST", BULK, {"id": "x"}), 415, "multipart/form-data")
    for content_type in ("text/csv", None):
        assert_error(await call(client, "POST", BULK, raw=b"ID\nx\n", content_type=content_type), 415)


UNPROCESSABLE = {
    "empty file": ("file", b"", "empty"),
    "header without ID": ("file", b"NAME;CREDENTIALS\nx;Secret-Pass-1\n", "ID column"),
    "header only": ("file", b"ID;CREDENTIALS\n", "no device rows"),
    "zip archive": ("file", b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00", "not a text CSV file"),
    "random bytes": ("file", bytes(range(256)) * 4, "not a text CSV file"),
    "UTF-16": ("file", "ID;CREDENTIALS\nx;Secret-Pass-1\n".encode("utf-16"), "UTF-16"),
    "no file part": ("upload", b"ID\nx\n", "part named 'file'"),
}


@pytest.mark.parametrize(("part", "data", "message"), UNPROCESSABLE.values(), ids=UNPROCESSABLE.keys())
async def test_unusable_files_are_422_and_change_nothing(
    client: httpx.AsyncClient, services: Services, part: str, data: bytes, message: str
) -> None:
    response = await client.post(BULK, files={part: ("b.csv", data, "text/csv")}, headers={"Accept": "*/*", **ADMIN})
    assert_error(response, 422, message)
    assert not await sql(services, "SELECT id FROM registration_requests")


async def test_a_file_part_without_a_filename_is_taken_as_sent(client: httpx.AsyncClient) -> None:
    # c8y-api's post_file() sends the part without a filename; its bytes must not be re-decoded.
    ansi = "ID;CREDENTIALS;NAME\nw1;Device-Pass-1;Gerät €\n".encode("windows-1252")
    response = await client.post(
        BULK, files={"file": (None, ansi, "application/octet-stream")}, headers={"Accept": "application/json", **ADMIN}
    )
    assert response.status_code == 201, response.text
    assert response.json()["numberOfCreated"] == 1


async def test_a_body_without_a_file_part_and_a_broken_multipart_body_are_refused(
    client: httpx.AsyncClient,
) -> None:
    no_file = await client.post(BULK, data={"files": "ID\nx\n"}, files={"other": ("x", b"")}, headers=ADMIN)
    assert_error(no_file, 422, "part named 'file'")
    broken = await call(client, "POST", BULK, raw=b"--x\r\nno headers", content_type="multipart/form-data; boundary=x")
    assert_error(broken, 400, "multipart body cannot be read")


@pytest.mark.parametrize("part_type", ["text/csv", "plain/text", "application/octet-stream", "text/plain; charset=x"])
async def test_any_part_content_type_is_taken(client: httpx.AsyncClient, part_type: str) -> None:
    response = await upload(client, "ID;CREDENTIALS\nd1;Device-Pass-1\n", part_type=part_type)
    assert response.status_code == 201, response.text
    assert response.json()["numberOfCreated"] == 1


async def test_the_answer_has_a_body_whatever_the_accept_header(client: httpx.AsyncClient) -> None:
    response = await client.post(BULK, files={"file": ("b.csv", b"ID\nr1\n", "text/csv")}, headers=ADMIN)
    assert (response.status_code, response.headers["content-type"]) == (201, BULK_TYPE)
    assert response.json()["numberOfSuccessful"] == 1


@asynccontextmanager
async def limited_client(settings: Settings, max_manifest_bytes: int) -> AsyncIterator[httpx.AsyncClient]:
    changed = with_settings(settings, max_manifest_bytes=max_manifest_bytes)
    built = await build(changed)
    try:
        transport = httpx.ASGITransport(app=create_app(changed, built), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
    finally:
        await built.close()


async def test_a_file_over_the_limit_is_413(client: httpx.AsyncClient, services: Services, settings: Settings) -> None:
    assert services.settings.max_manifest_bytes == 50 * 1024 * 1024  # the default
    big = LazyUpload(SIXTY_MB)
    assert_error(await big.post(client, ADMIN), 413, "limit of 52428800 bytes")
    assert big.sent < 2 * len(_CHUNK)  # the declared length is enough

    header = b"ID;CREDENTIALS\n"
    row = b"d1;Device-Pass-1\n"
    exact = header + row + b"\n" * (4096 - len(header) - len(row))
    async with limited_client(settings, 4096) as limited:
        assert (await upload(limited, exact)).status_code == 201
        assert_error(await upload(limited, exact + b"\n"), 413, "4096 bytes")
        assert_error(await upload(limited, exact * 100), 413)
        chunked = LazyUpload(SIXTY_MB, declared=False)
        assert_error(await chunked.post(limited, ADMIN), 413, "4096 bytes")
        assert chunked.sent < 2 * len(_CHUNK)  # reading stops at the limit
    assert len(await sql(services, "SELECT id FROM users WHERE username = 'device_d1'")) == 1


async def test_the_device_limit_fails_the_rows_beyond_it(client: httpx.AsyncClient, services: Services) -> None:
    async with services.database.transaction() as db:
        await db.execute("UPDATE tenants SET device_limit = 3 WHERE id = 't1'")
    rows = "".join(f"lim-{n};Limit-Pass-{n}\n" for n in range(1, 6))
    body = (await upload(client, "ID;CREDENTIALS\n" + rows)).json()
    assert (body["numberOfCreated"], body["numberOfFailed"]) == (3, 2)
    assert [entry["deviceId"] for entry in body["failedCreationList"]] == ["lim-4", "lim-5"]
    assert all("limit of 3 devices" in entry["failureReason"] for entry in body["failedCreationList"])
    assert not await sql(services, "SELECT value FROM external_ids WHERE value IN ('lim-4', 'lim-5')")

    # At the limit, known devices still get their new password; new ones still fail.
    again = (await upload(client, "ID;CREDENTIALS\nlim-1;Limit-New-1\nlim-6;Limit-Pass-6\n")).json()
    assert (again["numberOfCreated"], len(again["credentialUpdatedList"]), again["numberOfFailed"]) == (0, 1, 1)
    assert (await call(client, "GET", "/user/currentUser", auth=device_auth("lim-1", "Limit-New-1"))).status_code == 200


async def test_weak_passwords_are_pending_and_random_ones_final_and_both_work_at_once(
    client: httpx.AsyncClient, services: Services
) -> None:
    strong = random_password(32)
    response = await upload(client, f"ID;CREDENTIALS\nweak;abcd1234\nstrong;{strong}\n")
    assert response.json()["numberOfCreated"] == 2
    hashes = {
        row["username"]: row["password_hash"]
        for row in await sql(services, "SELECT username, password_hash FROM users WHERE username LIKE 'device_%'")
    }
    assert hashes["device_weak"].startswith("hmac-sha256-pending$")
    assert hashes["device_strong"].startswith("hmac-sha256$")
    for device_id, password in (("weak", "abcd1234"), ("strong", strong)):
        me = await call(client, "GET", "/user/currentUser", auth=device_auth(device_id, password))
        assert me.status_code == 200, me.text


async def test_no_password_reaches_the_answer_or_the_audit_log(client: httpx.AsyncClient, services: Services) -> None:
    passwords = ["Audit-Pass-1", "Audit-Pass-2", "short7", 'Audit;Pass"3', "=Audit-Pass-4", "Audit-Pass-5"]
    text = (
        "ID;CREDENTIALS;NAME\n"
        f"a1;{passwords[0]};x\na2;{passwords[1]};=bad\na3;{passwords[2]};x\n"
        f'a4;"Audit;Pass""3";x\na5;{passwords[4]};x;extra\na1;{passwords[5]};dup\n'
    )
    response = await upload(client, text)
    assert (response.json()["numberOfCreated"], response.json()["numberOfFailed"]) == (1, 5)
    events = await sql(services, "SELECT actor, tag, subject, detail FROM audit_events")
    assert any(event["subject"] == "a4" for event in events)
    assert any("BULK" in event["tag"].upper() for event in events)
    shown = response.text + repr(events)
    assert not [password for password in passwords if password in shown]
