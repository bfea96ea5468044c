"""The nurse's upload page in Debian's Chromium: two HL7 files dropped on the page, one about a resident
of her home and one about nobody she knows, and a WFDB ECG (.hea + .dat) for the resident she chose;
each shows its progress, the first and the ECG end matched with a link to the resident, the second
quarantined with its reason, and the home's recent list shows them.

Never `playwright install`: the test uses /usr/bin/chromium and fails (not skips) without it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

from bridge.i18n import Translator
from tests.bridge.ingest.support import ECG_DIR, ingest_resident, oru, resident_identifier
from tests.conftest import Bridge
from tests.portal.test_browser_login import CHROMIUM, CHROMIUM_ARGS, log_in

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning:hl7.*")]

ZH = Translator("zh-CN")
TIMEOUT_MS = 15_000
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
SODIUM = "NM|2951-2^Sodium^LN||139|mmol/L|135-145|N|||F"
# Builds a DataTransfer of the given files (name, base64 content) in the page, as a drag from the
# desktop would carry them.
DATA_TRANSFER = """files => {
  const transfer = new DataTransfer();
  for (const [name, encoded] of files) {
    const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
    transfer.items.add(new File([bytes], name, {type: ""}));
  }
  return transfer;
}"""
# Records every value the progress bars take (progress.value reflects the `value` attribute).
WATCH_PROGRESS = """() => {
  window.progressSeen = [];
  const seen = () => document.querySelectorAll("progress").forEach((p) => window.progressSeen.push(p.value));
  new MutationObserver(seen).observe(document.getElementById("upload-list"), {subtree: true, childList: true,
                                                                             attributes: true});
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (never `playwright install`)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def drop(page: Page, files: list[tuple[str, bytes]]) -> None:
    encoded = [(name, base64.b64encode(content).decode()) for name, content in files]
    transfer = page.evaluate_handle(DATA_TRANSFER, encoded)
    page.dispatch_event("#drop-zone", "dragover", {"dataTransfer": transfer})
    page.dispatch_event("#drop-zone", "drop", {"dataTransfer": transfer})


def test_dropped_hl7_files_show_progress_then_matched_or_quarantined(bridge: Bridge, page: Page) -> None:
    patient = ingest_resident(bridge)  # its own: the results stored change no demo resident's chart
    good = oru(resident_identifier(bridge, patient), SODIUM)
    unknown = oru("H1-5555", SODIUM)
    ecg = [(name, (ECG_DIR / name).read_bytes()) for name in ("100.hea", "100.dat")]  # MIT-BIH record 100
    log_in(page, bridge, "nurse1")
    expect(page).to_have_url(f"{bridge.url}/")
    page.get_by_test_id("upload-link").click()
    expect(page.get_by_test_id("page-title")).to_have_text(ZH("upload.title"))
    expect(page.locator("#results-upload")).to_have_attribute("data-ready", "true")
    # Watch the bars, to see them move rather than only end full.
    page.evaluate(WATCH_PROGRESS)

    page.get_by_test_id("upload-resident").select_option(patient)  # whose ECG it is
    drop(page, [("good.hl7", good), ("unknown.hl7", unknown), *ecg])

    items = page.get_by_test_id("upload-item")
    expect(items).to_have_count(3)
    matched = items.filter(has_text="good.hl7")
    quarantined = items.filter(has_text="unknown.hl7")
    ecg_item = items.filter(has_text="100.hea")
    expect(matched).to_have_attribute("data-status", "matched")
    expect(quarantined).to_have_attribute("data-status", "quarantined")
    expect(ecg_item).to_contain_text("100.dat")  # the record's two files went up as one
    expect(ecg_item).to_have_attribute("data-status", "matched", timeout=30_000)
    expect(ecg_item.get_by_test_id("upload-resident-link")).to_have_attribute("href", f"/residents/{patient}")
    for item in (matched, quarantined, ecg_item):
        expect(item.get_by_test_id("upload-progress")).to_have_js_property("value", 100)
    link = matched.get_by_test_id("upload-resident-link")
    expect(link).to_have_attribute("href", f"/residents/{patient}")
    expect(matched).to_contain_text(ZH("upload.status.matched"))
    expect(quarantined).to_contain_text(ZH("upload.status.quarantined"))
    expect(quarantined.get_by_test_id("upload-reason")).to_contain_text("H1-5555")
    assert 100 in page.evaluate("window.progressSeen")

    # The home's recent uploads, fetched again once both were done, list the quarantined one with why.
    expect(page.locator("#results-upload")).to_have_attribute("data-done", "1")
    recent = page.get_by_test_id("recent-upload")
    expect(recent.filter(has_text="H1-5555").first).to_have_attribute("data-status", "quarantined")
    expect(page.get_by_test_id("recent-uploads").locator(f'a[href="/residents/{patient}"]').first).to_be_visible()

    link.click()
    expect(page).to_have_url(f"{bridge.url}/residents/{patient}")
