"""EST (RFC 7030) for Cumulocity certificate enrollment, under /.well-known/est/.

GET  /.well-known/est/cacerts          the CA chain, no authentication
POST /.well-known/est/simpleenroll     Basic `<externalId>:<one-time password>` (no tenant), a PKCS#10 CSR
POST /.well-known/est/simplereenroll   the current client certificate (TLS or a trusted proxy's header)

Requests: `Content-Type: application/pkcs10`, the CSR as base64 of DER (line breaks allowed, as
with `Content-Transfer-Encoding: base64`); raw DER and PEM are accepted too. Answers:
`application/pkcs7-mime; smime-type=certs-only`, base64 (RFC 2045 lines of 64 characters) of a
DER PKCS#7 certs-only structure with `Content-Transfer-Encoding: base64`. Errors are JSON bodies
with `message`, as Cumulocity answers them (docs/compat/cumulocity-est.md).
"""

from __future__ import annotations

import base64
import binascii
import time

import orjson
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from starlette.requests import Request
from starlette.responses import Response

from admittance.devices.enrollment import EnrollmentAttempt, EstService
from admittance.http.basic_auth import Identity, client_address
from admittance.http.body import read_body
from admittance.http.client_cert import ClientCertificates
from admittance.http.errors import Problem, retry_after
from admittance.http.params import header, media_type
from admittance.http.surface import Row, Surface, public
from admittance.kernel.errors import RateLimited, Unauthenticated, UnsupportedMediaType
from admittance.pki.csr import MAX_CSR_BYTES

PREFIX = "/.well-known/est"
CACERTS = PREFIX + "/cacerts"
SIMPLE_ENROLL = PREFIX + "/simpleenroll"
SIMPLE_REENROLL = PREFIX + "/simplereenroll"
PKCS7_MEDIA_TYPE = "application/pkcs7-mime; smime-type=certs-only"
_CSR_MEDIA_TYPES = frozenset({"application/pkcs10", "application/x-pkcs10", ""})
_CACERTS_CACHE_SECONDS = 30.0
INFO = "https://cumulocity.com/docs/device-certificate-authentication/device-enroll-and-re-enroll"
# One answer for every failed simpleenroll authentication (unknown id, wrong or used password):
# Cumulocity's words for an unknown id, which fit each of them.
ENROLL_UNAUTHORIZED = (
    "No newDeviceRequest found for this ID and one-time password. It may already be registered, "
    "or the one-time password is wrong."
)
REENROLL_UNAUTHORIZED = "A current client certificate issued by this server is required"


def routes(enrollment: Enrollment) -> list[Row]:
    """EST authenticates with a one-time password or a client certificate, never a user's Basic."""
    return [
        public("GET", CACERTS, enrollment.cacerts),
        public("POST", SIMPLE_ENROLL, enrollment.simpleenroll),
        public("POST", SIMPLE_REENROLL, enrollment.simplereenroll),
    ]


def pkcs7_body(certificates: list[x509.Certificate]) -> bytes:
    """Base64 (64-character lines) of the DER PKCS#7 certs-only structure holding `certificates`."""
    der = pkcs7.serialize_certificates(certificates, serialization.Encoding.DER)
    encoded = base64.b64encode(der)
    return b"".join(encoded[i : i + 64] + b"\n" for i in range(0, len(encoded), 64))


def pkcs7_response(certificates: list[x509.Certificate]) -> Response:
    return Response(
        pkcs7_body(certificates),
        200,
        headers={"content-transfer-encoding": "base64"},
        media_type=PKCS7_MEDIA_TYPE,
    )


def render(request: Request, problem: Problem) -> Response:
    """EST errors: JSON {error, message, info} as Cumulocity answers them (RFC 7030 allows any body);
    a refused CSR is 400 (RFC 7030 4.2.3), never 422."""
    status = 400 if problem.status == 422 else problem.status
    message = problem.message
    if isinstance(problem.error, Unauthenticated):
        path: str = request.scope["path"]
        message = REENROLL_UNAUTHORIZED if path == SIMPLE_REENROLL else ENROLL_UNAUTHORIZED
    body = {"error": _error_name(status, problem), "message": message, "info": INFO}
    headers = retry_after(problem)
    if status == 401:
        headers["www-authenticate"] = 'Basic realm="EST"'
    return Response(orjson.dumps(body), status, headers=headers, media_type="application/json")


def _error_name(status: int, problem: Problem) -> str:
    if isinstance(problem.error, Unauthenticated):
        return "security/Unauthorized"
    if isinstance(problem.error, RateLimited):
        return "security/tooManyRequests"
    return {
        400: "est/badRequest",
        403: "security/Forbidden",
        404: "general/notFound",
        405: "general/methodNotAllowed",
        409: "est/Duplicate",
        413: "general/requestEntityTooLarge",
        415: "general/unsupportedMediaType",
        503: "general/serviceUnavailable",
    }.get(status, "general/internalError")


def enrollment_attempt(request: Request) -> EnrollmentAttempt | None:
    """Basic `<externalId>:<one-time password>`: the whole user part is the id (no tenant prefix;
    an external id may contain '/'). None when there is no usable Basic header."""
    scheme, _, encoded = (header(request, "authorization") or "").partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    device_id, sep, password = decoded.partition(":")
    if not sep or not device_id or not password or "\x00" in decoded:
        return None
    return EnrollmentAttempt(device_id, password, client_address(request))


async def csr_body(request: Request) -> bytes:
    content_type = media_type(request)
    if content_type not in _CSR_MEDIA_TYPES:
        raise UnsupportedMediaType(f"Unsupported media type {content_type}: send application/pkcs10")
    # base64 grows the DER by a third, and line breaks add a little more.
    return await read_body(request, MAX_CSR_BYTES * 2)


class Enrollment:
    """The EST endpoints: a one-time password or the current certificate, then a CSR."""

    def __init__(self, est: EstService, identity: Identity, client_certificates: ClientCertificates) -> None:
        self._est = est
        self._identity = identity
        self._client_certificates = client_certificates
        self._cacerts: tuple[float, bytes] | None = None

    async def cacerts(self, _request: Request) -> Response:
        # Unauthenticated and public: the encoded chain is kept briefly so that a flood costs nothing.
        now = time.monotonic()
        hit = self._cacerts
        if hit is None or now - hit[0] > _CACERTS_CACHE_SECONDS:
            hit = self._cacerts = (now, pkcs7_body(await self._est.ca_certificates()))
        return Response(hit[1], 200, headers={"content-transfer-encoding": "base64"}, media_type=PKCS7_MEDIA_TYPE)

    async def simpleenroll(self, request: Request) -> Response:
        attempt = enrollment_attempt(request)
        if attempt is None:
            await self._identity.reject_malformed(client_address(request), "EST: no usable Basic credentials")
        data = await csr_body(request)
        issued = await self._est.enroll(attempt, data)
        return pkcs7_response([issued.certificate()])

    async def simplereenroll(self, request: Request) -> Response:
        holder = self._client_certificates.verified(request)
        if holder is None:
            await self._identity.reject_malformed(client_address(request), "EST: no client certificate")
        data = await csr_body(request)
        issued = await self._est.reenroll(holder, data, client_address(request))
        return pkcs7_response([issued.certificate()])


def surface(est: EstService, identity: Identity, client_certificates: ClientCertificates) -> Surface:
    return Surface("est", [PREFIX], routes(Enrollment(est, identity, client_certificates)), render)
