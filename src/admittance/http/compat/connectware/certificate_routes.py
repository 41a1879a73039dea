"""The trusted CA store of the Connectware-compatible surface: /api/certificates (seed JSON exactly).

GET lists every trusted certificate (the device CA, its chain, the CAs operators added); POST adds
CA certificates from a JSON string of PEM text and answers the list; GET /content?id= answers one
certificate's PEM as text/plain; DELETE removes an added one (the device CA and its chain: 422).
Every endpoint runs for a caller the one permission policy lets in on method and path (the mount).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from starlette.requests import Request
from starlette.responses import Response

from admittance.http.body import is_json_media_type, parse_json, read_body
from admittance.http.compat.connectware.spec import GUARDED, NO_CONTENT, operation, path_id, query_parameter
from admittance.http.openapi import (
    BOOLEAN,
    INTEGER,
    JSON,
    NULLABLE_STRING,
    STRING,
    Answer,
    Field,
    WireObject,
    array,
    described,
    json_answer,
    member,
    one,
    out,
    ref,
)
from admittance.http.params import header, media_type, path_text, query
from admittance.http.responses import json_response, no_content
from admittance.http.surface import Row, guarded
from admittance.kernel.clock import to_millis
from admittance.kernel.errors import MalformedInput, NotFound, UnsupportedMediaType
from admittance.kernel.principal import Principal
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
T = TypeVar("T")
_TEXT_TYPES = ("text/plain", "application/x-pem-file", "application/pem-certificate-chain")
PREFIX = "/api/certificates"


def routes(trusted: TrustedCertificates) -> list[Row]:
    return [
        guarded("GET", PREFIX, trusted.list),
        guarded("POST", PREFIX, trusted.add),
        guarded("DELETE", PREFIX, trusted.remove_by_query),
        guarded("GET", PREFIX + "/content", trusted.content),
        guarded("DELETE", PREFIX + "/{id}", trusted.remove),
    ]


def _first(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    found = name.get_attributes_for_oid(oid)
    if not found:
        return None
    value = found[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


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


_PARTY_PART = described(NULLABLE_STRING, "null when the name has none")
_NAME_PARTS = (
    ("commonName", NameOID.COMMON_NAME),
    ("organization", NameOID.ORGANIZATION_NAME),
    ("organizationalUnit", NameOID.ORGANIZATIONAL_UNIT_NAME),
)


def _party_fields(name_of: Callable[[T], x509.Name]) -> list[Field[T]]:
    """The parts of a name the seed shows, each null when the name has none."""
    return [
        out(key, _PARTY_PART, lambda item, oid=oid: _first(name_of(item), oid))  # type: ignore[misc]
        for key, oid in _NAME_PARTS
    ]


PARTY = WireObject[x509.Name](None, _party_fields(lambda name: name))
SUBJECT = WireObject[x509.Certificate](
    None,
    [
        *_party_fields(lambda certificate: certificate.subject),
        out("alternativeNames", described(array(STRING), "The SAN entries as text"), _alternative_names),
    ],
)
BASIC_CONSTRAINTS = WireObject[x509.BasicConstraints | None](
    None,
    [
        out("isCA", BOOLEAN, lambda b: bool(b.ca) if b is not None else False),
        out("pathLength", {"type": "integer", "nullable": True}, lambda b: b.path_length if b is not None else None),
    ],
)
FINGERPRINTS = WireObject[TrustedCertificate](
    None, [out("sha1", STRING, lambda t: t.sha1), out("sha256", STRING, lambda t: t.sha256)]
)
Parsed = tuple[TrustedCertificate, x509.Certificate]
TRUSTED_CERTIFICATE = WireObject[Parsed](
    "TrustedCertificate",
    [
        out("id", described(STRING, "`device-ca`, `chain-...`, or a UUID for an added one"), lambda p: p[0].id),
        one("issuedBy", PARTY, lambda p: p[1].issuer),
        one("issuedTo", SUBJECT, lambda p: p[1]),
        out("keyUsage", array(STRING), lambda p: _key_usage(p[1])),
        out("extendedKeyUsage", array(STRING), lambda p: _extended_key_usage(p[1])),
        one("basicConstraints", BASIC_CONSTRAINTS, lambda p: _extension(p[1], x509.BasicConstraints)),
        out(
            "issuedOn",
            described(INTEGER, "notBefore, epoch milliseconds"),
            lambda p: to_millis(p[1].not_valid_before_utc),
        ),
        out(
            "expiresOn",
            described(INTEGER, "notAfter, epoch milliseconds"),
            lambda p: to_millis(p[1].not_valid_after_utc),
        ),
        one("fingerprints", FINGERPRINTS, lambda p: p[0]),
        out("removable", BOOLEAN, lambda p: p[0].removable),
    ],
)
PEM_CERTIFICATES: dict[str, Any] = {
    "description": "PEM text of one or more CA certificates as a JSON string (the seed), or as `{certificate: <PEM>}`",
    "oneOf": [STRING, WireObject[Any](None, [member("certificate", STRING, required=True)]).schema()],
}
WIRE_OBJECTS = (TRUSTED_CERTIFICATE,)
SCHEMAS = {"PemCertificates": PEM_CERTIFICATES}

_TAG = "certificates"
_LISTING = json_answer("Every trusted certificate", array(TRUSTED_CERTIFICATE.use()))
_BY_ID = query_parameter("id", STRING, "Id of the certificate", required=True)
_NOT_REMOVABLE = {404: "No trusted certificate with that id", 422: "The device CA and its chain cannot be removed"}
OPERATIONS = (
    operation("GET", PREFIX, "The trusted CA certificates", _TAG, {200: _LISTING}, GUARDED),
    operation("POST", PREFIX, "Add CA certificates (PEM); certificates already stored are skipped", _TAG,
              {200: Answer("The whole store after the change", _LISTING.content)}, GUARDED,
              media={JSON: ref("PemCertificates"), "text/plain": STRING},
              notes={400: "Not a JSON string, or not PEM certificates that parse",
                     403: "Not permitted, or the caller is outside the management and default tenants",
                     415: "Neither JSON nor PEM text (text/plain, application/x-pem-file)",
                     422: "A certificate is not a CA (basicConstraints CA:TRUE), or more than 50"}),
    operation("DELETE", PREFIX, "Remove an added certificate (the id as a query parameter)", _TAG, NO_CONTENT,
              (*GUARDED, 400, 404, 422), parameters=[_BY_ID], notes={400: "No id", **_NOT_REMOVABLE}),
    operation("GET", PREFIX + "/content", "One certificate's PEM", _TAG,
              {200: Answer("The PEM text", {"text/plain": STRING})}, (*GUARDED, 400, 404), parameters=[_BY_ID],
              notes={400: "No id", 404: "No trusted certificate with that id"}),
    operation("DELETE", PREFIX + "/{id}", "Remove an added certificate", _TAG, NO_CONTENT, (*GUARDED, 404, 422),
              notes=_NOT_REMOVABLE),
)  # fmt: skip
PATH_PARAMETERS = {PREFIX + "/{id}": [path_id("id", "Id of the certificate")]}


def certificate_document(trusted: TrustedCertificate) -> dict[str, Any]:
    """The seed's certificate JSON. Absent name parts are null; times are epoch milliseconds;
    fingerprints lower-case hex without separators."""
    return TRUSTED_CERTIFICATE.render((trusted, trusted.certificate()))


def _extended_key_usage(certificate: x509.Certificate) -> list[str]:
    eku = _extension(certificate, x509.ExtendedKeyUsage)
    return [_EKU_NAMES.get(oid, oid.dotted_string) for oid in eku] if eku is not None else []


async def pem_body(request: Request, max_bytes: int) -> str:
    """The body: a JSON string holding PEM text (the seed), or the PEM text itself (text/plain)."""
    content_type = header(request, "content-type")
    raw = await read_body(request, max_bytes)
    base = media_type(request)
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


class TrustedCertificates:
    def __init__(self, certificates: TrustStoreService, max_body_bytes: int) -> None:
        self._certificates = certificates
        self._max_body_bytes = max_body_bytes

    async def list(self, _request: Request, principal: Principal) -> Response:
        found = await self._certificates.list_trusted(principal)
        return json_response([certificate_document(item) for item in found])

    async def add(self, request: Request, principal: Principal) -> Response:
        text = await pem_body(request, self._max_body_bytes)
        found = await self._certificates.add_trusted(principal, text)
        return json_response([certificate_document(item) for item in found])

    async def content(self, request: Request, principal: Principal) -> Response:
        text = await self._certificates.trusted_pem(principal, _query_id(request))
        return Response(text, 200, media_type="text/plain")

    async def remove(self, request: Request, principal: Principal) -> Response:
        await self._certificates.remove_trusted(principal, path_text(request, "id"))
        return no_content()

    async def remove_by_query(self, request: Request, principal: Principal) -> Response:
        await self._certificates.remove_trusted(principal, _query_id(request))
        return no_content()


def _query_id(request: Request) -> str:
    value = query(request, "id")
    if not value:
        raise MalformedInput("the query parameter id is required")
    if "\x00" in value:
        raise NotFound("No trusted certificate with that id")
    return value
