"""Certificates in a browser against a real server: a client granted through the registry has a
certificate in the list; the operator revokes it (after a confirmation) and views the CA page."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.sync_api import Dialog, Page, expect

from tests.support.browser import assert_accessible_basics, screenshot
from tests.support.connectware import ADMIN
from tests.support.registry import csr_b64, device_key, request_body
from tests.support.server import ServerProcess


def test_revoke_an_issued_certificate_and_view_the_ca(admin_page: Page, served: ServerProcess, tmp_path: Path) -> None:
    page = admin_page
    with httpx.Client(base_url=served.base_url, timeout=10) as client:
        assert client.post("/api/client-registry/open", json={"duration": 60_000}, headers=ADMIN).status_code == 204
        body = request_body("meter.0007", csr=csr_b64(device_key(), "meter.0007"))
        assert client.post("/api/client-registry/register", json=body).status_code == 202
        granted = client.post("/api/client-registry/confirm", json={"username": "meter.0007"}, headers=ADMIN)
        assert granted.status_code == 200, granted.text

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Certificates").click()
    expect(page.get_by_role("heading", name="Certificates", level=1)).to_be_visible()
    expect(page.locator(".badge-valid")).to_have_count(1)
    assert_accessible_basics(page)
    screenshot(page, "certificates", tmp_path)

    asked: list[str] = []

    def accept(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.get_by_label("Reason to revoke").select_option("keyCompromise")
    page.get_by_role("button", name="Revoke certificate").click()
    expect(page.get_by_role("status")).to_contain_text("is revoked")
    assert asked
    assert "meter.0007" in asked[0]
    expect(page.locator(".badge-revoked")).to_have_count(1)

    page.get_by_role("link", name="The CA, the CRL and trusted CAs").click()
    expect(page.get_by_role("heading", name="The device CA")).to_be_visible()
    expect(page.get_by_role("link", name="Download the CA chain (PEM)")).to_have_attribute(
        "href", "/admittance/v1/pki/ca.pem"
    )
    assert_accessible_basics(page)
    screenshot(page, "certificates-ca", tmp_path)
