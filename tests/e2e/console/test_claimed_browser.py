"""Claimed devices in a browser against a real server: claim a device by pasting its attestation
token, edit its tags, create a tag definition, filter the list by it."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.support import secrets
from tests.support.browser import assert_accessible_basics, screenshot
from tests.support.connectware import ADMIN
from tests.support.nrf import device_key, mint, new_uuid, public_pem
from tests.support.server import ServerProcess


def test_claim_a_device_tag_it_and_filter_by_the_tag(admin_page: Page, served: ServerProcess, tmp_path: Path) -> None:
    page = admin_page
    key, device = device_key(), new_uuid()
    with httpx.Client(base_url=served.base_url, timeout=10) as client:
        imported = client.post(
            "/admittance/v1/nrf/identity-keys",
            content=f'{device},"{public_pem(key)}"\n'.encode(),
            headers={**ADMIN, "content-type": "text/csv"},
        )
        assert imported.status_code in (200, 201), imported.text
    token = mint(key, device)
    secrets.register(token)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Claimed devices").click()
    expect(page.get_by_text("No claimed devices yet")).to_be_visible()
    page.get_by_label("Attestation token").fill(token)
    page.get_by_label("Tags", exact=True).fill("factory-a")
    page.get_by_role("button", name="Claim device").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(device)
    expect(page.get_by_role("status")).to_contain_text("claimed")
    page.get_by_role("textbox", name="Tags").fill("factory-a, line-3")
    page.get_by_role("button", name="Save tags").click()
    expect(page.get_by_role("status")).to_have_text("Tags saved.")
    expect(page.locator(".tag", has_text="line-3")).to_be_visible()
    assert_accessible_basics(page)
    screenshot(page, "claimed-detail", tmp_path)

    page.get_by_role("link", name="← Claimed devices").click()
    page.get_by_role("link", name="Manage tags").click()
    page.get_by_role("textbox", name="Tag", exact=True).fill("line-3")
    page.get_by_role("textbox", name="Description", exact=True).fill("Devices from assembly line 3")
    page.get_by_role("button", name="Create tag").click()
    expect(page.get_by_role("status")).to_contain_text("Tag line-3 created")
    expect(page.get_by_role("textbox", name="Description of line-3")).to_have_value("Devices from assembly line 3")
    assert_accessible_basics(page)
    screenshot(page, "tags", tmp_path)

    page.get_by_role("link", name="line-3").click()
    expect(page.get_by_role("combobox", name="Tag")).to_have_value("line-3")
    expect(page.get_by_role("link", name=device)).to_be_visible()
    assert_accessible_basics(page)
    screenshot(page, "claimed", tmp_path)
