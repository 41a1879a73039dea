"""Users, roles and the own account in a browser: the pages, their labels, screenshots, and what a
user without admin roles sees."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.support.browser import assert_accessible_basics, screenshot, sign_in
from tests.support.server import ServerProcess

PASSWORD = "viewer-Secret-2468"


def test_admin_creates_a_user_and_a_role(admin_page: Page, tmp_path: Path) -> None:
    page = admin_page
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()
    expect(page.get_by_role("heading", name="Users", level=1)).to_be_visible()
    assert_accessible_basics(page)
    screenshot(page, "users", tmp_path)

    page.get_by_role("link", name="New user").click()
    page.get_by_label("User name").fill("viewer")
    page.get_by_label(re.compile(r"^Password\W*$")).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_label("minimum-access").check()
    assert_accessible_basics(page)
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("status")).to_contain_text("The user viewer was created.")
    expect(page.get_by_role("heading", name="viewer")).to_be_visible()
    expect(page.get_by_label("minimum-access")).to_be_checked()
    assert_accessible_basics(page)
    screenshot(page, "users-detail", tmp_path)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Roles").click()
    page.get_by_label("Role name").fill("queue readers")
    page.get_by_role("button", name="Create role").click()
    expect(page.get_by_role("status")).to_contain_text("The role queue readers was created.")
    page.get_by_label("Operation").select_option("read")
    page.get_by_label("Resource").fill("/devicecontrol/#")
    page.get_by_role("button", name="Add permission").click()
    expect(page.get_by_role("cell", name="/devicecontrol/#", exact=True)).to_be_visible()
    assert_accessible_basics(page)
    screenshot(page, "roles-detail", tmp_path)
    page.get_by_role("link", name="← Roles").click()
    expect(page.get_by_role("link", name="queue readers")).to_be_visible()
    assert_accessible_basics(page)
    screenshot(page, "roles", tmp_path)

    # Confirmed actions ask first (console.js): dismissing the question keeps the role.
    page.get_by_role("link", name="queue readers").click()
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Delete role").click()
    expect(page.get_by_role("heading", name="queue readers")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete role").click()
    expect(page.get_by_role("status")).to_contain_text("The role queue readers was deleted.")

    page.get_by_role("link", name="t1/admin").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    assert_accessible_basics(page)
    screenshot(page, "account", tmp_path)


def test_a_user_without_admin_roles_sees_only_the_dashboard(
    admin_page: Page, browser: Browser, served: ServerProcess, tmp_path: Path
) -> None:
    admin_page.goto("/console/users/new")
    admin_page.get_by_label("User name").fill("viewer")
    admin_page.get_by_label(re.compile(r"^Password\W*$")).fill(PASSWORD)
    admin_page.get_by_label("Password again").fill(PASSWORD)
    admin_page.get_by_label("minimum-access").check()
    admin_page.get_by_role("button", name="Create user").click()
    expect(admin_page.get_by_role("status")).to_contain_text("was created")

    context = browser.new_context(base_url=served.base_url, viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        sign_in(page, "viewer", PASSWORD)
        page.wait_for_url("**/console/")
        links = page.get_by_role("navigation", name="Main").get_by_role("link")
        expect(links).to_have_count(1)
        expect(links).to_have_text(["Dashboard"])
        page.goto("/console/users")
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        assert page.locator("main").inner_text().find("permission") >= 0
        page.goto("/console/account")
        expect(page.get_by_role("heading", name="Your account")).to_be_visible()
        assert_accessible_basics(page)
        screenshot(page, "account-phone", tmp_path)
    finally:
        context.close()
