"""Bulk import in a browser: drop a file with bad rows, see the preview with the problems, import
it, watch the job finish live, download the failed rows."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.support.browser import assert_accessible_basics, screenshot

PASSWORD = "Xq7-vLp2-9TzR-k4Wm"
MANIFEST = (
    "ID;CREDENTIALS;NAME;PATH\n"
    + "".join(f"sensor-{n:03d};{PASSWORD}-{n};Sensor {n};plant/line-{n % 3}\n" for n in range(1, 41))
    + f"broken-path;{PASSWORD}-x;Broken;plant//line\n"
    + "no-password;;Forgotten;plant\n"
)


def test_drop_a_file_preview_its_problems_import_it_and_download_the_failures(admin_page: Page, tmp_path: Path) -> None:
    page = admin_page
    page.get_by_role("link", name="Bulk import").click()
    expect(page.get_by_role("heading", name="Bulk import", level=1)).to_be_visible()
    expect(page.get_by_text("No imports yet")).to_be_visible()
    # Drop the file on the zone, as a user dragging it from their file manager would.
    dropped = page.evaluate_handle(
        """(text) => { const data = new DataTransfer();
            data.items.add(new File([text], 'factory.csv', { type: 'text/csv' })); return data; }""",
        MANIFEST,
    )
    page.dispatch_event("[data-dropzone]", "drop", {"dataTransfer": dropped})
    expect(page.locator("[data-dropzone-name]")).to_have_text("factory.csv")
    assert_accessible_basics(page)
    page.get_by_role("button", name="Upload and preview").click()

    expect(page.get_by_role("heading", name="Preview of factory.csv")).to_be_visible()
    expect(page.locator("#preview-separator")).to_have_text("semicolon")
    expect(page.locator("#preview-rows")).to_have_text("42")
    problems = page.locator("#preview-problems")
    expect(problems).to_contain_text("PATH 'plant//line' has an empty group name")
    expect(problems).to_contain_text("CREDENTIALS is empty")
    expect(page.locator("#preview-first-rows tbody tr")).to_have_count(10)
    expect(page.locator("#preview-first-rows")).not_to_contain_text(PASSWORD)
    assert_accessible_basics(page)
    screenshot(page, "imports-preview", tmp_path)

    page.get_by_role("button", name="Import 42 rows").click()
    expect(page.get_by_role("status")).to_contain_text("The import of 42 rows has started.")
    # The worker of the served process runs the job; the page follows it without a reload.
    expect(page.locator("#import-status")).to_contain_text("SUCCEEDED", timeout=30_000)
    expect(page.locator("#count-created")).to_have_text("40")
    expect(page.locator("#count-failed")).to_have_text("2")
    expect(page.locator("#import-progress")).to_have_attribute("value", "42")
    expect(page.locator("#import-rows")).to_contain_text("broken-path")
    assert_accessible_basics(page)
    screenshot(page, "imports-detail", tmp_path)

    with page.expect_download() as waiting:
        page.get_by_role("link", name="Download the 2 failed rows (CSV)").click()
    download = waiting.value
    text = Path(download.path()).read_text("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0] == ["ID", "CREDENTIALS", "NAME", "PATH", "FAILURE_REASON"]
    assert [row[0] for row in rows[1:]] == ["broken-path", "no-password"]
    assert rows[1][3] == "plant//line"
    assert "empty group name" in rows[1][4]
    assert PASSWORD not in text

    page.get_by_role("link", name="All imports").click()
    expect(page.get_by_role("link", name="factory.csv")).to_be_visible()
    assert_accessible_basics(page)
    screenshot(page, "imports", tmp_path)

    # At phone width the page does not scroll sideways (wide tables scroll inside their wrapper).
    page.get_by_role("link", name="factory.csv").click()
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.locator("#import-status")).to_contain_text("SUCCEEDED")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "imports-detail-phone", tmp_path)
