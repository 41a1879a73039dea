"""The console's browser tests: Playwright for Python driving Debian's Chromium (/usr/bin/chromium;
Playwright's own browser download is not used), screenshots, and accessibility basics."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Page

CHROMIUM = "/usr/bin/chromium"
# As root and on a closed network: no sandbox, no background connections to Google's services.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

# Every visible form control must have an accessible name from a <label>, aria-label or
# aria-labelledby (a placeholder is not a label); every button and link must have a name.
_UNLABELLED = """
() => {
  const bad = [];
  const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.type === 'hidden' || !visible(el) && el.type !== 'file') continue;
    const named = (el.labels && el.labels.length > 0)
      || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
    if (!named) bad.push(el.outerHTML.slice(0, 120));
  }
  for (const el of document.querySelectorAll('button, a[href]')) {
    if (!visible(el)) continue;
    const name = (el.textContent || '').trim() || el.getAttribute('aria-label') || el.getAttribute('title');
    if (!name) bad.push(el.outerHTML.slice(0, 120));
  }
  if (!document.documentElement.lang) bad.push('<html> without lang');
  if (!document.title) bad.push('page without <title>');
  if (document.querySelectorAll('h1').length !== 1) bad.push('page without exactly one <h1>');
  return bad;
}
"""


def assert_accessible_basics(page: Page) -> None:
    problems = page.evaluate(_UNLABELLED)
    assert problems == [], f"{page.url}: unlabelled or unnamed controls: {problems}"


def screenshot(page: Page, name: str, tmp_dir: Path) -> Path:
    """A screenshot of the page: into docs/screenshots/ when ADMITTANCE_SCREENSHOTS=1 (to refresh
    the committed ones), else into the test's temp folder (taken all the same)."""
    folder = SCREENSHOTS if os.environ.get("ADMITTANCE_SCREENSHOTS") == "1" else tmp_dir
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1000
    return path


def sign_in(page: Page, username: str, password: str) -> None:
    """Through the sign-in form, as a user would (MFA steps are the test's own)."""
    page.goto("/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
