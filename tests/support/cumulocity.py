"""Raw HTTP on the Cumulocity surface: exact-header requests, the vendor error check, the device
request flow (create, poll, accept, onboard) and inventory objects and the users who own them."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from admittance.bootstrap import Services
from admittance.identity import UserKind
from tests.support import secrets
from tests.support.credentials import ADMIN_PASSWORD, BOOTSTRAP_PASSWORD

NDR = "/devicecontrol/newDeviceRequests"
CREDS = "/devicecontrol/deviceCredentials"
BASE = "http://testserver"
VENDOR = "application/vnd.com.nsn.cumulocity.{}+json;charset=UTF-8;ver=0.9"
ERROR_TYPE = VENDOR.format("error")


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


ADMIN = basic("t1/admin", ADMIN_PASSWORD)
BOOTSTRAP = basic("management/devicebootstrap", BOOTSTRAP_PASSWORD)


async def call(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    body: Any = None,
    *,
    auth: dict[str, str] | None = ADMIN,
    accept: str | None = "application/json",
    content_type: str | None = "application/json",
    raw: bytes | None = None,
) -> httpx.Response:
    """One request with exactly the headers given: accept/content_type None means the header is absent."""
    content = raw if raw is not None else None if body is None else json.dumps(body).encode()
    headers = dict(auth or {})
    if content is not None and content_type is not None:
        headers["Content-Type"] = content_type
    request = client.build_request(method, path, headers=headers, content=content)
    if accept is None:
        del request.headers["accept"]
    else:
        request.headers["accept"] = accept
    response = await client.send(request)
    if response.content:
        assert response.headers["content-length"] == str(len(response.content))
    return response


def assert_error(response: httpx.Response, status: int, message: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == ERROR_TYPE
    body = response.json()
    assert sorted(body) == ["error", "info", "message"]
    assert all(isinstance(value, str) and value for value in body.values()), body
    assert message in body["message"]
    return body


async def snapshot(client: httpx.AsyncClient, request_id: str) -> dict[str, Any]:
    response = await call(client, "GET", f"{NDR}/{request_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def make_pending(client: httpx.AsyncClient, request_id: str) -> dict[str, Any]:
    assert (await call(client, "POST", NDR, {"id": request_id})).status_code == 201
    assert_error(await call(client, "POST", CREDS, {"id": request_id}, auth=BOOTSTRAP), 404)
    found = await snapshot(client, request_id)
    assert found["status"] == "PENDING_ACCEPTANCE"
    return found


async def poll(client: httpx.AsyncClient, request_id: str, token: str | None = None) -> httpx.Response:
    body = {"id": request_id} | ({"securityToken": token} if token is not None else {})
    return await call(client, "POST", CREDS, body, auth=BOOTSTRAP)


async def accept(client: httpx.AsyncClient, request_id: str, token: str | None = None, **kw: Any) -> httpx.Response:
    body = {"status": "ACCEPTED"} | ({"securityToken": token} if token is not None else {})
    return await call(client, "PUT", f"{NDR}/{request_id}", body, **kw)


async def status_of(client: httpx.AsyncClient, request_id: str, auth: dict[str, str] = ADMIN) -> str:
    response = await call(client, "GET", f"{NDR}/{request_id}", auth=auth)
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


async def onboard(client: httpx.AsyncClient, request_id: str, auth: dict[str, str] = ADMIN) -> dict[str, str]:
    """Create, poll, accept, poll: the credentials document."""
    assert (await call(client, "POST", NDR, {"id": request_id}, auth=auth)).status_code == 201
    assert_error(await poll(client, request_id), 404)
    assert (await accept(client, request_id, auth=auth)).status_code == 200
    issued = await poll(client, request_id)
    assert issued.status_code == 201, issued.text
    secrets.register(issued.json().get("password"))  # must never show in a log (tests/support/secrets.py)
    return issued.json()


MO = "/inventory/managedObjects"
DEVICE_PASSWORD = "device-Secret-789"
PERSON_PASSWORD = "person-Secret-789"


async def create(client: httpx.AsyncClient, body: dict[str, Any], auth: dict[str, str] = ADMIN) -> dict[str, Any]:
    response = await call(client, "POST", MO, body, auth=auth)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def listed(client: httpx.AsyncClient, query: str = "", auth: dict[str, str] = ADMIN) -> list[str]:
    response = await call(client, "GET", f"{MO}?pageSize=100&{query}", auth=auth)
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["managedObjects"]]


async def device_user(services: Services, name: str) -> dict[str, str]:
    await services.identity.create_user(
        "t1", f"device_{name}", DEVICE_PASSWORD, ["ROLE_DEVICE"], kind=UserKind.DEVICE, generated=True
    )
    return basic(f"t1/device_{name}", DEVICE_PASSWORD)


async def person(services: Services, name: str, roles: list[str], tenant: str = "t1") -> dict[str, str]:
    await services.identity.create_user(tenant, name, PERSON_PASSWORD, roles)
    return basic(f"{tenant}/{name}", PERSON_PASSWORD)


def query_of(link: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(link).query)
