"""New results reach the doctor's open chart without a reload, in Debian's Chromium (Playwright).

A bridge of its own (SQLite, demo data) runs with its lifespan, so stored results are announced on the
signalling socket (`result.new`, bridge/results/news.py). The doctor opens a resident's chart; a 12-lead
ECG and a lab panel are then stored through the repository and announced; the page fetches its results
section again and shows them, marked new. The ECG must be drawn on the standard grid: the test measures
the grid's spacing and the traces' extent in pixels against 25 mm/s at the page's scale.

Never run ``playwright install``: /usr/bin/chromium is used, and its absence fails the test.
"""

from __future__ import annotations

import itertools
import re
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from bridge.app import create_app
from bridge.db.migrate import upgrade
from bridge.demo.seed import DEMO_PASSWORD, seed_demo
from bridge.results.news import announce_results
from bridge.runtime import Runtime
from bridge.services import Services
from tests.bridge.results.test_chart_results_ecg import TWELVE_LEAD
from tests.conftest import Bridge, make_settings
from tests.portal.test_result_pages import HOME_1, ecg_of, metabolic_panel, new_resident, store
from tests.support import AdjustableClock, LiveServer, fresh_database

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
VIEWPORT = {"width": 1280, "height": 800}
TWO_LEAD_RESIDENT = "demo-resident-06"
TWELVE = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


@pytest.fixture(scope="module")
def live_bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    """A demo bridge on SQLite, served with its lifespan: `runtime.live` publishes news to pages."""
    with fresh_database("sqlite", str(tmp_path_factory.mktemp("results-live"))) as url:
        upgrade(url)
        clock = AdjustableClock()
        runtime = Runtime.from_settings(make_settings(url), clock=clock)
        with runtime.session_factory.begin() as db:
            seed_demo(Services(db, runtime))
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


def watch_console(page: Page, problems: list[str]) -> None:
    def check(message: ConsoleMessage) -> None:
        if message.location.get("url", "").endswith("/favicon.ico"):
            return
        if message.type in {"error", "warning"} or "Content Security Policy" in message.text:
            problems.append(f"{message.type}: {message.text}")

    page.on("console", check)
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))


def sign_in(page: Page, bridge: Bridge, username: str) -> None:
    page.goto(f"{bridge.url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button.primary")
    expect(page).to_have_url(f"{bridge.url}/")


def store_and_announce(bridge: Bridge, patient_id: str, resources: list[dict[str, Any]], kind: str) -> list[str]:
    """What an ingestion does: store in one unit of work, announce once it commits."""
    with bridge.services() as services:
        references = []
        for resource in resources:
            created = services.repository.create({k: v for k, v in resource.items() if k != "id"}, resource["id"])
            references.append(f"{created['resourceType']}/{created['id']}")
        announce_results(services, HOME_1, patient_id, references, kind)
    return references


def vertical_lines(d: str) -> list[float]:
    return sorted(float(x) for x in re.findall(r"M([\d.]+) 0V", d))


def spacing(xs: list[float]) -> float:
    gaps = [b - a for a, b in itertools.pairwise(xs)]
    return sum(gaps) / len(gaps)


