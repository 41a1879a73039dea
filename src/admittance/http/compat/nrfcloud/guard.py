"""Who may call a /v1 management endpoint: Bearer API keys (`adm_` tokens from /api/login) or
Basic, authorized by the one access policy on the request's method and path (kernel/access.py:
the nrf-cloud-viewer/editor/admin/owner roles; connectware-admin covers /v1 too)."""

from __future__ import annotations

from starlette.requests import Request

from admittance.http.basic_auth import BasicAuthenticator
from admittance.kernel.principal import Principal


class Guard:
    def __init__(self, auth: BasicAuthenticator) -> None:
        self._auth = auth

    @property
    def auth(self) -> BasicAuthenticator:
        return self._auth

    async def permitted(self, request: Request) -> Principal:
        """An authenticated caller allowed this method on this path (else 401/403)."""
        principal = await self._auth.principal(request)
        principal.require_request(request.method, request.url.path)
        return principal
