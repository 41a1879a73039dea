"""Console pages: the device PKI (issued certificates, the CA, the trusted CA store).

Each page and form stands for the API request it mirrors (`needs`): issued certificates are
/admittance/v1/certificates, the trusted store is /api/certificates. Every change goes through
the PKI services with the signed-in principal (which authorizes, writes in one transaction and
audits)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from starlette.responses import Response

from admittance.http.console.core import PREFIX
from admittance.http.console.page import Page, PageRoute
from admittance.kernel.clock import Clock
from admittance.kernel.errors import InvalidInput
from admittance.kernel.paging import PageRequest
from admittance.pki.issuing import IssuingService
from admittance.pki.model import REVOCATION_REASONS, TrustedCertificate
from admittance.pki.revocation import RevocationService
from admittance.pki.trust_store import TrustStoreService

BASE = PREFIX + "/certificates"
TRUSTED = BASE + "/trusted"
ISSUED_API = "/admittance/v1/certificates"
TRUSTED_API = "/api/certificates"
PAGE_SIZE = 50
MAX_PEM_CHARS = 256 * 1024
_REASON_LABELS = {
    "unspecified": "Unspecified",
    "keyCompromise": "Key compromise",
    "superseded": "Superseded",
    "cessationOfOperation": "Cessation of operation",
    "affiliationChanged": "Affiliation changed",
    "privilegeWithdrawn": "Privilege withdrawn",
}
# Every reason the service accepts, in its order, with a readable label.
REASONS = tuple((name, _REASON_LABELS.get(name, name)) for name in REVOCATION_REASONS)


def routes(issued: IssuedPages, trusted: TrustedPages) -> list[PageRoute]:
    one_trusted = TRUSTED + "/{certificate_id}"
    return [
        PageRoute("GET", BASE, issued.issued_list, needs=("GET", ISSUED_API)),
        PageRoute("GET", TRUSTED, trusted.trusted_page, needs=("GET", TRUSTED_API)),
        PageRoute("POST", TRUSTED, trusted.add_trusted, needs=("POST", TRUSTED_API)),
        PageRoute("POST", one_trusted + "/remove", trusted.remove_trusted),
        PageRoute("GET", one_trusted + "/download", trusted.trusted_download, needs=("GET", TRUSTED_API)),
        PageRoute("POST", BASE + "/{serial}/revoke", issued.revoke),
    ]


@dataclass(frozen=True, slots=True)
class CertificateView:
    """What the pages show of one certificate."""

    subject: str
    issuer: str
    not_before: datetime
    not_after: datetime
    sha256: str
    is_ca: bool


def _view(certificate: x509.Certificate) -> CertificateView:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
        is_ca = bool(constraints.ca)
    except (x509.ExtensionNotFound, ValueError):
        is_ca = False
    return CertificateView(
        subject=certificate.subject.rfc4514_string(),
        issuer=certificate.issuer.rfc4514_string(),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        sha256=hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest(),
        is_ca=is_ca,
    )


def _grouped_hex(value: str) -> str:
    return ":".join(value[index : index + 2] for index in range(0, len(value), 2))


class IssuedPages:
    """The certificates issued to devices: listed newest first, and revoked."""

    def __init__(self, certificates: IssuingService, revocation: RevocationService, clock: Clock) -> None:
        self._certificates = certificates
        self._revocation = revocation
        self._clock = clock

    async def issued_list(self, current: Page) -> Response:
        owner = current.query("owner")
        number = current.page_number()
        found = await self._certificates.list_issued(current.principal, owner or None, PageRequest(number, PAGE_SIZE))
        now = self._clock.now()
        keep = {"owner": owner} if owner else {}

        def url(at: int) -> str:
            query = urlencode({**keep, **({"page": str(at)} if at > 1 else {})})
            return BASE + (f"?{query}" if query else "")

        return current.render(
            "certificates.html",
            title="Certificates",
            items=[(item, item.state_at(now)) for item in found.items],
            owner=owner,
            page_number=number,
            prev_url=url(number - 1) if number > 1 else None,
            next_url=url(number + 1) if found.has_more else None,
            reasons=REASONS,
            can_revoke=current.can("POST", ISSUED_API + "/x/revoke"),
            can_trusted=current.can("GET", TRUSTED_API),
        )

    async def revoke(self, current: Page) -> Response:
        serial = current.path_param("serial")
        current.require("POST", f"{ISSUED_API}/{serial}/revoke")
        reason = current.field("reason") or "unspecified"
        issued = await self._revocation.revoke(current.principal, serial, reason)
        return current.back(f"Certificate {issued.serial} of {issued.owner} is revoked; it is on the next CRL.", BASE)


class TrustedPages:
    """The device CA and the trusted CA store: shown, added to, removed from, downloaded."""

    def __init__(self, trust_store: TrustStoreService, clock: Clock) -> None:
        self._trust_store = trust_store
        self._clock = clock

    async def trusted_page(self, current: Page) -> Response:
        chain = [_view(certificate) for certificate in await self._trust_store.ca_certificates()]
        trusted = await self._trust_store.list_trusted(current.principal)
        rows: list[tuple[TrustedCertificate, CertificateView]] = [(item, _view(item.certificate())) for item in trusted]
        return current.render(
            "certificates_trusted.html",
            title="Certificate authority and trusted CAs",
            ca=chain[0],
            chain=chain[1:],
            ca_fingerprint=_grouped_hex(chain[0].sha256),
            trusted=rows,
            now=self._clock.now(),
            can_add=current.can("POST", TRUSTED_API),
            can_remove=current.can("DELETE", TRUSTED_API + "/x"),
        )

    async def add_trusted(self, current: Page) -> Response:
        text = await _pem_text(current)
        before = {item.sha256 for item in await self._trust_store.list_trusted(current.principal)}
        after = await self._trust_store.add_trusted(current.principal, text)
        added = [item for item in after if item.sha256 not in before]
        if not added:
            return current.redirect(TRUSTED, ("info", "Those certificates were trusted already."))
        return current.redirect(TRUSTED, f"{len(added)} CA certificate(s) added to the trusted store.")

    async def remove_trusted(self, current: Page) -> Response:
        certificate_id = current.path_param("certificate_id")
        current.require("DELETE", f"{TRUSTED_API}/{certificate_id}")
        await self._trust_store.remove_trusted(current.principal, certificate_id)
        return current.redirect(TRUSTED, "The CA certificate was removed from the trusted store.")

    async def trusted_download(self, current: Page) -> Response:
        certificate_id = current.path_param("certificate_id")
        text = await self._trust_store.trusted_pem(current.principal, certificate_id)
        return Response(
            text,
            200,
            media_type="application/x-pem-file",
            headers={"content-disposition": f'attachment; filename="trusted-{certificate_id[:40]}.pem"'},
        )


async def _pem_text(current: Page) -> str:
    """The PEM text of the form: pasted, and from a chosen file."""
    text = current.field("pem")
    upload = current.upload("pem_file")
    if upload is not None and upload.filename:
        data = await upload.read(MAX_PEM_CHARS + 1)
        try:
            text = (text + "\n" + data.decode("ascii")).strip()
        except UnicodeDecodeError:
            raise InvalidInput("The file is not PEM text (BEGIN CERTIFICATE blocks).") from None
    if not text:
        raise InvalidInput("Paste one or more PEM CA certificates, or choose a .pem file.")
    if len(text) > MAX_PEM_CHARS:
        raise InvalidInput("That is more PEM text than one request may add.")
    return text