def test_stored_results_appear_on_the_open_chart_and_the_ecg_is_drawn_on_the_standard_grid(
    live_bridge: Bridge, browser: Browser, tmp_path: Path
) -> None:
    patient_id = new_resident(live_bridge)
    store(live_bridge, metabolic_panel(patient_id, 1, "2026-10-02T07:00:00+08:00", 5.4, "H"))
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    problems: list[str] = []
    watch_console(page, problems)
    try:
        sign_in(page, live_bridge, "doctor")
        page.goto(f"{live_bridge.url}/residents/{patient_id}")
        results = page.get_by_test_id("results")
        expect(results).to_have_attribute("data-live", "open", timeout=15000)
        expect(page.get_by_test_id("ecg-viewer")).to_have_count(0)
        page.evaluate("window.notReloaded = true")

        ecg_refs = store_and_announce(live_bridge, patient_id, [ecg_of(patient_id, TWELVE_LEAD)], "ecg")
        lab_refs = store_and_announce(
            live_bridge, patient_id, metabolic_panel(patient_id, 2, "2026-11-02T07:00:00+08:00", 6.6, "HH"), "lab"
        )

        viewer = page.get_by_test_id("ecg-viewer")
        expect(viewer).to_have_attribute("data-drawn", "true", timeout=15000)
        potassium = page.locator(f'tr[data-resources~="{lab_refs[1]}"]')
        expect(potassium).to_have_class(re.compile(r"\bis-new\b"), timeout=15000)
        expect(potassium.get_by_test_id("lab-value")).to_have_text("6.6")
        expect(page.locator(f'[data-resource="{ecg_refs[0]}"]')).to_have_class(re.compile(r"\bis-new\b"))
        expect(page.get_by_test_id("results-news")).to_be_visible()
        assert page.evaluate("window.notReloaded") is True

        drawing = page.evaluate(
            """() => {
              const svg = document.querySelector('[data-testid=ecg-svg]');
              const traces = [...svg.querySelectorAll('path.ecg-trace')].map((p) => {
                const xs = [...p.getAttribute('d').matchAll(/[ML]([\\d.]+) /g)].map((m) => Number(m[1]));
                return {lead: p.dataset.lead, rhythm: p.dataset.rhythm === 'true', points: Number(p.dataset.points),
                        start: Number(p.dataset.startS), width: Math.max(...xs) - Math.min(...xs)};
              });
              const canvas = svg.parentElement;
              return {
                pxPerMm: Number(svg.dataset.pxPerMm), pxPerSecond: Number(svg.dataset.pxPerSecond),
                width: Number(svg.getAttribute('width')), shownWidth: svg.getBoundingClientRect().width,
                small: svg.querySelector('[data-testid=ecg-grid-small]').getAttribute('d'),
                large: svg.querySelector('[data-testid=ecg-grid-large]').getAttribute('d'),
                calibrations: svg.querySelectorAll('[data-testid=ecg-calibration]').length,
                overflow: canvas.scrollWidth - canvas.clientWidth, traces,
              };
            }"""
        )
        px = drawing["pxPerMm"]
        assert 3 <= px <= 6, drawing["pxPerMm"]  # ten seconds fit a 1280-pixel tablet at a readable scale
        assert drawing["pxPerSecond"] == pytest.approx(25 * px, abs=0.05)
        assert drawing["shownWidth"] == pytest.approx(drawing["width"], abs=0.5)  # drawn 1:1, not scaled by CSS
        assert drawing["overflow"] <= 0  # no sideways scrolling on the tablet
        # The grid: 1 mm small squares (the 5 mm lines are the large grid), 5 mm large squares.
        assert spacing(vertical_lines(drawing["large"])) == pytest.approx(5 * px, abs=0.06)
        small = vertical_lines(drawing["small"])
        assert statistics.median(b - a for a, b in itertools.pairwise(small)) == pytest.approx(px, abs=0.11)
        # 3 × 4 leads of 2.5 s, each 2.5 s × 25 mm/s wide at this scale, then the 10-s rhythm strip of II.
        grid = {t["lead"]: t for t in drawing["traces"] if not t["rhythm"] and t["lead"] in TWELVE}
        assert set(grid) == set(TWELVE)
        for lead, trace in grid.items():
            assert trace["points"] == 1250, lead  # 2.5 s at 500 Hz
            assert trace["width"] == pytest.approx((1249 * 0.002) * 25 * px, abs=0.2), lead
        assert [grid[name]["start"] for name in ("I", "aVR", "V1", "V4")] == [0, 2.5, 5, 7.5]
        [rhythm] = [t for t in drawing["traces"] if t["rhythm"]]
        assert rhythm["lead"] == "II" and rhythm["points"] == 5000
        assert rhythm["width"] == pytest.approx(4999 * 0.002 * 25 * px, abs=0.2)
        assert drawing["calibrations"] == 4 + 3  # each row: 3 × 4, the rhythm strip, then vx vy vz

        measurements = page.get_by_test_id("ecg-measurements")
        expect(measurements.get_by_test_id("ecg-automated")).to_be_visible()
        page.screenshot(path=str(tmp_path / "chart-after-news.png"), full_page=True)
        viewer.screenshot(path=str(tmp_path / "ecg-12-lead.png"))

        potassium.get_by_test_id("lab-trend").click()
        chart = page.get_by_test_id("lab-trend-chart")
        expect(chart).to_be_visible()
        assert chart.locator("circle.trend-point").count() == 2
        page.get_by_test_id("lab-results").screenshot(path=str(tmp_path / "lab-table-trend.png"))

        # The demo's bedside ECG, two leads (MLII, V5) of MIT-BIH 100: a 10-s strip each.
        page.goto(f"{live_bridge.url}/residents/{TWO_LEAD_RESIDENT}")
        strips = page.get_by_test_id("ecg-viewer")
        expect(strips).to_have_attribute("data-drawn", "true")
        traces = strips.locator("path.ecg-trace")
        assert traces.evaluate_all("(ps) => ps.map((p) => [p.dataset.lead, Number(p.dataset.points)])") == [
            ["II", 3600],
            ["V5", 3600],
        ]
        strips.screenshot(path=str(tmp_path / "ecg-2-lead.png"))
        print(f"screenshots in {tmp_path}")
        assert problems == []
    finally:
        context.close()
