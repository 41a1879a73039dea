"""HTTP Basic authentication as Cumulocity clients send it: `tenant/user:password` or `user:password`.

A bare user name belongs to the tenant named by the first label of the Host header when such a
tenant exists (t1.example.com -> t1), else to the configured default tenant.
"""

from __future__ import annotations

import base64
import binascii
import re
import time

from starlette.requests import Request

from admittance.http.state import AppState
from admittance.identity import PresentedCredentials
from admittance.kernel.principal import Principal

_TENANT_CACHE_SECONDS = 30.0
_TENANT_LABEL = re.compile(r"[a-z][a-z0-9-]{0,62}")


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class BasicAuthenticator:
    def __init__(self, state: AppState) -> None:
        self._state = state
        self._host_tenants: dict[str, tuple[float, str]] = {}

    async def presented(self, request: Request) -> PresentedCredentials | None:
        """The credentials in the Authorization header, or None when there are none usable."""
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded:
            return None
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, sep, password = decoded.partition(":")
        if not sep or not user or "\x00" in decoded:
            return None
        tenant, slash, username = user.partition("/")
        if not slash:
            tenant, username = await self._tenant_from_host(request), user
        return PresentedCredentials(tenant, username, password, client_address(request))

    async def presented_or_reject(self, request: Request) -> PresentedCredentials:
        presented = await self.presented(request)
        if presented is None:
            await self._state.services.identity.reject_malformed(client_address(request), "no usable Basic credentials")
        return presented

    async def principal(self, request: Request) -> Principal:
        return await self._state.services.identity.authenticate(await self.presented_or_reject(request))

    async def _tenant_from_host(self, request: Request) -> str:
        host = request.headers.get("host", "").split(":", 1)[0]
        label = host.split(".", 1)[0].lower()
        if not _TENANT_LABEL.fullmatch(label):
            return self._state.services.settings.default_tenant
        now = time.monotonic()
        cached = self._host_tenants.get(label)
        if cached is not None and now - cached[0] < _TENANT_CACHE_SECONDS:
            return cached[1]
        default = self._state.services.settings.default_tenant
        tenant = label if await self._state.services.identity.tenant_exists(label) else default
        if len(self._host_tenants) > 10_000:
            self._host_tenants.clear()
        self._host_tenants[label] = (now, tenant)
        return tenant
