"""A prescription from the doctor's form to the nurse's receipt, in Debian's Chromium (Playwright).

A bridge of its own (SQLite, demo data, the drug catalogue) runs with its lifespan, so each step is
announced on the signalling socket (`prescription.changed`). The resident already takes enalapril; the
doctor prescribes losartan, sees the ACE inhibitor + ARB interaction (high, overridable), overrides it
with a reason and signs. The pharmacist's open desk shows the prescription without a reload; she
accepts, dispenses and dispatches it. The nurse's open list shows it dispatched without a reload; she
confirms receipt, and the Task is completed.

Screenshots of each page go to $BRIDGE_SCREENSHOT_DIR (default: <tmp>/prescription-pages) for the docs.
Never run ``playwright install``: /usr/bin/chromium is used, and its absence fails the test.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from bridge.app import create_app
from bridge.db.migrate import upgrade
from bridge.demo.seed import seed_demo
from bridge.prescriptions.catalogue import seed_catalogue
from bridge.results.point_of_care import CHINA_STANDARD_TIME
from bridge.runtime import Runtime
from bridge.services import Services
from tests.bridge.prescriptions.workflow_support import prescribable_resident
from tests.conftest import Bridge, make_settings
from tests.portal.test_browser_results import ARGS, CHROMIUM, sign_in, watch_console
from tests.portal.test_prescription_pages import ENALAPRIL, LOSARTAN, takes
from tests.support import AdjustableClock, LiveServer, fresh_database

pytestmark = pytest.mark.browser

LIVE_TIMEOUT = 15000
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def live_bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    """A demo bridge on SQLite with its catalogue, served with its lifespan: steps are announced to pages."""
    with fresh_database("sqlite", str(tmp_path_factory.mktemp("prescriptions-live"))) as url:
        upgrade(url)
        clock = AdjustableClock()
        runtime = Runtime.from_settings(make_settings(url), clock=clock)
        with runtime.session_factory.begin() as db:
            services = Services(db, runtime)
            seed_demo(services)
            seed_catalogue(services)
        with LiveServer(create_app(runtime=runtime), lifespan=True) as server:
            yield Bridge(runtime, clock, server.url)
        runtime.engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (never `playwright install`)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def screenshots() -> Path:
    folder = Path(os.environ.get("BRIDGE_SCREENSHOT_DIR") or tempfile.gettempdir()) / "prescription-pages"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def picture(page: Page, path: Path) -> None:
    """A screenshot for people to look at, not a check: a busy machine may not render one in time."""
    try:
        page.screenshot(path=str(path), full_page=True, timeout=60000)
    except PlaywrightTimeoutError:
        print(f"no screenshot {path.name}: the page did not render in time")


def open_page(browser: Browser, bridge: Bridge, username: str, problems: list[str]) -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    page = context.new_page()
    watch_console(page, problems)
    sign_in(page, bridge, username)
    return context, page


def wait_live(page: Page) -> None:
    expect(page.get_by_test_id("rx-live")).to_have_attribute("data-live", "open", timeout=LIVE_TIMEOUT)
    page.evaluate("window.notReloaded = true")


def test_doctor_prescribes_pharmacist_dispatches_nurse_receives(
    live_bridge: Bridge, browser: Browser, screenshots: Path
) -> None:
    patient = prescribable_resident(live_bridge)
    takes(live_bridge, patient, ENALAPRIL)
    problems: list[str] = []
    contexts = []
    try:
        nurse_ctx, nurse = open_page(browser, live_bridge, "nurse1", problems)
        pharmacy_ctx, pharmacist = open_page(browser, live_bridge, "pharmacist", problems)
        doctor_problems: list[str] = []
        doctor_ctx, doctor = open_page(browser, live_bridge, "doctor", doctor_problems)
        contexts = [nurse_ctx, pharmacy_ctx, doctor_ctx]
        nurse.get_by_test_id("rx-nurse-link").click()
        wait_live(nurse)
        pharmacist.get_by_test_id("rx-desk-link").click()
        wait_live(pharmacist)

        # The doctor: from the chart to the form; the picker's search narrows the list as she types.
        doctor.goto(f"{live_bridge.url}/residents/{patient}")
        doctor.get_by_test_id("rx-resident-link").click()
        doctor.get_by_test_id("rx-prescribe-link").click()
        doctor.get_by_test_id("rx-drug-search").fill("氯沙坦")
        expect(doctor.locator("#rx-drug option:not([hidden])")).to_have_count(1)
        doctor.get_by_test_id("rx-drug").select_option(LOSARTAN)
        doctor.get_by_test_id("rx-dose").fill("50")
        doctor.get_by_test_id("rx-per-day").fill("1")
        doctor.get_by_test_id("rx-quantity").fill("28")
        doctor.get_by_test_id("rx-days").fill("28")
        picture(doctor, screenshots / "1-doctor-form.png")
        doctor.get_by_test_id("rx-check").click()

        finding = doctor.locator('[data-testid=rx-finding][data-blocking="true"][data-overridable="true"]')
        expect(finding).to_have_count(1)
        expect(finding).to_have_attribute("data-key", "interaction:C09AA02+C09CA01")
        doctor.get_by_test_id("rx-sign").click()  # without a reason: refused, the field says why
        expect(doctor.get_by_test_id("rx-refused")).to_be_visible()
        expect(finding.locator(".field-error")).to_be_visible()
        picture(doctor, screenshots / "2-doctor-finding-needs-reason.png")
        finding.get_by_test_id("rx-override").fill("已停用依那普利，换药过渡期每周监测血钾和肌酐")
        doctor.get_by_test_id("rx-sign").click()
        expect(doctor.get_by_test_id("rx-signed")).to_be_visible()
        expect(doctor.get_by_test_id("rx-delivery").first).to_have_attribute("data-delivery", "with-pharmacy")
        picture(doctor, screenshots / "3-doctor-signed.png")

        # The pharmacist: the prescription arrives on the open desk.
        card = pharmacist.locator("[data-testid=rx-item]").filter(has_text="氯沙坦")
        expect(card).to_have_count(1, timeout=LIVE_TIMEOUT)
        assert pharmacist.evaluate("window.notReloaded") is True
        expect(card.get_by_test_id("rx-signature")).to_have_attribute("data-ok", "true")
        expect(card.get_by_test_id("rx-overrides")).to_contain_text("换药过渡期")
        picture(pharmacist, screenshots / "4-pharmacy-desk-review.png")
        card.get_by_test_id("rx-accept").click()
        expect(pharmacist.get_by_test_id("rx-done")).to_be_visible()
        card.get_by_test_id("rx-dispense-lot").fill("LS2311")
        card.get_by_test_id("rx-dispense").click()
        card.get_by_test_id("rx-courier").fill("顺丰速运")
        card.get_by_test_id("rx-tracking").fill("SF1234567890")
        arrival = (live_bridge.clock.now() + timedelta(hours=6)).astimezone(CHINA_STANDARD_TIME)
        card.get_by_test_id("rx-arrival").fill(arrival.strftime("%Y-%m-%dT%H:%M"))
        picture(pharmacist, screenshots / "5-pharmacy-desk-dispatch.png")
        card.get_by_test_id("rx-dispatch").click()
        expect(card.get_by_test_id("rx-delivery")).to_have_attribute("data-delivery", "dispatched")
        expect(card.get_by_test_id("rx-deliver")).to_be_visible()

        # The nurse: her open list shows it on its way; she counts and confirms.
        item = nurse.locator("[data-testid=rx-item]").filter(has_text="氯沙坦")
        expect(item.get_by_test_id("rx-delivery")).to_have_attribute(
            "data-delivery", "dispatched", timeout=LIVE_TIMEOUT
        )
        assert nurse.evaluate("window.notReloaded") is True
        expect(item.get_by_test_id("rx-dispatch")).to_contain_text("SF1234567890")
        expect(item.get_by_test_id("rx-receipt-quantity")).to_have_value("28")
        picture(nurse, screenshots / "6-nurse-in-flight.png")
        item.get_by_test_id("rx-receipt-submit").click()
        expect(nurse.get_by_test_id("rx-received")).to_be_visible()
        expect(item.get_by_test_id("rx-delivery")).to_have_attribute("data-delivery", "received")
        picture(nurse, screenshots / "7-nurse-received.png")

        # The pharmacist's desk hears of the receipt too.
        expect(card.get_by_test_id("rx-delivery")).to_have_attribute("data-delivery", "received", timeout=LIVE_TIMEOUT)
        picture(pharmacist, screenshots / "8-pharmacy-desk-done.png")
        task_id = card.get_attribute("data-task")
        pharmacist.locator('.lang-switch button[value="en"]').click()
        expect(pharmacist.get_by_test_id("page-title")).to_have_text("Pharmacy desk")
        picture(pharmacist, screenshots / "9-pharmacy-desk-english.png")
        with live_bridge.services() as services:
            task = services.repository.read("Task", str(task_id))
        assert task["status"] == "completed"
        assert not problems, problems
        # The one refused signature answered 422 on purpose; Chromium logs every 4xx page load.
        assert [p for p in doctor_problems if "422" not in p] == [], doctor_problems
    finally:
        for context in contexts:
            context.close()
