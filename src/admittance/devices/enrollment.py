"""EST (RFC 7030) certificate enrollment for Cumulocity devices: the CA chain, first enrollment with
a one-time password, re-enrollment with the current certificate.

First enrollment (`simpleenroll`): the device presents its external id and the one-time password
an operator gave it (a bulk row's ENROLLMENT_OTP, or a single registration's enrollmentToken; only
their keyed digests are stored) with a CSR whose CN is the external id. When the registration
request exists, is not BLOCKED and carries that password, one transaction consumes the request
(so the password works exactly once: a compare-and-set DELETE decides between concurrent
attempts), creates the device user `device_<id>` (or enables the existing device user) with the
`certificate` grant type, and issues the certificate. The operator who set the password has
already decided, so a request still WAITING_FOR_CONNECTION or PENDING_ACCEPTANCE enrolls as well
as an ACCEPTED one (bulk certificate rows are ACCEPTED from the start).

Every authentication failure (unknown id, wrong, used or missing password, BLOCKED request) is the
Authenticator's uniform one: same error, same minimum delay, counted against the account name and
the source address (the one-time-password lockout), audited. A bad CSR is refused only after the
password was checked, and leaves the password usable.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import NoReturn, Protocol

from cryptography import x509

from admittance.audit import AuditEvent, AuditTag
from admittance.devices.model import (
    MAX_DEVICE_ID_BYTES,
    RegistrationRequest,
    RegistrationStatus,
    device_username,
)
from admittance.devices.store import RegistrationStore
from admittance.identity.authentication import Authenticator
from admittance.kernel.clock import Clock
from admittance.kernel.errors import Unauthenticated
from admittance.kernel.principal import MANAGEMENT_TENANT, Role
from admittance.kernel.secrets import Pepper, random_password
from admittance.kernel.storage import Storage
from admittance.kernel.text import has_control_chars
from admittance.pki.csr import check_csr, parse_csr
from admittance.pki.issuing import CertificateIssuer
from admittance.pki.model import IssuedCertificate, IssuedVia
from admittance.pki.store import PkiTransaction

ENROLLMENT_PURPOSE = "enrollment-token"  # the Pepper purpose of registration_requests.enrollment_token_digest
ENROLLABLE = frozenset(
    {RegistrationStatus.WAITING_FOR_CONNECTION, RegistrationStatus.PENDING_ACCEPTANCE, RegistrationStatus.ACCEPTED}
)
_DUMMY_DIGEST = "0" * 64  # compared against when there is nothing to compare: the same work either way


class EnrollmentStore(Protocol):
    async def take_for_enrollment(
        self, request_id: str, *, status: RegistrationStatus, enrollment_token_digest: str
    ) -> RegistrationRequest | None:
        """Delete the request if it still has that status and digest, and return it: the exactly-once
        step (of concurrent callers, one gets the request, the others None)."""
        ...

    async def enable_certificate_user(self, tenant_id: str, username: str, password_hash: str, role: str) -> None:
        """Create the device user (with `password_hash` and only the certificate grant type), or
        enable the existing device user and add the certificate grant type to its own; grant
        `role`. Conflict when the name belongs to a user who is not a device."""
        ...


class EnrollmentTransaction(PkiTransaction, Protocol):
    @property
    def registrations(self) -> RegistrationStore: ...

    @property
    def enrollment(self) -> EnrollmentStore: ...


@dataclass(frozen=True, slots=True)
class EnrollmentAttempt:
    """What a device presented to simpleenroll. The password never reaches a log line."""

    device_id: str
    one_time_password: str
    source: str  # client address

    def __repr__(self) -> str:
        return f"EnrollmentAttempt({self.device_id} from {self.source})"


class EstService:
    def __init__(
        self,
        storage: Storage[EnrollmentTransaction],
        certificates: CertificateIssuer,
        authenticator: Authenticator,
        pepper: Pepper,
        clock: Clock,
    ) -> None:
        self._storage = storage
        self._certificates = certificates
        self._authenticator = authenticator
        self._pepper = pepper
        self._clock = clock

    async def ca_certificates(self) -> list[x509.Certificate]:
        """The issuing CA first, then its chain up to the root (GET /.well-known/est/cacerts)."""
        return await self._certificates.ca_certificates()

    async def enroll(self, attempt: EnrollmentAttempt, csr_data: bytes) -> IssuedCertificate:
        """simpleenroll: a certificate for `device_<id>`, once per one-time password."""
        started = self._authenticator.started()
        request = await self._find(attempt.device_id)
        tenant_id = request.tenant_id if request is not None else MANAGEMENT_TENANT
        username = device_username(attempt.device_id)
        self._authenticator.check_otp(tenant_id, username, attempt.source)
        digest = self._pepper.digest(ENROLLMENT_PURPOSE, attempt.one_time_password)
        stored = request.enrollment_token_digest if request is not None else None
        matches = hmac.compare_digest(digest.encode(), (stored or _DUMMY_DIGEST).encode())
        reason = _refusal(request, matches)
        if request is None or reason is not None:
            await self._refuse(tenant_id, username, attempt.source, started, reason or "no registration request")
        # Authenticated: from here on a refusal says why, and leaves the password usable.
        csr = parse_csr(csr_data)
        check_csr(csr, attempt.device_id)
        issued = await self._issue(request, digest, username, csr)
        if issued is None:  # a concurrent enrollment consumed the password first
            await self._refuse(tenant_id, username, attempt.source, started, "one-time password already used")
        self._authenticator.otp_succeeded(tenant_id, username)
        return issued

    async def reenroll(self, holder_der: bytes, csr_data: bytes, source: str) -> IssuedCertificate:
        """simplereenroll: a new certificate for the holder of a current one (same CN and owner); the
        PKI checks the holder's certificate (ours, unrevoked, unexpired or within the grace period)."""
        csr = parse_csr(csr_data)
        return await self._certificates.renew(holder_der, csr, via=IssuedVia.RENEWAL.value, source=source)

    async def _find(self, device_id: str) -> RegistrationRequest | None:
        if not device_id or len(device_id.encode()) > MAX_DEVICE_ID_BYTES or has_control_chars(device_id, c1=True):
            return None  # no such id can be stored: no need to ask the database
        async with self._storage.read() as tx:
            return await tx.registrations.get(device_id)

    async def _issue(
        self, request: RegistrationRequest, digest: str, username: str, csr: x509.CertificateSigningRequest
    ) -> IssuedCertificate | None:
        async with self._storage.transaction() as tx:
            taken = await tx.enrollment.take_for_enrollment(
                request.id, status=request.status, enrollment_token_digest=digest
            )
            if taken is None:
                return None
            # A random password nobody learns: the user authenticates with certificates only.
            unusable = self._pepper.password_hash(random_password(32))
            await tx.enrollment.enable_certificate_user(taken.tenant_id, username, unusable, Role.DEVICE.value)
            issued = await self._certificates.issue_in(
                tx,
                csr,
                tenant_id=taken.tenant_id,
                owner=username,
                common_name=request.id,
                issued_via=IssuedVia.EST.value,
            )
            await tx.audit.record(
                AuditEvent(
                    AuditTag.CERTIFICATE_ENROLLED,
                    taken.tenant_id,
                    f"{taken.tenant_id}/{username}",
                    request.id,
                    self._clock.now(),
                    {"username": username, "serial": issued.serial, "status": taken.status.value},
                )
            )
        return issued

    async def _refuse(self, tenant_id: str, username: str, source: str, started: float, reason: str) -> NoReturn:
        await self._authenticator.fail_otp(
            tenant_id, username, source, started, "EST enrollment: " + reason, Unauthenticated(reason=reason)
        )


def _refusal(request: RegistrationRequest | None, matches: bool) -> str | None:
    """Why the presented one-time password does not open this request (None: it does)."""
    if request is None:
        return "no registration request"
    if request.enrollment_token_digest is None:
        return "the registration request has no one-time password"
    if not matches:
        return "wrong one-time password"
    if request.status not in ENROLLABLE:
        return f"the registration request is {request.status.value}"
    return None
