"""Request authentication on every surface: HTTP Basic as Cumulocity clients send it
(`tenant/user:password` or `user:password`), and API tokens from /api/login as
`Authorization: Bearer <token>` or as Connectware's plain `Authorization: <token>`, and, when no
Authorization header is sent, a verified client certificate (http/client_cert.py: the TLS handshake
of `admittance serve`, or a trusted proxy's header) mapped to its user by the IssuingService.

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
from typing import NoReturn, Protocol

from starlette.requests import Request

from admittance.http.client_cert import ClientCertificates
from admittance.http.params import has_header, header
from admittance.identity import PresentedCredentials
from admittance.identity.model import Door
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
    sent = (header(request, "authorization") or "").strip()
    scheme, _, rest = sent.partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip()
    if looks_like_token(sent) and " " not in sent:
        return sent
    return None


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class Identity(Protocol):
    """What the authenticator needs of the identity context: Basic credentials and tenants."""

    async def authenticate(self, presented: PresentedCredentials) -> Principal: ...
    async def reject_malformed(self, source: str, reason: str) -> NoReturn: ...
    async def tenant_exists(self, tenant_id: str) -> bool: ...


class Contacts(Protocol):
    """Where successful authentications are recorded (identity's LastSeenRecorder; no I/O)."""

    def seen(self, tenant_id: str, subject: str, door: Door, address: str | None = None) -> None: ...


class Tokens(Protocol):
    async def session_for_token(self, token: str, source: str) -> TokenSession: ...


class CertificateOwners(Protocol):
    async def principal_for_certificate(self, der: bytes, source: str) -> Principal: ...


class BasicAuthenticator:
    """Turns a request into its principal: a token, a verified client certificate (only without an
    Authorization header) or Basic credentials, in that order."""

    def __init__(
        self,
        identity: Identity,
        tokens: Tokens,
        certificate_owners: CertificateOwners,
        client_certificates: ClientCertificates,
        default_tenant: str,
        contacts: Contacts | None = None,
    ) -> None:
        self._contacts = contacts
        self._identity = identity
        self._tokens = tokens
        self._certificate_owners = certificate_owners
        self._client_certificates = client_certificates
        self._default_tenant = default_tenant
        self._host_tenants: dict[str, tuple[float, str]] = {}

    async def presented(self, request: Request) -> PresentedCredentials | None:
        """The credentials in the Authorization header, or None when there are none usable."""
        scheme, _, encoded = (header(request, "authorization") or "").partition(" ")
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
            await self._identity.reject_malformed(client_address(request), "no usable Basic credentials")
        return presented

    async def caller(self, request: Request) -> Caller:
        # Checked on every request: a proxy's client-certificate header from an untrusted address is
        # refused (403) even when the request also has an Authorization header.
        certificate = self._client_certificates.verified(request)
        token = presented_token(request)
        if token is not None:
            session = await self._tokens.session_for_token(token, client_address(request))
            caller = Caller(session.principal, session)
        elif certificate is not None and not has_header(request, "authorization"):
            # A verified client certificate authenticates only when no Authorization header is sent.
            principal = await self._certificate_owners.principal_for_certificate(certificate, client_address(request))
            caller = Caller(principal, None)
        else:
            principal = await self._identity.authenticate(await self.presented_or_reject(request))
            caller = Caller(principal, None)
        principal = caller.principal
        if principal.mfa_enrollment_pending and (request.method, request.url.path) not in ENROLLMENT_ENDPOINTS:
            raise PermissionDenied(ENROLLMENT_REQUIRED)
        if self._contacts is not None:
            self._contacts.seen(principal.tenant_id, principal.username, Door.HTTP, client_address(request))
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
        host = (header(request, "host") or "").split(":", 1)[0]
        label = host.split(".", 1)[0].lower()
        if not _TENANT_LABEL.fullmatch(label):
            return self._default_tenant
        now = time.monotonic()
        cached = self._host_tenants.get(label)
        if cached is not None and now - cached[0] < _TENANT_CACHE_SECONDS:
            return cached[1]
        tenant = label if await self._identity.tenant_exists(label) else self._default_tenant
        if len(self._host_tenants) > 10_000:
            self._host_tenants.clear()
        self._host_tenants[label] = (now, tenant)
        return tenant
