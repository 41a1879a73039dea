"""Who may call an endpoint of the /api and /v1 surfaces: the one access policy (ADR 0007), applied
to the request's method and path, after authentication by Basic, Bearer token or client certificate."""

from __future__ import annotations

from starlette.requests import Request

from admittance.http.basic_auth import BasicAuthenticator, Caller
from admittance.kernel.principal import Principal


class Guard:
    def __init__(self, auth: BasicAuthenticator) -> None:
        self._auth = auth

    @property
    def auth(self) -> BasicAuthenticator:
        return self._auth

    async def caller(self, request: Request) -> Caller:
        """Any authenticated caller, with its token session (None for Basic)."""
        return await self._auth.caller(request)

    async def permitted(self, request: Request) -> Principal:
        """An authenticated caller whose permissions allow this method on this path (else 401/403)."""
        principal = await self._auth.principal(request)
        principal.require_request(request.method, request.url.path)
        return principal

    async def authenticated(self, request: Request) -> Principal:
        """Any authenticated caller: for what every user may do to their own account (session, MFA,
        change of their own password)."""
        return await self._auth.principal(request)
