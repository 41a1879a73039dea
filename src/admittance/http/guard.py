"""The access rules a surface's mount applies before its guarded endpoints (http/surface.py): the one
access policy (ADR 0007) on the request's method and path, or authentication alone, after Basic,
Bearer token or client certificate."""

from __future__ import annotations

from starlette.requests import Request

from admittance.http.basic_auth import BasicAuthenticator
from admittance.kernel.principal import Principal


class Guard:
    def __init__(self, auth: BasicAuthenticator) -> None:
        self._auth = auth

    async def permitted(self, request: Request) -> Principal:
        """An authenticated caller whose permissions allow this method on this path (else 401/403)."""
        principal = await self._auth.principal(request)
        principal.require_request(request.method, request.url.path)
        return principal

    async def authenticated(self, request: Request) -> Principal:
        """Any authenticated caller: for what every user may do to their own account (session, MFA,
        change of their own password)."""
        return await self._auth.principal(request)
