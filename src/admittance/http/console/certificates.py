"""Console pages: the device PKI (issued certificates, the CA, the trusted CA store) and
Connectware's client registry (the registration window, pairing codes, grant or reject).

Each page and form stands for the API request it mirrors (`needs`): issued certificates are
/admittance/v1/certificates, the trusted store is /api/certificates, the registry is
/api/client-registry. Every change goes through CertificateService or ClientRegistryService with
the signed-in principal (which authorize, write in one transaction and audit)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admittance.http.console.core import PREFIX, Console, Page, page
from admittance.identity.client_registry import ClientRegistration, Confirmation, EntryStatus
from admittance.kernel.access import BUILTIN_ROLES, IDENTITY_ROLES
from admittance.kernel.errors import InvalidInput
from admittance.kernel.paging import PageRequest
from admittance.pki.model import REVOCATION_REASONS, TrustedCertificate

BASE = PREFIX + "/certificates"
REGISTRY = PREFIX + "/client-registry"
ISSUED_API = "/admittance/v1/certificates"
TRUSTED_API = "/api/certificates"
REGISTRY_API = "/api/client-registry"
PAGE_SIZE = 50
MAX_PEM_CHARS = 256 * 1024
MAX_WINDOW_MINUTES = 24 * 60
MAX_PENDING_SHOWN = 500  # the registry rate-limits new requests per address; a flood stays readable
GRANTED_SHOWN = 20
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


def routes(console: Console) -> list[BaseRoute]:
    # --- issued certificates ------------------------------------------------------------------------

    @page(console, needs=("GET", ISSUED_API))
    async def issued_list(current: Page) -> Response:
        owner = current.query("owner")
        number = current.page_number()
        found = await current.services.certificates.list_issued(
            current.principal, owner or None, PageRequest(number, PAGE_SIZE)
        )
        now = current.services.clock.now()
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

    @page(console)
    async def revoke(current: Page) -> Response:
        serial = str(current.request.path_params["serial"])
        current.require("POST", f"{ISSUED_API}/{serial}/revoke")
        reason = current.field("reason") or "unspecified"
        issued = await current.services.certificates.revoke(current.principal, serial, reason)
        return current.back(f"Certificate {issued.serial} of {issued.owner} is revoked; it is on the next CRL.", BASE)

    # --- the CA and the trusted store -------------------------------------------------------------

    @page(console, needs=("GET", TRUSTED_API))
    async def trusted_page(current: Page) -> Response:
        chain = [_view(certificate) for certificate in await current.services.certificates.ca_certificates()]
        trusted = await current.services.certificates.list_trusted(current.principal)
        rows: list[tuple[TrustedCertificate, CertificateView]] = [(item, _view(item.certificate())) for item in trusted]
        return current.render(
            "certificates_trusted.html",
            title="Certificate authority and trusted CAs",
            ca=chain[0],
            chain=chain[1:],
            ca_fingerprint=_grouped_hex(chain[0].sha256),
            trusted=rows,
            now=current.services.clock.now(),
            can_add=current.can("POST", TRUSTED_API),
            can_remove=current.can("DELETE", TRUSTED_API + "/x"),
        )

    @page(console, needs=("POST", TRUSTED_API))
    async def add_trusted(current: Page) -> Response:
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
        before = {item.sha256 for item in await current.services.certificates.list_trusted(current.principal)}
        after = await current.services.certificates.add_trusted(current.principal, text)
        added = [item for item in after if item.sha256 not in before]
        if not added:
            return current.redirect(BASE + "/trusted", ("info", "Those certificates were trusted already."))
        return current.redirect(BASE + "/trusted", f"{len(added)} CA certificate(s) added to the trusted store.")

    @page(console)
    async def remove_trusted(current: Page) -> Response:
        certificate_id = str(current.request.path_params["certificate_id"])
        current.require("DELETE", f"{TRUSTED_API}/{certificate_id}")
        await current.services.certificates.remove_trusted(current.principal, certificate_id)
        return current.redirect(BASE + "/trusted", "The CA certificate was removed from the trusted store.")

    @page(console, needs=("GET", TRUSTED_API))
    async def trusted_download(current: Page) -> Response:
        certificate_id = str(current.request.path_params["certificate_id"])
        text = await current.services.certificates.trusted_pem(current.principal, certificate_id)
        return Response(
            text,
            200,
            media_type="application/x-pem-file",
            headers={"content-disposition": f'attachment; filename="trusted-{certificate_id[:40]}.pem"'},
        )

    # --- the client registry ------------------------------------------------------------------------

    async def registry_context(current: Page) -> dict[str, Any]:
        registry = current.services.client_registry
        until = await registry.open_until(current.principal.tenant_id)
        pending = await registry.entries_by_status(current.principal, EntryStatus.PENDING, MAX_PENDING_SHOWN)
        granted = await registry.entries_by_status(current.principal, EntryStatus.GRANTED, GRANTED_SHOWN + 1)
        return {
            "open_until": until,
            "pending": pending,
            "granted": granted[:GRANTED_SHOWN],
            "more_granted": len(granted) > GRANTED_SHOWN,
            "pending_capped": len(pending) >= MAX_PENDING_SHOWN,
            "can_confirm": current.can("POST", REGISTRY_API + "/confirm"),
            "can_reject": current.can("DELETE", REGISTRY_API + "/x"),
            "show_tenant": current.principal.in_management_tenant,
        }

    @page(console, needs=("GET", REGISTRY_API))
    async def registry_page(current: Page) -> Response:
        context = await registry_context(current)
        return current.render(
            "registry.html",
            title="Client registry",
            can_open=current.can("POST", REGISTRY_API + "/open"),
            can_close=current.can("POST", REGISTRY_API + "/close"),
            **context,
        )

    @page(console, needs=("GET", REGISTRY_API), background=True)
    async def registry_live(current: Page) -> Response:
        return current.render("registry_entries.html", **await registry_context(current))

    @page(console, needs=("POST", REGISTRY_API + "/open"))
    async def open_window(current: Page) -> Response:
        text = current.field("minutes") or "5"
        try:
            minutes = float(text)
        except ValueError:
            raise InvalidInput("The number of minutes must be a number, such as 5.") from None
        if not 0 < minutes <= MAX_WINDOW_MINUTES:
            raise InvalidInput(f"Open the registry for more than 0 and at most {MAX_WINDOW_MINUTES} minutes.")
        until = await current.services.client_registry.open(current.principal, round(minutes * 60_000))
        return current.redirect(REGISTRY, f"The registry is open until {until.strftime('%H:%M:%S')} UTC.")

    @page(console, needs=("POST", REGISTRY_API + "/close"))
    async def close_window(current: Page) -> Response:
        await current.services.client_registry.close(current.principal)
        return current.redirect(REGISTRY, "The registry is closed: new clients are refused (423).")

    async def entry_of(current: Page) -> ClientRegistration:
        return await current.services.client_registry.entry(
            current.principal,
            str(current.request.path_params["username"]),
            str(current.request.path_params["tenant_id"]),
        )

    @page(console, needs=("POST", REGISTRY_API + "/confirm"))
    async def grant_page(current: Page) -> Response:
        entry = await entry_of(current)
        if entry.granted:
            return current.redirect(REGISTRY, ("info", f"{entry.username} was granted already."))
        roles = await current.services.directory.list_roles(current.principal)
        options = [
            (role.id, role.name, role.builtin)
            for role in roles
            if role.tenant_id in (None, entry.tenant_id) and role.id not in {r.value for r in IDENTITY_ROLES}
        ]
        known = {role_id for role_id, _, _ in options} | set(BUILTIN_ROLES)
        asked_ids = {role_id for role_id, name, _ in options if name in entry.roles or role_id in entry.roles}
        unknown = [name for name in entry.roles if name not in known and name not in {n for _, n, _ in options}]
        return current.render(
            "registry_grant.html",
            title=f"Grant {entry.username}",
            entry=entry,
            roles=options,
            asked=asked_ids,
            unknown=unknown,
        )

    @page(console, needs=("POST", REGISTRY_API + "/confirm"))
    async def grant(current: Page) -> Response:
        entry = await entry_of(current)
        expected = current.field("pairing_code")
        if expected != entry.pairing_code:
            raise InvalidInput("The request changed since the page was shown (another pairing code). Compare again.")
        roles = tuple(current.fields("roles"))
        permissions = entry.permissions if current.field("asked_permissions") == "1" else ()
        confirmation = Confirmation(
            username=entry.username,
            tenant_id=entry.tenant_id,
            mqtt_publish_prefix=current.field("mqtt_publish_prefix") or None,
            roles=roles,
            permissions=permissions,
        )
        user = await current.services.client_registry.confirm(current.principal, confirmation)
        return current.redirect(
            REGISTRY, f"{user.username} was granted; the client collects its credentials at its next request."
        )

    @page(console, needs=("DELETE", f"{REGISTRY_API}/x"))  # refused before the entry is looked up
    async def reject(current: Page) -> Response:
        entry = await entry_of(current)
        current.require("DELETE", f"{REGISTRY_API}/{entry.username}")
        await current.services.client_registry.remove(current.principal, entry.username, entry.tenant_id)
        verb = "forgotten (the user stays)" if entry.granted else "rejected"
        return current.redirect(REGISTRY, f"The request of {entry.username} was {verb}.")

    entry = REGISTRY + "/requests/{tenant_id}/{username}"
    return [
        Route(BASE, issued_list, methods=["GET"]),
        Route(BASE + "/trusted", trusted_page, methods=["GET"]),
        Route(BASE + "/trusted", add_trusted, methods=["POST"]),
        Route(BASE + "/trusted/{certificate_id}/remove", remove_trusted, methods=["POST"]),
        Route(BASE + "/trusted/{certificate_id}/download", trusted_download, methods=["GET"]),
        Route(BASE + "/{serial}/revoke", revoke, methods=["POST"]),
        Route(REGISTRY, registry_page, methods=["GET"]),
        Route(REGISTRY + "/live", registry_live, methods=["GET"]),
        Route(REGISTRY + "/open", open_window, methods=["POST"]),
        Route(REGISTRY + "/close", close_window, methods=["POST"]),
        Route(entry, grant_page, methods=["GET"]),
        Route(entry + "/grant", grant, methods=["POST"]),
        Route(entry + "/reject", reject, methods=["POST"]),
    ]
