"""The console's whole story in a browser (the issue's main test), against a real `admittance serve`:
a user whose account enforces MFA signs in, enrolls, signs out and in again with a code, registers
a device; a simulated device polls for its credentials and shows up as pending without a reload;
the user accepts it with the keyboard; the device's next poll gets credentials, and they work."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from admittance.kernel.totp import code_at
from tests.support.browser import assert_accessible_basics, screenshot, sign_in
from tests.support.credentials import ADMIN_PASSWORD, BOOTSTRAP_PASSWORD
from tests.support.server import ServerProcess

OPERATOR = "story.operator"
OPERATOR_PASSWORD = "story-Operator-Secret-42"
DEVICE = "story-device-0001"
NEIGHBOUR = "story-device-0002"
CREDENTIALS = "/devicecontrol/deviceCredentials"
JSON = {"content-type": "application/json", "accept": "application/json"}


class SimulatedDevice(threading.Thread):
    """Polls POST /devicecontrol/deviceCredentials with the bootstrap user every second (as a real
    device does) until it receives its credentials, or until stopped."""

    def __init__(self, base_url: str, device_id: str) -> None:
        super().__init__(daemon=True, name=f"device-{device_id}")
        self.base_url = base_url
        self.device_id = device_id
        self.stop = threading.Event()
        self.answers: list[int] = []
        self.credentials: dict[str, str] | None = None

    def run(self) -> None:
        with httpx.Client(base_url=self.base_url, auth=("management/devicebootstrap", BOOTSTRAP_PASSWORD)) as http:
            while not self.stop.is_set():
                response = http.post(CREDENTIALS, json={"id": self.device_id}, headers=JSON, timeout=10)
                self.answers.append(response.status_code)
                if response.status_code == 201:
                    self.credentials = response.json()
                    return
                self.stop.wait(1.0)


def _create_operator(base_url: str) -> None:
    """A user with device control whose account requires MFA, created through the /api users endpoint."""
    answer = httpx.post(
        f"{base_url}/api/users",
        json={
            "username": OPERATOR,
            "password": OPERATOR_PASSWORD,
            "roles": ["ROLE_DEVICE_CONTROL_ADMIN"],
            "enforceMFAEnrollment": True,
        },
        auth=("t1/admin", ADMIN_PASSWORD),
        timeout=10,
    )
    assert answer.status_code in (200, 201), answer.text


def test_sign_in_with_mfa_register_a_device_and_accept_it_with_the_keyboard_when_it_polls(
    page: Page, served: ServerProcess, tmp_path: Path
) -> None:
    _create_operator(served.base_url)

    # Sign in: the account requires a second factor, so the console leads to the enrollment.
    sign_in(page, OPERATOR, OPERATOR_PASSWORD)
    page.wait_for_url("**/console/account/mfa/enroll")
    secret = page.locator("#manual-key").inner_text().replace(" ", "")
    page.get_by_label("Code from the app").fill(code_at(secret, time.time()))
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect(page.get_by_role("heading", name="Two-factor sign-in is on")).to_be_visible()
    expect(page.get_by_role("list", name="Backup codes").get_by_role("listitem")).to_have_count(12)

    # Sign out, and in again with a code (the next time step: the enrollment used this one).
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/console/sign-in**")
    sign_in(page, OPERATOR, OPERATOR_PASSWORD)
    page.wait_for_url("**/console/sign-in/code**")
    page.get_by_label("Code from your authenticator app").fill(code_at(secret, time.time() + 30))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url("**/console/")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    # Register two devices in the console.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Registrations").click()
    page.wait_for_url("**/console/registrations")
    for device_id in (NEIGHBOUR, DEVICE):
        page.get_by_role("textbox", name="Device id", exact=True).fill(device_id)
        page.get_by_role("button", name="Register", exact=True).click()
        expect(page.get_by_role("status")).to_contain_text(f"Device {device_id} is registered")
    row = page.locator("tr", has=page.get_by_role("link", name=DEVICE, exact=True))
    expect(row.locator(".badge")).to_have_text("WAITING FOR CONNECTION")

    # The devices start polling: they show up as pending without a reload of the page.
    page.evaluate("window.__notReloaded = true")
    devices = [SimulatedDevice(served.base_url, device_id) for device_id in (DEVICE, NEIGHBOUR)]
    for device in devices:
        device.start()
    try:
        expect(row.locator(".badge")).to_have_text("PENDING ACCEPTANCE", timeout=10_000)
        accept = page.get_by_role("button", name=f"Accept device {DEVICE}", exact=True)
        expect(accept).to_be_visible()
        expect(page.get_by_role("button", name=f"Accept device {NEIGHBOUR}", exact=True)).to_be_visible()
        assert page.evaluate("window.__notReloaded") is True
        assert_accessible_basics(page)
        screenshot(page, "registrations", tmp_path)

        # Keyboard: Tab goes through the rows in order (newest first: DEVICE's row, then NEIGHBOUR's),
        # each button named after its device.
        accept.focus()
        order = [f"Accept device {DEVICE}", f"Block device {DEVICE}", f"Delete the request of device {DEVICE}"]
        order += [NEIGHBOUR, f"Accept device {NEIGHBOUR}", f"Block device {NEIGHBOUR}"]
        name = "(e => e.getAttribute('aria-label') || e.textContent.trim())(document.activeElement)"
        reached = [page.evaluate(name)]
        for _ in order[1:]:
            page.keyboard.press("Tab")
            reached.append(page.evaluate(name))
        assert reached == order

        # Accept with the keyboard: focus the button, press Enter.
        accept.focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("status")).to_contain_text(f"Device {DEVICE} is accepted")

        # The device's next poll receives its credentials, exactly once.
        devices[0].join(timeout=15)
        assert not devices[0].is_alive()
    finally:
        for device in devices:
            device.stop.set()
        for device in devices:
            device.join(timeout=15)
    issued = devices[0].credentials
    assert issued is not None
    assert issued["username"] == f"device_{DEVICE}"
    assert 404 in devices[0].answers  # it polled before it was accepted
    assert devices[1].credentials is None  # its neighbour was not accepted

    # The credentials work: the device is who it says it is.
    me = httpx.get(
        f"{served.base_url}/user/currentUser",
        auth=(f"{issued['tenantId']}/{issued['username']}", issued["password"]),
        headers={"accept": "application/json"},
        timeout=10,
    )
    assert me.status_code == 200, me.text
    assert me.json()["userName"] == f"device_{DEVICE}"

    # Collected: the request has left the queue (the live table catches up without a reload).
    expect(page.get_by_role("link", name=DEVICE, exact=True)).to_have_count(0, timeout=10_000)
    expect(page.get_by_role("link", name=NEIGHBOUR, exact=True)).to_have_count(1)

    # The dashboard counts and charts it.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    expect(page.locator(".stat-pending_acceptance .value")).to_have_text("1")
    expect(page.locator(".stat-devices .value")).to_have_text("1")
    expect(page.get_by_role("img", name="Registrations and admissions per day")).to_be_visible()
    assert_accessible_basics(page)
    screenshot(page, "dashboard", tmp_path)


def test_a_device_that_sent_a_security_token_is_accepted_on_its_page_with_the_token(
    admin_page: Page, served: ServerProcess, tmp_path: Path
) -> None:
    page = admin_page
    page.goto("/console/registrations")
    expect(page.get_by_text("No device has asked to join yet")).to_be_visible()
    page.get_by_role("textbox", name="Device id", exact=True).fill("label-printer-7")
    page.get_by_role("button", name="Register", exact=True).click()
    polled = httpx.post(
        f"{served.base_url}{CREDENTIALS}",
        json={"id": "label-printer-7", "securityToken": "on-the-label-123"},
        headers=JSON,
        auth=("management/devicebootstrap", BOOTSTRAP_PASSWORD),
        timeout=10,
    )
    assert polled.status_code == 404
    # No one-click accept for it: the link leads to its page, where the token is asked for.
    link = page.get_by_role("link", name="Accept device label-printer-7 with its security token")
    expect(link).to_be_visible(timeout=10_000)
    link.click()
    expect(page.get_by_role("heading", name="Registration of label-printer-7")).to_be_visible()
    assert_accessible_basics(page)
    screenshot(page, "registrations-detail", tmp_path)
    page.get_by_role("textbox", name="Security token").fill("on-the-label-123")
    page.get_by_role("button", name="Accept device label-printer-7").click()
    expect(page.get_by_role("status")).to_contain_text("Device label-printer-7 is accepted")
    row = page.locator("tr", has=page.get_by_role("link", name="label-printer-7", exact=True))
    expect(row.locator(".badge")).to_have_text("ACCEPTED")
