"""Helpers of the /v1 management API tests: team members with nRF Cloud roles, their API keys
(Bearer tokens from /api/login), registered device keys and minted tokens."""

from __future__ import annotations

from typing import Any

import httpx

from admittance.bootstrap import Services
from admittance.kernel.access import RoleName
from tests.support.nrf import device_key, mint, new_uuid, register_key
from tests.support.sessions import USER_PASSWORD, bearer, register, token_of

ROLES = {
    "viewer": RoleName.NRF_VIEWER.value,
    "editor": RoleName.NRF_EDITOR.value,
    "admin": RoleName.NRF_ADMIN.value,
    "owner": RoleName.NRF_OWNER.value,
}


async def api_key(
    services: Services, client: httpx.AsyncClient, role: str, tenant: str = "t1", name: str | None = None
) -> dict[str, str]:
    """Bearer headers of a new member of `tenant` with the nRF Cloud role."""
    username = name or f"nrf-{role}"
    await services.identity.create_user(tenant, username, USER_PASSWORD, (ROLES[role],))
    return bearer(await token_of(client, f"{tenant}/{username}"))


async def new_token(services: Services, tenant: str = "t1", device: str | None = None) -> tuple[str, str]:
    """(device UUID, claim token) with the device's key registered in `tenant`."""
    key, device = device_key(), device or new_uuid()
    await register_key(services, key, device, tenant)
    token = mint(key, device)
    register(token)
    return device, token


def assert_nrf_error(response: httpx.Response, status: int, message: str = "", code: int | None = None) -> Any:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["message"], str), body
    assert message in body["message"], body
    assert body["code"] == (code if code is not None else status * 100), body
    return body
