"""Signing in with a browser: the first page, the sign-in form, the dashboard."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.support.browser import assert_accessible_basics, screenshot, sign_in


def test_the_root_url_leads_a_browser_to_the_sign_in_page(page: Page, tmp_path: Path) -> None:
    page.goto("/")
    expect(page).to_have_url("/console/sign-in")
    expect(page.get_by_role("heading", name="Sign in to Admittance")).to_be_visible()
    assert_accessible_basics(page)
    screenshot(page, "sign-in", tmp_path)


def test_a_wrong_password_is_a_readable_message_on_the_form(page: Page) -> None:
    sign_in(page, "admin", "not-the-password")
    expect(page.get_by_role("alert")).to_contain_text("The sign-in failed")
    expect(page.get_by_label("User name")).to_have_value("admin")


def test_the_admin_signs_in_and_sees_the_dashboard(admin_page: Page) -> None:
    expect(admin_page.get_by_role("heading", name="Dashboard")).to_be_visible()
    cookies = {c["name"]: c for c in admin_page.context.cookies()}
    session = cookies["__Host-admittance-session"]
    assert session["httpOnly"]
    assert session["secure"]
    assert session["sameSite"] == "Strict"
