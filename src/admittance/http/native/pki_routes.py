"""The device PKI on Admittance's own API (/admittance/v1). Errors are RFC 9457 problem documents.

Public: the CA chain (`/pki/ca.pem`) and the CRL (`/pki/crl` DER, `/pki/crl.pem`). Authenticated:
issued certificates of the caller's tenant (list, one by serial, revoke), each behind the one
permission policy on method and path. Renewal (`/certificates/renew`) is authenticated by the
holder's certificate: the verified client certificate of the connection (or a trusted proxy's
header); without one, the certificate in the body, accepted only when the CSR carries the same key
(the CSR's signature then proves possession of the private key).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from starlette.requests import Request
from starlette.responses import Response

from admittance.http.basic_auth import Identity, client_address
from admittance.http.body import read_json_object
from admittance.http.client_cert import ClientCertificates
from admittance.http.fields import Blank, Fields, malformed
from admittance.http.links import Links
from admittance.http.paging import offset_page, page_request
from admittance.http.params import path_text, query
from admittance.http.surface import Access, Row, guarded, public
from admittance.http.times import utc_millis_or_none
from admittance.kernel.clock import Clock
from admittance.kernel.errors import MalformedInput
from admittance.kernel.principal import Principal
from admittance.pki.csr import parse_csr, public_key_sha256
from admittance.pki.issuing import IssuingService
from admittance.pki.model import IssuedCertificate
from admittance.pki.revocation import RevocationService
from admittance.pki.trust_store import TrustStoreService

PREFIX = "/admittance/v1"
JSON = "application/json"
_PUBLIC_CACHE = {"cache-control": "public, max-age=300"}


def routes(certificates: Certificates, permitted: Access) -> list[Row]:
    """The CA chain, the CRL and renewal are public (renewal proves possession itself); the issued
    certificates pass the one permission policy on method and path (`permitted`)."""
    return [
        public("GET", f"{PREFIX}/pki/ca.pem", certificates.ca_pem),
        public("GET", f"{PREFIX}/pki/crl", certificates.crl_der),
        public("GET", f"{PREFIX}/pki/crl.pem", certificates.crl_pem),
        guarded("GET", f"{PREFIX}/certificates", certificates.list, permitted),
        public("POST", f"{PREFIX}/certificates/renew", certificates.renew),
        guarded("GET", f"{PREFIX}/certificates/{{serial}}", certificates.get, permitted),
        guarded("POST", f"{PREFIX}/certificates/{{serial}}/revoke", certificates.revoke, permitted),
    ]


def issued_document(issued: IssuedCertificate, base: str, now: datetime) -> dict[str, Any]:
    if issued.revoked:
        status = "revoked"
    elif now >= issued.not_after:
        status = "expired"
    else:
        status = "valid"
    return {
        "serial": issued.serial,
        "self": f"{base}{PREFIX}/certificates/{issued.serial}",
        "tenantId": issued.tenant_id,
        "owner": issued.owner,
        "subject": issued.subject,
        "status": status,
        "notBefore": utc_millis_or_none(issued.not_before),
        "notAfter": utc_millis_or_none(issued.not_after),
        "issuedVia": issued.issued_via,
        "fingerprints": {"sha1": issued.sha1, "sha256": issued.sha256},
        "publicKeySha256": issued.public_key_sha256,
        "revokedAt": utc_millis_or_none(issued.revoked_at),
        "revocationReason": issued.revocation_reason,
        "certificate": issued.certificate_pem,
    }


def _json(document: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(document), status, headers=headers, media_type=JSON)


FIELDS = Fields(
    wrong_type=malformed,
    missing=malformed,
    not_text="{} must be a non-empty string",
    required="{} must be a non-empty string",
    blank=Blank.REFUSED,
)


class Certificates:
    """The device PKI: its public CA chain and CRL, issued certificates, renewal."""

    def __init__(
        self,
        certificates: IssuingService,
        revocation: RevocationService,
        trust_store: TrustStoreService,
        identity: Identity,
        client_certificates: ClientCertificates,
        clock: Clock,
        links: Links,
        max_body_bytes: int,
    ) -> None:
        self._certificates = certificates
        self._revocation = revocation
        self._trust_store = trust_store
        self._identity = identity
        self._client_certificates = client_certificates
        self._clock = clock
        self._links = links
        self._max_body_bytes = max_body_bytes

    async def ca_pem(self, _request: Request) -> Response:
        text = await self._trust_store.ca_pem()
        return Response(text, 200, media_type="application/pem-certificate-chain", headers=_PUBLIC_CACHE)

    async def crl_der(self, _request: Request) -> Response:
        der = await self._revocation.crl_der()
        return Response(der, 200, media_type="application/pkix-crl", headers=_PUBLIC_CACHE)

    async def crl_pem(self, _request: Request) -> Response:
        text = await self._revocation.crl_pem()
        return Response(text, 200, media_type="application/x-pem-file", headers=_PUBLIC_CACHE)

    async def list(self, request: Request, principal: Principal) -> Response:
        owner = query(request, "owner") or None
        page = await self._certificates.list_issued(principal, owner, page_request(request))
        now, base = self._clock.now(), self._links.base(request)
        items = [issued_document(item, base, now) for item in page.items]
        return _json(offset_page(page, f"{base}{PREFIX}/certificates", "certificates", items))

    async def get(self, request: Request, principal: Principal) -> Response:
        issued = await self._certificates.get_issued(principal, path_text(request, "serial"))
        return _json(issued_document(issued, self._links.base(request), self._clock.now()))

    async def revoke(self, request: Request, principal: Principal) -> Response:
        body = await read_json_object(request, self._max_body_bytes)
        reason = FIELDS.text(body, "reason") or "unspecified"
        issued = await self._revocation.revoke(principal, path_text(request, "serial"), reason)
        return _json(issued_document(issued, self._links.base(request), self._clock.now()))

    async def renew(self, request: Request) -> Response:
        source = client_address(request)
        holder = self._client_certificates.verified(request)
        body = await read_json_object(request, self._max_body_bytes)
        csr = parse_csr(FIELDS.required_text(body, "csr"))
        if holder is None:
            holder = await self._holder_in_body(body, csr, source)
        renewed = await self._certificates.renew(holder, csr, source=source)
        document = issued_document(renewed, self._links.base(request), self._clock.now())
        return _json(document, 201, {"location": document["self"]})

    async def _holder_in_body(self, body: dict[str, Any], csr: x509.CertificateSigningRequest, source: str) -> bytes:
        """Without a verified client certificate: the one in the body, when the CSR has its key (the
        CSR's signature then proves possession of the private key)."""
        presented = FIELDS.text(body, "certificate")
        if presented is None:
            await self._identity.reject_malformed(source, "renewal without a certificate")
        try:
            certificate = x509.load_pem_x509_certificate(presented.strip().encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise MalformedInput("certificate must be one PEM certificate", field="certificate") from None
        if public_key_sha256(certificate.public_key()) != public_key_sha256(csr.public_key()):
            await self._identity.reject_malformed(source, "renewal with a body certificate and another key")
        return certificate.public_bytes(serialization.Encoding.DER)
