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
from starlette.routing import Route

from admittance.http.basic_auth import BasicAuthenticator, client_address
from admittance.http.body import path_text, read_json_object
from admittance.http.client_cert import verified_client_certificate
from admittance.http.compat.cumulocity.media import base_url
from admittance.http.paging import page_request
from admittance.http.state import AppState
from admittance.kernel.errors import MalformedInput
from admittance.kernel.paging import Page
from admittance.pki.csr import parse_csr, public_key_sha256
from admittance.pki.model import IssuedCertificate

PREFIX = "/admittance/v1"
JSON = "application/json"
_PUBLIC_CACHE = {"cache-control": "public, max-age=300"}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z") if moment else None


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
        "notBefore": _iso(issued.not_before),
        "notAfter": _iso(issued.not_after),
        "issuedVia": issued.issued_via,
        "fingerprints": {"sha1": issued.sha1, "sha256": issued.sha256},
        "publicKeySha256": issued.public_key_sha256,
        "revokedAt": _iso(issued.revoked_at),
        "revocationReason": issued.revocation_reason,
        "certificate": issued.certificate_pem,
    }


def _paged(page: Page[Any], items: list[Any], link: str) -> dict[str, Any]:
    size, current = page.request.size, page.request.page
    document: dict[str, Any] = {
        "self": f"{link}?pageSize={size}&currentPage={current}",
        "certificates": items,
        "statistics": {"currentPage": current, "pageSize": size},
    }
    if page.total is not None:
        document["statistics"]["totalElements"] = page.total
    if page.has_more:
        document["next"] = f"{link}?pageSize={size}&currentPage={current + 1}"
    if current > 1:
        document["prev"] = f"{link}?pageSize={size}&currentPage={current - 1}"
    return document


def _json(document: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(document), status, headers=headers, media_type=JSON)


def _text_field(body: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise MalformedInput(f"{name} must be a non-empty string", field=name)
    return value


def routes(state: AppState, auth: BasicAuthenticator) -> list[Route]:
    def base(request: Request) -> str:
        return base_url(request, state.services.settings.public_url)

    async def ca_pem(_request: Request) -> Response:
        text = await state.services.certificates.ca_pem()
        return Response(text, 200, media_type="application/pem-certificate-chain", headers=_PUBLIC_CACHE)

    async def crl_der(_request: Request) -> Response:
        der = await state.services.certificates.crl_der()
        return Response(der, 200, media_type="application/pkix-crl", headers=_PUBLIC_CACHE)

    async def crl_pem(_request: Request) -> Response:
        text = await state.services.certificates.crl_pem()
        return Response(text, 200, media_type="application/x-pem-file", headers=_PUBLIC_CACHE)

    async def list_certificates(request: Request) -> Response:
        principal = await auth.principal(request)
        principal.require_request(request.method, request.url.path)
        owner = request.query_params.get("owner") or None
        page = await state.services.certificates.list_issued(principal, owner, page_request(request))
        now = state.services.clock.now()
        items = [issued_document(item, base(request), now) for item in page.items]
        return _json(_paged(page, items, f"{base(request)}{PREFIX}/certificates"))

    async def get_certificate(request: Request) -> Response:
        principal = await auth.principal(request)
        principal.require_request(request.method, request.url.path)
        issued = await state.services.certificates.get_issued(principal, path_text(request, "serial"))
        return _json(issued_document(issued, base(request), state.services.clock.now()))

    async def revoke(request: Request) -> Response:
        principal = await auth.principal(request)
        principal.require_request(request.method, request.url.path)
        body = await read_json_object(request, state.services.settings.max_body_bytes)
        reason = _text_field(body, "reason", required=False) or "unspecified"
        issued = await state.services.certificates.revoke(principal, path_text(request, "serial"), reason)
        return _json(issued_document(issued, base(request), state.services.clock.now()))

    async def renew(request: Request) -> Response:
        services = state.services
        source = client_address(request)
        holder = verified_client_certificate(request, services.settings)
        body = await read_json_object(request, services.settings.max_body_bytes)
        csr_text = _text_field(body, "csr", required=True)
        assert csr_text is not None
        csr = parse_csr(csr_text)
        if holder is None:
            presented = _text_field(body, "certificate", required=False)
            if presented is None:
                await services.identity.reject_malformed(source, "renewal without a certificate")
            assert presented is not None
            try:
                certificate = x509.load_pem_x509_certificate(presented.strip().encode("ascii"))
            except (ValueError, UnicodeEncodeError):
                raise MalformedInput("certificate must be one PEM certificate", field="certificate") from None
            if public_key_sha256(certificate.public_key()) != public_key_sha256(csr.public_key()):
                await services.identity.reject_malformed(source, "renewal with a body certificate and another key")
            holder = certificate.public_bytes(serialization.Encoding.DER)
        renewed = await services.certificates.renew(holder, csr, source=source)
        document = issued_document(renewed, base(request), services.clock.now())
        return _json(document, 201, {"location": document["self"]})

    return [
        Route(f"{PREFIX}/pki/ca.pem", ca_pem, methods=["GET"]),
        Route(f"{PREFIX}/pki/crl", crl_der, methods=["GET"]),
        Route(f"{PREFIX}/pki/crl.pem", crl_pem, methods=["GET"]),
        Route(f"{PREFIX}/certificates", list_certificates, methods=["GET"]),
        Route(f"{PREFIX}/certificates/renew", renew, methods=["POST"]),
        Route(f"{PREFIX}/certificates/{{serial}}", get_certificate, methods=["GET"]),
        Route(f"{PREFIX}/certificates/{{serial}}/revoke", revoke, methods=["POST"]),
    ]
