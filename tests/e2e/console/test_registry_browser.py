"""The client registry in a browser against a real server: the operator opens the window (a live
countdown), a client registers with a CSR, its request appears without a reload with the pairing
code the client computes itself, the operator compares and grants, and the client collects its
certificate."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.x509.oid import NameOID
from playwright.sync_api import Page, expect

from tests.support.browser import assert_accessible_basics, screenshot
from tests.support.registry import csr_b64, device_key, expected_code, request_body
from tests.support.server import ServerProcess

USERNAME = "gateway.0042"


def test_open_the_window_a_client_appears_live_is_granted_and_collects_its_certificate(
    admin_page: Page, served: ServerProcess, tmp_path: Path
) -> None:
    page = admin_page
    page.get_by_role("link", name="Client registry").click()
    expect(page.get_by_role("heading", name="Client registry", level=1)).to_be_visible()
    expect(page.get_by_text("No requests waiting")).to_be_visible()
    assert_accessible_basics(page)

    page.get_by_label("Minutes").fill("3")
    page.get_by_role("button", name="Open the registry").click()
    countdown = page.locator("[data-countdown-until]")
    expect(countdown).to_have_text(re.compile(r"^[23]:\d\d$"))
    first = countdown.text_content()
    page.wait_for_timeout(1500)
    assert countdown.text_content() != first  # it ticks
    expect(page.get_by_text("Waiting for clients")).to_be_visible()

    key = device_key()
    body = request_body(USERNAME, csr=csr_b64(key, USERNAME), roles=["ROLE_INVENTORY_READ"])
    with httpx.Client(base_url=served.base_url, timeout=10) as client:
        pending = client.post("/api/client-registry/register", json=body)
        assert pending.status_code == 202, pending.text
        code = expected_code(USERNAME, key)  # what the device shows on its display
        assert pending.json()["pairingCode"] == code

        # no reload: the live region brings the request with the same code
        shown = page.locator(f'[data-pairing-code="{code}"]')
        expect(shown).to_be_visible(timeout=6000)
        expect(shown).to_have_text(code)
        screenshot(page, "registry", tmp_path)

        page.get_by_role("link", name=f"Grant {USERNAME} (pairing code {code})").click()
        expect(page.get_by_role("heading", name=f"Grant {USERNAME}")).to_be_visible()
        expect(page.locator("#pairing-code")).to_have_text(code)
        expect(page.get_by_label(re.compile(r"^ROLE_INVENTORY_READ"))).to_be_checked()
        assert_accessible_basics(page)
        screenshot(page, "registry-grant", tmp_path)
        page.get_by_role("button", name=f"Grant {USERNAME}").click()
        expect(page.get_by_role("status")).to_contain_text(f"{USERNAME} was granted")
        expect(page.locator(".badge-granted")).to_be_visible()

        collected = client.post("/api/client-registry/register", json=body)
        assert collected.status_code == 201, collected.text
        certificate = x509.load_pem_x509_certificate(base64.b64decode(collected.json()["certificate"]))
        [common_name] = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        assert common_name.value == USERNAME

    page.get_by_role("button", name="Close now").click()
    expect(page.locator(".window-state")).to_contain_text("Closed")
