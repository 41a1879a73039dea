"""The certificates pages through the forms (no browser), on SQLite and PostgreSQL: issued
certificates (list, owner filter, pages, revoke with a reason), the CA and the trusted store
(add PEM by text or file, refuse non-CAs, download, remove); permissions."""

from __future__ import annotations

import re

from cryptography import x509

from admittance.bootstrap import Services
from admittance.kernel.access import RoleName
from admittance.kernel.principal import Principal
from tests.support.console import ConsoleClient
from tests.support.pki import cert_pem, ec_key, make_csr, self_signed_ca
from tests.support.sessions import USER_PASSWORD

TENANT = "t1"
ADMIN = Principal.of(0, TENANT, "admin", [RoleName.CONNECTWARE_ADMIN.value])


async def issue(services: Services, owner: str) -> str:
    issued = await services.certificates.issue(
        make_csr(ec_key(), owner), tenant_id=TENANT, owner=owner, common_name=owner, issued_via="api"
    )
    return issued.serial


async def test_issued_certificates_are_listed_filtered_and_revoked_with_a_reason(
    admin_console: ConsoleClient, services: Services
) -> None:
    empty = await admin_console.get("/console/certificates")
    assert empty.status_code == 200
    assert "No certificates issued yet" in empty.text
    first = await issue(services, "sensor-1")
    second = await issue(services, "sensor-2")
    listing = await admin_console.get("/console/certificates")
    assert first in listing.text
    assert second in listing.text
    assert listing.text.count("badge-valid") == 2
    only = await admin_console.get("/console/certificates?owner=sensor-2")
    assert second in only.text
    assert first not in only.text
    assert "No certificates of nobody" in (await admin_console.get("/console/certificates?owner=nobody")).text
    revoke = f"/console/certificates/{first}/revoke"
    assert f'action="{revoke}"' in listing.text
    answer = await admin_console.post(
        revoke, {"reason": "keyCompromise"}, headers={"referer": "https://testserver/console/certificates"}
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/certificates"
    after = await admin_console.get("/console/certificates")
    assert "is revoked" in after.text
    assert "badge-revoked" in after.text
    assert f'action="{revoke}"' not in after.text
    stored = await services.certificates.get_issued(ADMIN, first)
    assert stored.revocation_reason == "keyCompromise"
    crl = x509.load_der_x509_crl(await services.revocation.crl_der())
    assert crl.get_revoked_certificate_by_serial_number(int(first, 16)) is not None


async def test_a_bad_reason_or_serial_is_a_readable_message(admin_console: ConsoleClient, services: Services) -> None:
    serial = await issue(services, "sensor-3")
    referer = {"referer": "https://testserver/console/certificates"}
    await admin_console.post(f"/console/certificates/{serial}/revoke", {"reason": "bored"}, headers=referer)
    page = await admin_console.get("/console/certificates")
    assert "reason must be one of" in page.text
    assert not (await services.certificates.get_issued(ADMIN, serial)).revoked
    await admin_console.post("/console/certificates/abcdef/revoke", {}, headers=referer)
    assert "No certificate with that serial number" in (await admin_console.get("/console/certificates")).text


async def test_pages_of_issued_certificates(admin_console: ConsoleClient, services: Services) -> None:
    import admittance.http.console.certificates as module

    original = module.PAGE_SIZE
    module.PAGE_SIZE = 2
    try:
        serials = {await issue(services, f"unit-{index}") for index in range(5)}
        seen: set[str] = set()
        url: str | None = "/console/certificates"
        pages = 0
        while url is not None:
            answer = await admin_console.get(url)
            seen |= {serial for serial in serials if serial in answer.text}
            found = re.search(r'href="([^"]+)" rel="next"', answer.text)
            url = found.group(1).replace("&amp;", "&") if found else None
            pages += 1
        assert pages == 3
        assert seen == serials
        assert (await admin_console.get("/console/certificates?page=0")).status_code == 400
        assert "No more certificates" in (await admin_console.get("/console/certificates?page=9")).text
    finally:
        module.PAGE_SIZE = original


async def test_the_ca_page_and_the_trusted_store(admin_console: ConsoleClient, services: Services) -> None:
    page = await admin_console.get("/console/certificates/trusted")
    assert page.status_code == 200
    assert "Admittance Device CA" in page.text
    assert 'href="/admittance/v1/pki/ca.pem"' in page.text
    assert 'href="/admittance/v1/pki/crl"' in page.text
    assert "No CA added yet" in page.text
    ca, _ = self_signed_ca("Factory Root CA")
    added = await admin_console.post("/console/certificates/trusted", {"pem": cert_pem(ca)})
    assert added.status_code == 303
    shown = await admin_console.get("/console/certificates/trusted")
    assert "1 CA certificate(s) added" in shown.text
    assert "CN=Factory Root CA" in shown.text
    [row] = [item for item in await services.trust_store.list_trusted(ADMIN) if item.removable]
    download = await admin_console.get(f"/console/certificates/trusted/{row.id}/download")
    assert download.status_code == 200
    assert download.text.strip() == cert_pem(ca).strip()
    assert "attachment" in download.headers["content-disposition"]
    again = await admin_console.post("/console/certificates/trusted", {"pem": cert_pem(ca)})
    assert again.status_code == 303
    assert "trusted already" in (await admin_console.get("/console/certificates/trusted")).text
    # a file upload works like the text field
    other, _ = self_signed_ca("Second CA")
    uploaded = await admin_console.http.post(
        "/console/certificates/trusted",
        data={"csrf_token": admin_console.csrf},
        files={"pem_file": ("second.pem", cert_pem(other).encode(), "application/x-pem-file")},
    )
    assert uploaded.status_code == 303
    assert len([item for item in await services.trust_store.list_trusted(ADMIN) if item.removable]) == 2
    removed = await admin_console.post(f"/console/certificates/trusted/{row.id}/remove")
    assert removed.status_code == 303
    remaining = [item.id for item in await services.trust_store.list_trusted(ADMIN) if item.removable]
    assert row.id not in remaining
    assert len(remaining) == 1


async def test_a_leaf_certificate_or_junk_is_refused_with_a_message(
    admin_console: ConsoleClient, services: Services
) -> None:
    referer = {"referer": "https://testserver/console/certificates/trusted"}
    leaf, _ = self_signed_ca("just-a-device", ca=False)
    await admin_console.post("/console/certificates/trusted", {"pem": cert_pem(leaf)}, headers=referer)
    assert "only CA certificates can be trusted" in (await admin_console.get("/console/certificates/trusted")).text
    await admin_console.post("/console/certificates/trusted", {"pem": "hello"}, headers=referer)
    assert "flash-error" in (await admin_console.get("/console/certificates/trusted")).text
    await admin_console.post("/console/certificates/trusted", {"pem": ""}, headers=referer)
    assert "Paste one or more PEM CA certificates" in (await admin_console.get("/console/certificates/trusted")).text
    device_ca = next(item for item in await services.trust_store.list_trusted(ADMIN) if not item.removable)
    await admin_console.post(f"/console/certificates/trusted/{device_ca.id}/remove", headers=referer)
    assert "cannot be removed" in (await admin_console.get("/console/certificates/trusted")).text
    assert all(not item.removable for item in await services.trust_store.list_trusted(ADMIN))


async def test_without_the_permissions_pages_and_forms_are_refused(console: ConsoleClient, services: Services) -> None:
    serial = await issue(services, "sensor-9")
    await services.identity.create_user(TENANT, "viewer", USER_PASSWORD, (RoleName.NRF_VIEWER.value,))
    assert (await console.sign_in("viewer", USER_PASSWORD)).status_code == 303
    dashboard = await console.get("/console/")
    assert 'href="/console/certificates"' not in dashboard.text
    for url in ("/console/certificates", "/console/certificates/trusted"):
        assert (await console.get(url)).status_code == 403, url
    ca, _ = self_signed_ca("Sneaky CA")
    assert (await console.post(f"/console/certificates/{serial}/revoke", {"reason": "unspecified"})).status_code == 403
    assert (await console.post("/console/certificates/trusted", {"pem": cert_pem(ca)})).status_code == 403
    assert not (await services.certificates.get_issued(ADMIN, serial)).revoked
    assert all(not item.removable for item in await services.trust_store.list_trusted(ADMIN))


async def test_forms_without_this_sessions_csrf_token_change_nothing(
    admin_console: ConsoleClient, services: Services
) -> None:
    serial = await issue(services, "sensor-7")
    await admin_console.get("/console/certificates")
    for csrf in ("", "forged-token"):
        refused = await admin_console.post(
            f"/console/certificates/{serial}/revoke", {"reason": "unspecified"}, csrf=csrf
        )
        assert refused.status_code == 403
    ca, _ = self_signed_ca("Forged CA")
    foreign = await admin_console.post(
        "/console/certificates/trusted", {"pem": cert_pem(ca)}, headers={"origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    assert not (await services.certificates.get_issued(ADMIN, serial)).revoked
    assert all(not item.removable for item in await services.trust_store.list_trusted(ADMIN))
    await admin_console.get("/console/client-registry")
    assert (await admin_console.post("/console/client-registry/open", {"minutes": "5"}, csrf="x")).status_code == 403
    assert await services.client_registry.open_until(TENANT) is None
