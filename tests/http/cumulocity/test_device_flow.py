"""The device side of the Cumulocity surface over raw HTTP: authentication answers (401/403), the poll state
machine, security tokens, acceptAll, the registration limit, and a device's first calls with its credentials
(shared/specs/cumulocity.md §2, §3, §5). Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from admittance.bootstrap import Services
from admittance.identity import SecurityTokenPolicy
from admittance.kernel.principal import ADMIN_ROLES
from tests.support.credentials import ADMIN_PASSWORD
from tests.support.cumulocity import (
    ADMIN,
    BASE,
    BOOTSTRAP,
    CREDS,
    NDR,
    VENDOR,
    accept,
    assert_error,
    basic,
    call,
    make_pending,
    onboard,
    poll,
    snapshot,
    status_of,
)

TOKEN = "s3cret-Token"


ENDPOINTS = {
    "create-request": ("POST", NDR, {"id": "dev-2"}),
    "list-requests": ("GET", NDR, None),
    "get-request": ("GET", f"{NDR}/dev-1", None),
    "update-request": ("PUT", f"{NDR}/dev-1", {"status": "ACCEPTED"}),
    "delete-request": ("DELETE", f"{NDR}/dev-1", None),
    "accept-all": ("POST", f"{NDR}/acceptAll", None),
    "limit": ("GET", f"{NDR}/limit", None),
    "device-credentials": ("POST", CREDS, {"id": "dev-1"}),
    "current-user": ("GET", "/user/currentUser", None),
    "find-external-id": ("GET", "/identity/externalIds/c8y_Serial/dev-1", None),
    "create-managed-object": ("POST", "/inventory/managedObjects", {"name": "n"}),
    "get-managed-object": ("GET", "/inventory/managedObjects/1", None),
    "add-external-id": ("POST", "/identity/globalIds/1/externalIds", {"type": "c8y_Serial", "externalId": "e"}),
}
BAD_CREDENTIALS = {
    "wrong-password": basic("t1/admin", "wrong-Password-1"),
    "wrong-bootstrap-password": basic("management/devicebootstrap", "wrong-Password-1"),
    "unknown-user": basic("t1/nobody", ADMIN_PASSWORD),
    "unknown-tenant": basic("t9/admin", ADMIN_PASSWORD),
    "bare-unknown-user": basic("nobody", ADMIN_PASSWORD),
    "missing-header": {},
    "bearer-scheme": {"Authorization": "Bearer abc.def.ghi"},
    "not-base64": {"Authorization": "Basic !!!not-base64!!!"},
    "no-colon": {"Authorization": "Basic " + base64.b64encode(b"t1/admin").decode()},
    "empty-user": basic("", ADMIN_PASSWORD),
    "not-utf8": {"Authorization": "Basic " + base64.b64encode(b"t1/adm\xffin:pw").decode()},
}


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS.values(), ids=ENDPOINTS.keys())
async def test_every_authentication_failure_is_the_same_401(
    client: httpx.AsyncClient, method: str, path: str, body: Any
) -> None:
    pending = await make_pending(client, "dev-1")
    answers = set()
    for name, auth in BAD_CREDENTIALS.items():
        response = await call(client, method, path, body, auth=auth)
        assert_error(response, 401, "Invalid credentials")
        assert response.headers["www-authenticate"] == 'Basic realm="Cumulocity"', name
        answers.add((response.status_code, response.content))
    assert len(answers) == 1
    request = client.build_request(method, path, json=body, headers={"UseXBasic": "true"})
    response = await client.send(request)
    assert_error(response, 401)
    assert response.headers["www-authenticate"].startswith("XBasic ")
    assert await snapshot(client, "dev-1") == pending


BAD_BODIES = {"invalid-json": b'{"id": ', "json-array": b"[]", "missing-id": b"{}"}


@pytest.mark.parametrize("path", [CREDS, NDR], ids=["device-credentials", "create-request"])
@pytest.mark.parametrize("raw", BAD_BODIES.values(), ids=BAD_BODIES.keys())
async def test_authentication_is_checked_before_the_body(client: httpx.AsyncClient, path: str, raw: bytes) -> None:
    for auth in ({}, basic("management/devicebootstrap", "wrong-Password-1")):
        assert_error(await call(client, "POST", path, raw=raw, auth=auth), 401)


FORBIDDEN = {
    "admin-polls-credentials": (ADMIN, "POST", CREDS, {"id": "dev-1"}),
    **{
        f"bootstrap-{name}": (BOOTSTRAP, method, path, body)
        for name, (method, path, body) in ENDPOINTS.items()
        if name not in ("device-credentials", "current-user")
    },
}


@pytest.mark.parametrize(("auth", "method", "path", "body"), FORBIDDEN.values(), ids=FORBIDDEN.keys())
async def test_missing_roles_are_403_with_a_message(
    client: httpx.AsyncClient, auth: dict[str, str], method: str, path: str, body: Any
) -> None:
    pending = await make_pending(client, "dev-1")
    assert assert_error(await call(client, method, path, body, auth=auth), 403)["error"] == "security/Forbidden"
    assert await snapshot(client, "dev-1") == pending


async def test_poll_state_machine_and_credentials_exactly_once(client: httpx.AsyncClient) -> None:
    unknown = assert_error(await poll(client, "dev-1"), 404, "dev-1")
    assert unknown["error"] == "devicecontrol/Not Found"
    assert (await call(client, "POST", NDR, {"id": "dev-1"})).status_code == 201
    assert_error(await poll(client, "dev-1"), 404, "dev-1")
    assert await status_of(client, "dev-1") == "PENDING_ACCEPTANCE"
    assert_error(await poll(client, "dev-1"), 404, "dev-1")
    assert await status_of(client, "dev-1") == "PENDING_ACCEPTANCE"
    accepted = await accept(client, "dev-1")
    assert (accepted.status_code, accepted.headers["content-type"]) == (200, VENDOR.format("newdevicerequest"))
    assert accepted.json()["status"] == "ACCEPTED"
    assert await status_of(client, "dev-1") == "ACCEPTED"
    assert (await accept(client, "dev-1")).json()["status"] == "ACCEPTED"  # accepting twice changes nothing
    issued = await poll(client, "dev-1")
    assert (issued.status_code, issued.headers["content-type"]) == (201, VENDOR.format("devicecredentials"))
    credentials = issued.json()
    assert sorted(credentials) == ["id", "password", "self", "tenantId", "username"]
    assert credentials["self"] == f"{BASE}{CREDS}/dev-1"
    assert (credentials["id"], credentials["tenantId"], credentials["username"]) == ("dev-1", "t1", "device_dev-1")
    assert len(credentials["password"]) >= 16
    assert_error(await poll(client, "dev-1"), 404)
    assert_error(await call(client, "GET", f"{NDR}/dev-1"), 404)
    assert (await call(client, "GET", NDR)).json()["newDeviceRequests"] == []
    for user in ("t1/device_dev-1", "device_dev-1"):
        me = await call(client, "GET", "/user/currentUser", auth=basic(user, credentials["password"]))
        assert me.status_code == 200, me.text
        assert (me.json()["userName"], me.json()["tenantId"]) == ("device_dev-1", "t1")
        assert "ROLE_DEVICE" in {role["id"] for role in me.json()["effectiveRoles"]}
    assert_error(await call(client, "GET", "/user/currentUser", auth=basic("t1/device_dev-1", "wrong-pw-123")), 401)


async def test_device_users_cannot_operate_registrations(client: httpx.AsyncClient) -> None:
    credentials = await onboard(client, "dev-1")
    device = basic(f"t1/{credentials['username']}", credentials["password"])
    await make_pending(client, "dev-2")
    for method, path, body in (("POST", NDR, {"id": "dev-3"}), ("PUT", f"{NDR}/dev-2", {"status": "ACCEPTED"}),
                               ("GET", NDR, None), ("POST", CREDS, {"id": "dev-2"})):  # fmt: skip
        assert_error(await call(client, method, path, body, auth=device), 403, "Access is denied")
    assert await status_of(client, "dev-2") == "PENDING_ACCEPTANCE"


async def test_registering_again_replaces_the_lost_password(client: httpx.AsyncClient) -> None:
    first = await onboard(client, "dev-1")
    second = await onboard(client, "dev-1")
    assert second["username"] == first["username"]
    assert second["password"] != first["password"]
    assert_error(await call(client, "GET", "/user/currentUser", auth=basic("t1/device_dev-1", first["password"])), 401)
    me = await call(client, "GET", "/user/currentUser", auth=basic("t1/device_dev-1", second["password"]))
    assert me.status_code == 200


async def test_bare_user_name_means_the_default_tenant(client: httpx.AsyncClient) -> None:
    me = await call(client, "GET", "/user/currentUser", auth=basic("admin", ADMIN_PASSWORD))
    assert me.status_code == 200, me.text
    assert (me.json()["userName"], me.json()["tenantId"], me.json()["self"]) == (
        "admin",
        "t1",
        f"{BASE}/user/currentUser",
    )
    created = await call(client, "POST", NDR, {"id": "dev-1"}, auth=basic("admin", ADMIN_PASSWORD))
    assert created.json()["tenantId"] == "t1"


async def test_token_mismatches_block_the_request(client: httpx.AsyncClient) -> None:
    assert (await call(client, "POST", NDR, {"id": "dev-1"})).status_code == 201
    assert_error(await poll(client, "dev-1", TOKEN), 404)
    shown = await snapshot(client, "dev-1")
    assert shown["status"] == "PENDING_ACCEPTANCE"
    assert TOKEN not in str(shown)
    assert_error(await accept(client, "dev-1"), 422, "security token")
    assert await snapshot(client, "dev-1") == shown
    assert_error(await accept(client, "dev-1", "wrong-token"), 422, "security token")
    assert await status_of(client, "dev-1") == "PENDING_ACCEPTANCE"
    assert_error(await accept(client, "dev-1", "wrong-again"), 422, "BLOCKED")
    assert await status_of(client, "dev-1") == "BLOCKED"
    assert_error(await accept(client, "dev-1", TOKEN), 422)
    assert_error(await poll(client, "dev-1", TOKEN), 404)
    assert await status_of(client, "dev-1") == "BLOCKED"
    assert (await call(client, "DELETE", f"{NDR}/dev-1")).status_code == 204
    assert (await call(client, "POST", NDR, {"id": "dev-1"})).json()["status"] == "WAITING_FOR_CONNECTION"


async def test_the_right_token_accepts_and_the_poll_must_carry_it(client: httpx.AsyncClient) -> None:
    assert (await call(client, "POST", NDR, {"id": "dev-1"})).status_code == 201
    assert_error(await poll(client, "dev-1", TOKEN), 404)
    assert_error(await poll(client, "dev-1", "another-token"), 404)  # the first token sticks
    accepted = await accept(client, "dev-1", TOKEN)
    assert (accepted.status_code, accepted.json()["status"]) == (200, "ACCEPTED")
    assert_error(await poll(client, "dev-1"), 404)
    assert_error(await poll(client, "dev-1", "another-token"), 404)
    assert await status_of(client, "dev-1") == "ACCEPTED"
    issued = await poll(client, "dev-1", TOKEN)
    assert (issued.status_code, issued.json()["username"]) == (201, "device_dev-1")


async def test_a_token_for_a_device_that_sent_none_is_ignored(client: httpx.AsyncClient) -> None:
    await make_pending(client, "dev-1")
    assert (await accept(client, "dev-1", TOKEN)).json()["status"] == "ACCEPTED"
    assert (await poll(client, "dev-1")).status_code == 201


async def test_required_policy_blocks_a_device_without_token(client: httpx.AsyncClient, services: Services) -> None:
    await services.identity.set_security_token_policy("t1", SecurityTokenPolicy.REQUIRED)
    for request_id, token, status in (("dev-1", None, "BLOCKED"), ("dev-2", TOKEN, "PENDING_ACCEPTANCE")):
        assert (await call(client, "POST", NDR, {"id": request_id})).status_code == 201
        assert_error(await poll(client, request_id, token), 404)
        assert await status_of(client, request_id) == status
    assert (await accept(client, "dev-2", TOKEN)).status_code == 200
    assert (await poll(client, "dev-2", TOKEN)).status_code == 201


async def test_ignored_policy_ignores_tokens(client: httpx.AsyncClient, services: Services) -> None:
    await services.identity.set_security_token_policy("t1", SecurityTokenPolicy.IGNORED)
    assert (await call(client, "POST", NDR, {"id": "dev-1"})).status_code == 201
    assert_error(await poll(client, "dev-1", TOKEN), 404)
    assert (await accept(client, "dev-1")).status_code == 200
    assert (await poll(client, "dev-1")).status_code == 201


async def test_accept_all_skips_token_devices_and_waiting_ones(client: httpx.AsyncClient) -> None:
    await make_pending(client, "plain")
    assert (await call(client, "POST", NDR, {"id": "with-token"})).status_code == 201
    assert_error(await poll(client, "with-token", TOKEN), 404)
    assert (await call(client, "POST", NDR, {"id": "waiting"})).status_code == 201
    result = await call(client, "POST", f"{NDR}/acceptAll")
    assert result.status_code == 200, result.text
    assert result.json() == [{"id": "plain", "successful": True}]
    statuses = [await status_of(client, name) for name in ("plain", "with-token", "waiting")]
    assert statuses == ["ACCEPTED", "PENDING_ACCEPTANCE", "WAITING_FOR_CONNECTION"]
    assert (await call(client, "POST", f"{NDR}/acceptAll")).json() == []


async def test_limit_counts_devices_and_stops_acceptance(client: httpx.AsyncClient, services: Services) -> None:
    limit = await call(client, "GET", f"{NDR}/limit")
    assert (limit.status_code, limit.json()) == (200, {"isReached": False, "deviceCount": 0})
    await onboard(client, "dev-1")
    assert (await call(client, "GET", f"{NDR}/limit")).json() == {"isReached": False, "deviceCount": 1}
    await services.identity.create_tenant("t2", device_limit=1)
    await services.identity.create_user("t2", "admin", "Admin2-Secret-789", [role.value for role in ADMIN_ROLES])
    admin2 = basic("t2/admin", "Admin2-Secret-789")
    assert (await call(client, "GET", f"{NDR}/limit", auth=admin2)).json() == {
        "isReached": False,
        "deviceCount": 0,
        "limit": 1,
    }
    assert (await onboard(client, "dev-a", auth=admin2))["tenantId"] == "t2"
    reached = (await call(client, "GET", f"{NDR}/limit", auth=admin2)).json()
    assert reached == {"isReached": True, "deviceCount": 1, "limit": 1}
    assert (await call(client, "POST", NDR, {"id": "dev-b"}, auth=admin2)).status_code == 201
    assert_error(await poll(client, "dev-b"), 404)
    assert_error(await accept(client, "dev-b", auth=admin2), 422, "limit")
    assert await status_of(client, "dev-b", auth=admin2) == "PENDING_ACCEPTANCE"
    assert_error(await call(client, "GET", f"{NDR}/dev-b"), 404)  # t1's admin does not see t2


async def test_a_new_device_creates_itself_with_its_credentials(client: httpx.AsyncClient) -> None:
    credentials = await onboard(client, "dev-1")
    device = basic(f"{credentials['tenantId']}/{credentials['username']}", credentials["password"])
    lookup = "/identity/externalIds/c8y_Serial/dev-1"
    assert assert_error(await call(client, "GET", lookup, auth=device), 404)["error"] == "identity/Not Found"
    created = await call(
        client, "POST", "/inventory/managedObjects", {"name": "dev-1", "c8y_IsDevice": {}}, auth=device
    )
    assert created.status_code == 201, created.text
    managed = created.json()
    assert (managed["name"], managed["c8y_IsDevice"], managed["owner"]) == ("dev-1", {}, "device_dev-1")
    external = {"type": "c8y_Serial", "externalId": "dev-1"}
    path = f"/identity/globalIds/{managed['id']}/externalIds"
    added = await call(client, "POST", path, external, auth=device)
    assert added.status_code == 201, added.text
    assert added.json()["managedObject"] == {"id": managed["id"], "self": managed["self"]}
    assert_error(await call(client, "POST", path, external, auth=device), 409)
    found = await call(client, "GET", lookup, auth=device)
    assert (found.status_code, found.headers["content-type"]) == (200, VENDOR.format("externalid"))
    assert found.json() == added.json()
    again = await call(client, "GET", f"/inventory/managedObjects/{managed['id']}", auth=device)
    assert (again.status_code, again.json()) == (200, managed)
    foreign = (await call(client, "POST", "/inventory/managedObjects", {"name": "admin's"})).json()["id"]
    assert_error(await call(client, "GET", f"/inventory/managedObjects/{foreign}", auth=device), 404)
    foreign_path = f"/identity/globalIds/{foreign}/externalIds"
    assert_error(await call(client, "POST", foreign_path, {"type": "c8y_Serial", "externalId": "x"}, auth=device), 404)
