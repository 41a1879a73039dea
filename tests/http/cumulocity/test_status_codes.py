"""Status codes, media types and bodies of the Cumulocity surface (shared/specs/cumulocity.md §2-§3), raw HTTP.

Every test runs on SQLite and PostgreSQL (the `client` fixture). Rejected requests are checked twice: the
answer (status, vendor error type, `{error, message, info}` body, Content-Length) and that nothing changed.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.cumulocity import (
    ADMIN,
    BASE,
    BOOTSTRAP,
    CREDS,
    NDR,
    VENDOR,
    assert_error,
    basic,
    call,
    make_pending,
    snapshot,
)

TOO_LARGE = {"id": "big", "customProperties": {"blob": "x" * 1_048_576}}  # over settings.max_body_bytes (1 MiB)


async def request_ids(client: httpx.AsyncClient) -> list[str]:
    response = await call(client, "GET", NDR, accept=None)
    assert response.status_code == 200
    return [item["id"] for item in response.json()["newDeviceRequests"]]


ACCEPT_VARIANTS = {
    "json": "application/json",
    "vendor": "application/vnd.com.nsn.cumulocity.newdevicerequest+json",
    "vendor-mixed-case": "application/vnd.com.nsn.cumulocity.newDeviceRequest+json",
    "vendor-ver": "application/vnd.com.nsn.cumulocity.newDeviceRequest+json;ver=0.9",
    "vendor-charset-ver": "application/vnd.com.nsn.cumulocity.newdevicerequest+json;charset=UTF-8;ver=0.9",
    "comma-list": "application/vnd.com.nsn.cumulocity.error+json, "
    "application/vnd.com.nsn.cumulocity.newdevicerequest+json",
    "trailing-semicolon": "application/vnd.com.nsn.cumulocity.user+json;",
    "collection-type": "application/vnd.com.nsn.cumulocity.newDeviceRequestCollection+json",
    "wildcard": "*/*",
}


@pytest.mark.parametrize("accept", ACCEPT_VARIANTS.values(), ids=ACCEPT_VARIANTS.keys())
async def test_every_accept_variant_gets_the_vendor_representation(client: httpx.AsyncClient, accept: str) -> None:
    created = await call(client, "POST", NDR, {"id": "dev-1"}, accept=accept)
    assert created.status_code == 201, created.text
    assert created.headers["content-type"] == VENDOR.format("newdevicerequest")
    body = created.json()
    assert body["self"] == f"{BASE}{NDR}/dev-1"
    assert created.headers["location"] == body["self"]
    assert {key: body[key] for key in ("id", "status", "owner", "tenantId", "customProperties")} == {
        "id": "dev-1",
        "status": "WAITING_FOR_CONNECTION",
        "owner": "admin",
        "tenantId": "t1",
        "customProperties": {},
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)", body["creationTime"])
    one = await call(client, "GET", f"{NDR}/dev-1", accept=accept)
    assert (one.status_code, one.headers["content-type"], one.json()) == (200, created.headers["content-type"], body)
    listed = await call(client, "GET", NDR, accept=accept)
    assert listed.status_code == 200
    assert listed.headers["content-type"] == VENDOR.format("newdevicerequestcollection")
    assert listed.json()["newDeviceRequests"] == [body]
    assert_error(await call(client, "POST", CREDS, {"id": "dev-1"}, auth=BOOTSTRAP, accept=accept), 404)
    accepted = await call(client, "PUT", f"{NDR}/dev-1", {"status": "ACCEPTED"}, accept=accept)
    assert accepted.status_code == 200, accepted.text
    assert accepted.headers["content-type"] == VENDOR.format("newdevicerequest")
    assert accepted.json()["status"] == "ACCEPTED"
    user = await call(client, "GET", "/user/currentUser", accept=accept)
    assert (user.status_code, user.headers["content-type"]) == (200, VENDOR.format("currentuser"))


CONTENT_TYPES = {
    "json": "application/json",
    "json-charset": "application/json;charset=UTF-8",
    "json-upper-case": "APPLICATION/JSON",
    "vendor": "application/vnd.com.nsn.cumulocity.newdevicerequest+json",
    "vendor-mixed-case-ver": "application/vnd.com.nsn.cumulocity.newDeviceRequest+json;ver=0.9",
    "vendor-charset-ver": "application/vnd.com.nsn.cumulocity.deviceCredentials+json;charset=UTF-8;ver=0.9",
    "trailing-semicolon": "application/json;",
    "absent": None,
}


@pytest.mark.parametrize("content_type", CONTENT_TYPES.values(), ids=CONTENT_TYPES.keys())
async def test_every_json_content_type_is_taken(client: httpx.AsyncClient, content_type: str | None) -> None:
    assert (await call(client, "POST", NDR, {"id": "dev-1"}, content_type=content_type)).status_code == 201
    poll = await call(client, "POST", CREDS, {"id": "dev-1"}, auth=BOOTSTRAP, content_type=content_type)
    assert_error(poll, 404)
    put = await call(client, "PUT", f"{NDR}/dev-1", {"status": "ACCEPTED"}, content_type=content_type)
    assert put.status_code == 200, put.text
    managed = await call(client, "POST", "/inventory/managedObjects", {"name": "n"}, content_type=content_type)
    assert managed.status_code == 201, managed.text
    external = {"type": "c8y_Serial", "externalId": "dev-1"}
    path = f"/identity/globalIds/{managed.json()['id']}/externalIds"
    assert (await call(client, "POST", path, external, content_type=content_type)).status_code == 201


async def test_post_and_put_without_accept_answer_with_an_empty_body(client: httpx.AsyncClient) -> None:
    created = await call(client, "POST", NDR, {"id": "dev-1"}, accept=None)
    assert (created.status_code, created.content, created.headers["content-length"]) == (201, b"", "0")
    assert created.headers["location"] == f"{BASE}{NDR}/dev-1"
    assert_error(await call(client, "POST", CREDS, {"id": "dev-1"}, auth=BOOTSTRAP), 404)
    updated = await call(client, "PUT", f"{NDR}/dev-1", {"status": "ACCEPTED"}, accept=None)
    assert (updated.status_code, updated.content, updated.headers["content-length"]) == (200, b"", "0")
    assert (await snapshot(client, "dev-1"))["status"] == "ACCEPTED"
    managed = await call(client, "POST", "/inventory/managedObjects", {"name": "n"}, accept=None)
    assert (managed.status_code, managed.content, managed.headers["content-length"]) == (201, b"", "0")
    assert managed.headers["location"].startswith(f"{BASE}/inventory/managedObjects/")
    path = managed.headers["location"].removeprefix(BASE) + "/externalIds"
    path = path.replace("/inventory/managedObjects/", "/identity/globalIds/")
    external = await call(client, "POST", path, {"type": "c8y_Serial", "externalId": "e1"}, accept=None)
    assert (external.status_code, external.content, external.headers["content-length"]) == (201, b"", "0")


async def test_created_resources_carry_an_absolute_location(client: httpx.AsyncClient) -> None:
    managed = await call(client, "POST", "/inventory/managedObjects", {"name": "n", "c8y_IsDevice": {}})
    assert managed.status_code == 201
    assert managed.headers["content-type"] == VENDOR.format("managedobject")
    assert (
        managed.headers["location"]
        == managed.json()["self"]
        == f"{BASE}/inventory/managedObjects/{managed.json()['id']}"
    )
    path = f"/identity/globalIds/{managed.json()['id']}/externalIds"
    external = await call(client, "POST", path, {"type": "c8y_Serial", "externalId": "e 1"})
    assert external.status_code == 201
    assert external.headers["content-type"] == VENDOR.format("externalid")
    assert external.json()["self"] == f"{BASE}/identity/externalIds/c8y_Serial/e%201"
    assert external.headers.get("location") == external.json()["self"]


def raw(data: bytes, content_type: str | None = "application/json") -> dict[str, Any]:
    return {"raw": data, "content_type": content_type}


BODY_REJECTS = {
    "invalid-json": (raw(b'{"id": '), 400),
    "trailing-garbage": (raw(b'{"id": "x"} x'), 400),
    "invalid-utf8": (raw(b'{"id": "\xff"}'), 400),
    "json-array": (raw(b"[]"), 400),
    "json-string": (raw(b'"dev-9"'), 400),
    "json-null": (raw(b"null"), 400),
    "empty-body": (raw(b""), 400),
    "text-plain": (raw(b'{"id": "x"}', "text/plain"), 415),
    "application-xml": (raw(b"<id>x</id>", "application/xml"), 415),
    "form-urlencoded": (raw(b"id=x", "application/x-www-form-urlencoded"), 415),
    "multipart": (raw(b"--b\r\n\r\n--b--", "multipart/form-data; boundary=b"), 415),
    "over-size-limit": ({"body": TOO_LARGE}, 413),
}
CREATE_REJECTS = {
    **BODY_REJECTS,
    "missing-id": ({"body": {"type": "x"}}, 422, "Following mandatory fields should be included: id"),
    "null-id": ({"body": {"id": None}}, 422, "Following mandatory fields should be included: id"),
    "empty-id": ({"body": {"id": ""}}, 422),
    "blank-id": ({"body": {"id": "   "}}, 422),
    "id-1001-chars": ({"body": {"id": "x" * 1001}}, 422),
    "id-number": ({"body": {"id": 17}}, 422),
    "id-nul": ({"body": {"id": "a\x00b"}}, 422),
    "id-newline": ({"body": {"id": "a\nb"}}, 422),
    "id-del": ({"body": {"id": "a\x7fb"}}, 422),
    "id-c1-control": ({"body": {"id": "a\x85b"}}, 422),
    "id-colon-with-est": ({"body": {"id": "a:b", "enrollmentToken": "otp-12345678"}}, 422),
    "custom-properties-string": ({"body": {"id": "d", "customProperties": "x"}}, 422),
    "group-id-number": ({"body": {"id": "d", "groupId": 5}}, 422),
    "other-tenant": ({"body": {"id": "d", "tenantId": "management"}}, 403),
    "duplicate-id": ({"body": {"id": "existing", "type": "other"}}, 409, "existing"),
}


@pytest.mark.parametrize("case", CREATE_REJECTS.values(), ids=CREATE_REJECTS.keys())
async def test_rejected_create_changes_nothing(client: httpx.AsyncClient, case: tuple[Any, ...]) -> None:
    request, status, *message = case
    existing = await make_pending(client, "existing")
    assert_error(await call(client, "POST", NDR, **request), status, *message)
    assert await request_ids(client) == ["existing"]
    assert await snapshot(client, "existing") == existing


async def test_duplicate_is_a_vendor_conflict(client: httpx.AsyncClient) -> None:
    assert (await call(client, "POST", NDR, {"id": "dev-1"})).status_code == 201
    assert assert_error(await call(client, "POST", NDR, {"id": "dev-1"}), 409)["error"] == "devicecontrol/Duplicate"


async def test_the_longest_id_and_odd_characters_work_as_url_segments(client: httpx.AsyncClient) -> None:
    for request_id in ("x" * 1000, "a/b c?d#e%f", "gerät-ü-€-😀"):
        created = await call(client, "POST", NDR, {"id": request_id})
        assert created.status_code == 201, created.text
        path = created.json()["self"].removeprefix(BASE)
        assert (await call(client, "GET", path)).json()["id"] == request_id
        assert (await call(client, "DELETE", path)).status_code == 204


UPDATE_REJECTS = {
    **{name: BODY_REJECTS[name] for name in ("invalid-json", "json-array", "empty-body", "text-plain")},
    "over-size-limit": ({"body": {"status": "ACCEPTED", "x": "y" * 1_048_576}}, 413),
    "no-status": ({"body": {}}, 422, "Following mandatory fields should be included: status"),
    "null-status": ({"body": {"status": None}}, 422, "Following mandatory fields should be included: status"),
    "unknown-status": ({"body": {"status": "APPROVED"}}, 422),
    "lower-case-status": ({"body": {"status": "accepted"}}, 422),
    "status-waiting": ({"body": {"status": "WAITING_FOR_CONNECTION"}}, 422),
    "status-pending": ({"body": {"status": "PENDING_ACCEPTANCE"}}, 422),
    "status-number": ({"body": {"status": 1}}, 422),
    "status-list": ({"body": {"status": ["ACCEPTED"]}}, 422),
    "status-object": ({"body": {"status": {"value": "ACCEPTED"}}}, 422),
    "security-token-number": ({"body": {"status": "ACCEPTED", "securityToken": 5}}, 422),
}


@pytest.mark.parametrize("case", UPDATE_REJECTS.values(), ids=UPDATE_REJECTS.keys())
async def test_rejected_update_changes_nothing(client: httpx.AsyncClient, case: tuple[Any, ...]) -> None:
    request, status, *message = case
    pending = await make_pending(client, "dev-1")
    assert_error(await call(client, "PUT", f"{NDR}/dev-1", **request), status, *message)
    assert await snapshot(client, "dev-1") == pending


async def test_accepting_before_the_device_connected_is_refused(client: httpx.AsyncClient) -> None:
    assert (await call(client, "POST", NDR, {"id": "dev-1"})).status_code == 201
    waiting = await snapshot(client, "dev-1")
    assert_error(await call(client, "PUT", f"{NDR}/dev-1", {"status": "ACCEPTED"}), 422, "dev-1")
    assert await snapshot(client, "dev-1") == waiting
    assert waiting["status"] == "WAITING_FOR_CONNECTION"


UNKNOWN = {
    "get": ("GET", f"{NDR}/nope", None),
    "put": ("PUT", f"{NDR}/nope", {"status": "ACCEPTED"}),
    "delete": ("DELETE", f"{NDR}/nope", None),
    "get-encoded-slash": ("GET", f"{NDR}/a%2Fb", None),
    "managed-object": ("GET", "/inventory/managedObjects/424242", None),
    "managed-object-not-a-number": ("GET", "/inventory/managedObjects/abc", None),
    "external-id": ("GET", "/identity/externalIds/c8y_Serial/nope", None),
    "external-id-for-unknown-object": (
        "POST",
        "/identity/globalIds/424242/externalIds",
        {"type": "t", "externalId": "e"},
    ),
    "unknown-route": ("GET", "/devicecontrol/nothing", None),
}


@pytest.mark.parametrize(("method", "path", "body"), UNKNOWN.values(), ids=UNKNOWN.keys())
async def test_unknown_things_are_404_with_a_vendor_body(
    client: httpx.AsyncClient, method: str, path: str, body: Any
) -> None:
    assert_error(await call(client, method, path, body), 404)


async def test_delete_is_204_then_404(client: httpx.AsyncClient) -> None:
    await make_pending(client, "dev-1")
    deleted = await call(client, "DELETE", f"{NDR}/dev-1")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert_error(await call(client, "GET", f"{NDR}/dev-1"), 404)
    assert_error(await call(client, "DELETE", f"{NDR}/dev-1"), 404)
    assert_error(await call(client, "POST", CREDS, {"id": "dev-1"}, auth=BOOTSTRAP), 404)
    assert (await call(client, "POST", NDR, {"id": "dev-1"})).status_code == 201


async def test_paging_statistics_and_links(client: httpx.AsyncClient) -> None:
    for number in range(7):
        assert (await call(client, "POST", NDR, {"id": f"dev-{number}"})).status_code == 201
    first = (await call(client, "GET", NDR)).json()
    assert (len(first["newDeviceRequests"]), first["statistics"]) == (5, {"currentPage": 1, "pageSize": 5})
    assert first["self"].startswith(f"{BASE}{NDR}?")
    assert "prev" not in first
    assert re.search(r"[?&]currentPage=2(&|$)", first["next"])
    assert re.search(r"[?&]pageSize=5(&|$)", first["next"])
    second = (await call(client, "GET", first["next"])).json()
    assert (len(second["newDeviceRequests"]), second["statistics"]["currentPage"]) == (2, 2)
    assert "next" not in second
    assert re.search(r"[?&]currentPage=1(&|$)", second["prev"])
    seen = [item["id"] for item in first["newDeviceRequests"] + second["newDeviceRequests"]]
    assert sorted(seen) == [f"dev-{number}" for number in range(7)]
    totals = (await call(client, "GET", f"{NDR}?pageSize=2&currentPage=2&withTotalPages=true")).json()
    assert totals["statistics"] == {"currentPage": 2, "pageSize": 2, "totalPages": 4}
    assert re.search(r"[?&]pageSize=2(&|$)", totals["next"])
    assert re.search(r"[?&]currentPage=1(&|$)", totals["prev"])
    elements = (await call(client, "GET", f"{NDR}?withTotalElements=true")).json()
    assert elements["statistics"]["totalElements"] == 7
    trimmed = (await call(client, "GET", f"{NDR}?pageSize=5000")).json()
    assert (trimmed["statistics"]["pageSize"], len(trimmed["newDeviceRequests"])) == (2000, 7)
    beyond = (await call(client, "GET", f"{NDR}?currentPage=9")).json()
    assert beyond["newDeviceRequests"] == []
    await make_pending(client, "dev-p")
    filtered = (await call(client, "GET", f"{NDR}?status=PENDING_ACCEPTANCE")).json()
    assert [item["id"] for item in filtered["newDeviceRequests"]] == ["dev-p"]


BAD_QUERIES = ["pageSize=0", "pageSize=-1", "pageSize=abc", "pageSize=1.5", "pageSize=99999999999", "currentPage=0",
               "currentPage=x", "status=FOO", "status=accepted"]  # fmt: skip


@pytest.mark.parametrize("query", BAD_QUERIES)
async def test_bad_list_parameters_are_422(client: httpx.AsyncClient, query: str) -> None:
    assert_error(await call(client, "GET", f"{NDR}?{query}"), 422)


async def test_a_chunked_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"id": "big", "customProperties": {"blob": "'
        for _ in range(17):
            yield b"x" * 65_536
        yield b'"}}'

    request = client.build_request("POST", NDR, headers=ADMIN | {"Content-Type": "application/json"}, content=chunks())
    assert "content-length" not in request.headers
    assert_error(await client.send(request), 413)
    assert await request_ids(client) == []


GLOBAL_IDS = "/identity/globalIds/1/externalIds"
NEVER_500 = {
    "get-nul-id": ("GET", f"{NDR}/a%00b", None, ADMIN, {404}),
    "put-nul-id": ("PUT", f"{NDR}/a%00b", {"status": "ACCEPTED"}, ADMIN, {404}),
    "delete-nul-id": ("DELETE", f"{NDR}/a%00b", None, ADMIN, {404}),
    "poll-nul-id": ("POST", CREDS, {"id": "a\x00b"}, BOOTSTRAP, {404, 422}),
    "poll-id-number": ("POST", CREDS, {"id": 5}, BOOTSTRAP, {422}),
    "poll-no-id": ("POST", CREDS, {}, BOOTSTRAP, {422}),
    "poll-token-number": ("POST", CREDS, {"id": "d", "securityToken": 5}, BOOTSTRAP, {422}),
    "create-nul-type": ("POST", NDR, {"id": "d", "type": "a\x00b"}, ADMIN, {201, 422}),
    "create-nul-group": ("POST", NDR, {"id": "d", "groupId": "a\x00b"}, ADMIN, {201, 422}),
    "create-nul-tenant": ("POST", NDR, {"id": "d", "tenantId": "a\x00b"}, ADMIN, {403, 422}),
    "external-id-nul": ("GET", "/identity/externalIds/c8y_Serial/a%00b", None, ADMIN, {404}),
    "external-id-nul-type": ("GET", "/identity/externalIds/a%00b/x", None, ADMIN, {404}),
    "managed-object-nul-name": ("POST", "/inventory/managedObjects", {"name": "a\x00b"}, ADMIN, {201, 422}),
    "managed-object-name-number": ("POST", "/inventory/managedObjects", {"name": 5}, ADMIN, {422}),
    "managed-object-id-huge": ("GET", "/inventory/managedObjects/99999999999999999999", None, ADMIN, {404}),
    "external-id-type-number": ("POST", GLOBAL_IDS, {"type": 5, "externalId": "e"}, ADMIN, {422}),
    "external-id-missing": ("POST", GLOBAL_IDS, {"type": "t"}, ADMIN, {422}),
    "nul-in-user-name": ("GET", "/user/currentUser", None, basic("t1/ad\x00min", "x"), {401}),
    "nul-in-tenant": ("GET", "/user/currentUser", None, basic("t\x001/admin", "x"), {401}),
    "nul-in-bare-user": ("POST", CREDS, {"id": "d"}, basic("device\x00bootstrap", "x"), {401}),
    "method-not-allowed": ("PATCH", NDR, {"id": "d"}, ADMIN, {405}),
}


@pytest.mark.parametrize(("method", "path", "body", "auth", "allowed"), NEVER_500.values(), ids=NEVER_500.keys())
async def test_odd_input_is_a_client_error_never_a_500(
    client: httpx.AsyncClient, method: str, path: str, body: Any, auth: dict[str, str], allowed: set[int]
) -> None:
    response = await call(client, method, path, body, auth=auth)
    assert response.status_code in allowed, response.text
    if response.status_code >= 400:
        assert_error(response, response.status_code)
