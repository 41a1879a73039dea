"""Request authentication on every surface: HTTP Basic as Cumulocity clients send it
(`tenant/user:password` or `user:password`), and API tokens from /api/login as
`Authorization: Bearer <token>` or as Connectware's plain `Authorization: <token>`, and, when no
Authorization header is sent, a verified client certificate (http/client_cert.py: the TLS handshake
of `admittance serve`, or a trusted proxy's header) mapped to its user by the CertificateService.

A bare user name belongs to the tenant named by the first label of the Host header when such a
tenant exists (t1.example.com -> t1), else to the configured default tenant.

Tokens are never taken from the query string (`?apiToken=`, which Connectware accepts): query
strings end up in access logs, proxy logs and browser history (docs/compat/connectware/sessions.md).
A principal whose MFA enrollment is enforced but not done may call only the enrollment endpoints.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from dataclasses import dataclass

from starlette.requests import Request

from admittance.http.client_cert import verified_client_certificate
from admittance.http.state import AppState
from admittance.identity import PresentedCredentials
from admittance.identity.sessions import TokenSession, looks_like_token
from admittance.kernel.errors import PermissionDenied
from admittance.kernel.principal import Principal

_TENANT_CACHE_SECONDS = 30.0
_TENANT_LABEL = re.compile(r"[a-z][a-z0-9-]{0,62}")
# What a principal with MFA enrollment pending may call: its session and the enrollment itself.
ENROLLMENT_ENDPOINTS = frozenset({("GET", "/api/session"), ("POST", "/api/mfa/enable"), ("POST", "/api/mfa/validate")})
ENROLLMENT_REQUIRED = (
    "MFA enrollment is required for this account: enroll with POST /api/mfa/enable and POST /api/mfa/validate"
)


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated request: its principal, and its token session (None for Basic)."""

    principal: Principal
    session: TokenSession | None


def presented_token(request: Request) -> str | None:
    """The API token of the Authorization header (Bearer, or plain with the token prefix), if any."""
    header = request.headers.get("authorization", "").strip()
    scheme, _, rest = header.partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip()
    if looks_like_token(header) and " " not in header:
        return header
    return None


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

    async def caller(self, request: Request) -> Caller:
        services = self._state.services
        # Checked on every request: a proxy's client-certificate header from an untrusted address is
        # refused (403) even when the request also has an Authorization header.
        certificate = verified_client_certificate(request, services.settings)
        token = presented_token(request)
        if token is not None:
            session = await services.sessions.session_for_token(token, client_address(request))
            caller = Caller(session.principal, session)
        elif certificate is not None and "authorization" not in request.headers:
            # A verified client certificate authenticates only when no Authorization header is sent.
            principal = await services.certificates.principal_for_certificate(certificate, client_address(request))
            caller = Caller(principal, None)
        else:
            principal = await self._state.services.identity.authenticate(await self.presented_or_reject(request))
            caller = Caller(principal, None)
        if caller.principal.mfa_enrollment_pending and (request.method, request.url.path) not in ENROLLMENT_ENDPOINTS:
            raise PermissionDenied(ENROLLMENT_REQUIRED)
        return caller

    async def principal(self, request: Request) -> Principal:
        return (await self.caller(request)).principal

    async def account_of(self, request: Request, user: str) -> tuple[str, str]:
        """`tenant/user`, or a bare user name in the tenant of the Host (as for Basic)."""
        tenant, slash, username = user.partition("/")
        if not slash:
            return await self._tenant_from_host(request), user
        return tenant, username

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
