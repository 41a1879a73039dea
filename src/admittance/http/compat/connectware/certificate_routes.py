"""The trusted CA store of the Connectware-compatible surface: /api/certificates (seed JSON exactly).

GET lists every trusted certificate (the device CA, its chain, the CAs operators added); POST adds
CA certificates from a JSON string of PEM text and answers the list; GET /content?id= answers one
certificate's PEM as text/plain; DELETE removes an added one (the device CA and its chain: 422).
Every endpoint passes the one permission policy on method and path first (Guard.permitted).
"""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admittance.http.body import is_json_media_type, parse_json, path_text, read_body
from admittance.http.compat.connectware import representations as rep
from admittance.http.guard import Guard
from admittance.http.state import AppState
from admittance.kernel.clock import to_millis
from admittance.kernel.errors import MalformedInput, NotFound, UnsupportedMediaType
from admittance.pki.model import TrustedCertificate
from admittance.pki.trust_store import TrustStoreService

_KEY_USAGES = (
    ("digital_signature", "digitalSignature"),
    ("content_commitment", "nonRepudiation"),
    ("key_encipherment", "keyEncipherment"),
    ("data_encipherment", "dataEncipherment"),
    ("key_agreement", "keyAgreement"),
    ("key_cert_sign", "keyCertSign"),
    ("crl_sign", "cRLSign"),
)
_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
}
_TEXT_TYPES = ("text/plain", "application/x-pem-file", "application/pem-certificate-chain")


def _first(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    found = name.get_attributes_for_oid(oid)
    if not found:
        return None
    value = found[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _party(name: x509.Name) -> dict[str, Any]:
    return {
        "commonName": _first(name, NameOID.COMMON_NAME),
        "organization": _first(name, NameOID.ORGANIZATION_NAME),
        "organizationalUnit": _first(name, NameOID.ORGANIZATIONAL_UNIT_NAME),
    }


def _extension(certificate: x509.Certificate, kind: type[x509.ExtensionType]) -> Any:
    try:
        return certificate.extensions.get_extension_for_class(kind).value
    except (x509.ExtensionNotFound, ValueError):
        return None


def _alternative_names(certificate: x509.Certificate) -> list[str]:
    names = _extension(certificate, x509.SubjectAlternativeName)
    if names is None:
        return []
    found: list[str] = []
    for general in names:
        if isinstance(general, x509.DirectoryName):
            found.append(general.value.rfc4514_string())
        elif isinstance(general, x509.OtherName):
            found.append(general.type_id.dotted_string)
        else:
            found.append(str(general.value))
    return found


def _key_usage(certificate: x509.Certificate) -> list[str]:
    usage = _extension(certificate, x509.KeyUsage)
    if usage is None:
        return []
    names = [name for attribute, name in _KEY_USAGES if getattr(usage, attribute)]
    if usage.key_agreement:
        names += [
            name
            for flag, name in ((usage.encipher_only, "encipherOnly"), (usage.decipher_only, "decipherOnly"))
            if flag
        ]
    return names


def certificate_document(trusted: TrustedCertificate) -> dict[str, Any]:
    """The seed's certificate JSON. Absent name parts are null; times are epoch milliseconds;
    fingerprints lower-case hex without separators."""
    certificate = trusted.certificate()
    constraints = _extension(certificate, x509.BasicConstraints)
    eku = _extension(certificate, x509.ExtendedKeyUsage)
    return {
        "id": trusted.id,
        "issuedBy": _party(certificate.issuer),
        "issuedTo": {**_party(certificate.subject), "alternativeNames": _alternative_names(certificate)},
        "keyUsage": _key_usage(certificate),
        "extendedKeyUsage": [_EKU_NAMES.get(oid, oid.dotted_string) for oid in eku] if eku is not None else [],
        "basicConstraints": {
            "isCA": bool(constraints.ca) if constraints is not None else False,
            "pathLength": constraints.path_length if constraints is not None else None,
        },
        "issuedOn": to_millis(certificate.not_valid_before_utc),
        "expiresOn": to_millis(certificate.not_valid_after_utc),
        "fingerprints": {"sha1": trusted.sha1, "sha256": trusted.sha256},
        "removable": trusted.removable,
    }


async def pem_body(request: Request, max_bytes: int) -> str:
    """The body: a JSON string holding PEM text (the seed), or the PEM text itself (text/plain)."""
    content_type = request.headers.get("content-type")
    raw = await read_body(request, max_bytes)
    base = (content_type or "").split(";", 1)[0].strip().lower()
    if base in _TEXT_TYPES:
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise MalformedInput("PEM text must be ASCII") from None
    if not is_json_media_type(content_type):
        raise UnsupportedMediaType(f"Unsupported media type {content_type}: send a JSON string of PEM text")
    document = parse_json(raw)
    if isinstance(document, dict) and isinstance(document.get("certificate"), str):
        document = document["certificate"]
    if not isinstance(document, str):
        raise MalformedInput("The request body must be a JSON string holding PEM certificates")
    return document


def routes(state: AppState, guard: Guard) -> list[BaseRoute]:
    def certificates() -> TrustStoreService:
        return state.services.trust_store

    async def list_certificates(request: Request) -> Response:
        principal = await guard.permitted(request)
        found = await certificates().list_trusted(principal)
        return rep.json_response([certificate_document(item) for item in found])

    async def add_certificates(request: Request) -> Response:
        principal = await guard.permitted(request)
        text = await pem_body(request, state.services.settings.max_body_bytes)
        found = await certificates().add_trusted(principal, text)
        return rep.json_response([certificate_document(item) for item in found])

    def query_id(request: Request) -> str:
        value = request.query_params.get("id")
        if not value:
            raise MalformedInput("the query parameter id is required")
        if "\x00" in value:
            raise NotFound("No trusted certificate with that id")
        return value

    async def content(request: Request) -> Response:
        principal = await guard.permitted(request)
        text = await certificates().trusted_pem(principal, query_id(request))
        return Response(text, 200, media_type="text/plain")

    async def remove(request: Request) -> Response:
        principal = await guard.permitted(request)
        certificate_id = path_text(request, "id") if "id" in request.path_params else query_id(request)
        await certificates().remove_trusted(principal, certificate_id)
        return rep.no_content()

    return [
        Route("/api/certificates", list_certificates, methods=["GET"]),
        Route("/api/certificates", add_certificates, methods=["POST"]),
        Route("/api/certificates", remove, methods=["DELETE"]),
        Route("/api/certificates/content", content, methods=["GET"]),
        Route("/api/certificates/{id}", remove, methods=["DELETE"]),
    ]
