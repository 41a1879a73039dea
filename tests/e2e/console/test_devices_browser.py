"""The device pages in a browser against a real server: a device onboarded through the Cumulocity
API shows up in the list, the admin puts it into a new group, gives it a new password (shown once;
the old one stops working), and the pages pass the accessibility basics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.support import secrets
from tests.support.browser import assert_accessible_basics, screenshot
from tests.support.credentials import ADMIN_PASSWORD, BOOTSTRAP_PASSWORD
from tests.support.server import ServerProcess

JSON = {"content-type": "application/json", "accept": "application/json"}
ADMIN = ("t1/admin", ADMIN_PASSWORD)
BOOTSTRAP = ("management/devicebootstrap", BOOTSTRAP_PASSWORD)


def _send(http: httpx.Client, method: str, path: str, body: Any, auth: tuple[str, str]) -> httpx.Response:
    return http.request(method, path, content=json.dumps(body), headers=JSON, auth=auth)


def onboard(http: httpx.Client, device_id: str) -> tuple[str, str, str]:
    """Register, poll, accept, poll; then the device creates its object and its serial: (object id, user, password)."""
    assert _send(http, "POST", "/devicecontrol/newDeviceRequests", {"id": device_id}, ADMIN).status_code == 201
    assert _send(http, "POST", "/devicecontrol/deviceCredentials", {"id": device_id}, BOOTSTRAP).status_code == 404
    accepted = _send(http, "PUT", f"/devicecontrol/newDeviceRequests/{device_id}", {"status": "ACCEPTED"}, ADMIN)
    assert accepted.status_code == 200, accepted.text
    issued = _send(http, "POST", "/devicecontrol/deviceCredentials", {"id": device_id}, BOOTSTRAP)
    assert issued.status_code == 201, issued.text
    secrets.register(issued.json()["password"])
    device = (f"t1/{issued.json()['username']}", issued.json()["password"])
    body = {
        "name": f"Thermostat {device_id}",
        "type": "thermostat",
        "c8y_IsDevice": {},
        "c8y_Firmware": {"version": "1.4.2"},
    }
    created = _send(http, "POST", "/inventory/managedObjects", body, device)
    assert created.status_code == 201, created.text
    mo_id = created.json()["id"]
    external = {"type": "c8y_Serial", "externalId": device_id}
    assert _send(http, "POST", f"/identity/globalIds/{mo_id}/externalIds", external, device).status_code == 201
    return mo_id, device[0], device[1]


def current_user(http: httpx.Client, user: str, password: str) -> int:
    return http.get("/user/currentUser", auth=(user, password), headers={"accept": "application/json"}).status_code


def test_the_admin_groups_a_device_and_gives_it_a_new_password(
    admin_page: Page, served: ServerProcess, tmp_path: Path
) -> None:
    page = admin_page
    with httpx.Client(base_url=served.base_url, timeout=10) as http:
        mo_id, user, password = onboard(http, "TH-1001")
        onboard(http, "TH-1002")
        page.get_by_role("link", name="Devices", exact=True).click()
        expect(page.get_by_role("heading", name="Devices")).to_be_visible()
        expect(page.get_by_role("link", name="Thermostat TH-1002")).to_be_visible()
        page.get_by_role("searchbox", name="Search").fill("th-1001")
        page.get_by_role("button", name="Search", exact=True).click()
        expect(page.get_by_role("link", name="Thermostat TH-1002")).to_have_count(0)
        assert_accessible_basics(page)
        screenshot(page, "devices", tmp_path)

        page.get_by_role("link", name="Groups").first.click()
        expect(page.get_by_role("heading", name="Groups")).to_be_visible()
        page.get_by_label("Group name").fill("Building A")
        page.get_by_role("button", name="Create group").click()
        expect(page.get_by_role("heading", name="Building A")).to_be_visible()
        page.get_by_label("Device id to add").fill(mo_id)
        page.get_by_role("button", name="Add to group").click()
        expect(page.get_by_role("link", name="Thermostat TH-1001")).to_be_visible()
        assert_accessible_basics(page)
        screenshot(page, "devices-group", tmp_path)

        page.get_by_role("link", name="Thermostat TH-1001").click()
        expect(page.get_by_role("heading", name="Thermostat TH-1001")).to_be_visible()
        expect(page.get_by_role("link", name="Building A")).to_be_visible()
        expect(page.get_by_text("c8y_Serial", exact=True)).to_be_visible()
        expect(page.get_by_text('"version": "1.4.2"')).to_be_visible()
        assert_accessible_basics(page)
        screenshot(page, "devices-detail", tmp_path)
        page.set_viewport_size({"width": 390, "height": 844})  # a phone: minor columns hide, nothing overflows
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        screenshot(page, "devices-detail-phone", tmp_path)
        page.set_viewport_size({"width": 1280, "height": 860})

        assert current_user(http, user, password) == 200
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Set a new random password").click()
        expect(page.get_by_role("heading", name="New device password")).to_be_visible()
        new = page.locator("#new-password").inner_text()
        secrets.register(new)
        assert len(new) == 32
        assert current_user(http, user, password) == 401
        assert current_user(http, user, new) == 200
        assert_accessible_basics(page)
        page.get_by_role("link", name="Back to the device").click()
        expect(page.get_by_text("identity:user:set-password")).to_be_visible()
