"""Critical-value alerts in real time, through an application with its lifespan (the live publisher and the
escalation timer run): the doctor's and the home nurse's signalling sockets hear `result.critical` at once
and `result.critical_acknowledged` after a doctor acknowledges; the supervisors hear `alert` when nobody
does within the limit; in Chromium, the doctor's and the nurse's home pages show a new alert at once, with a
sound, and drop it once the doctor acknowledged it. A database of its own, so moving its clock disturbs no
other test."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import select

from bridge.db.tables import SupervisorAlert
from bridge.demo.seed import DEMO_PASSWORD
from rtc.signalling_client import SignallingClient, SignallingError
from tests.bridge.results.critical_support import LiveBridge, running_live_bridge
from tests.bridge.signalling.support import run
from tests.portal.test_browser_login import CHROMIUM, CHROMIUM_ARGS, VIEWPORT


@pytest.fixture(scope="module")
def live(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBridge]:
    with running_live_bridge(backend, str(tmp_path_factory.mktemp(f"critical-{backend}"))) as running:
        yield running


async def nothing_of(client: SignallingClient, kind: str, seconds: float = 0.3) -> bool:
    with contextlib.suppress(SignallingError):
        await client.next_event(kind, timeout=seconds)
        return False
    return True


def test_doctor_and_home_nurse_hear_the_alert_at_once_and_its_acknowledgement(live: LiveBridge) -> None:
    async def body() -> None:
        doctor, nurse, other_nurse = (
            await live.socket("doctor"),
            await live.socket("nurse1"),
            await live.socket("nurse2"),
        )
        try:
            patient_id, communication_id = await asyncio.to_thread(live.critical_result, 7.2)
            heard = await doctor.next_event("result.critical", timeout=5)
            assert heard["communication_id"] == communication_id and heard["patient_id"] == patient_id
            assert heard["patient"] == {"id": patient_id, "display": "危急测试"}
            assert heard["value"] == "7.2 mmol/L" and heard["limit"] == "> 6.2 mmol/L"
            assert heard["observation"].startswith("Observation/") and heard["observation"].endswith("/_history/1")
            (finding,) = heard["findings"]
            assert finding["name"] == {"zh-CN": "血钾", "en": "Potassium"} and finding["side"] == "high"
            assert heard["acknowledge_within_minutes"] == 10 and heard["home_id"] == "demo-home-1"
            assert (await nurse.next_event("result.critical", timeout=5))["communication_id"] == communication_id
            assert await nothing_of(other_nurse, "result.critical")

            headers = {"Authorization": f"Bearer {await asyncio.to_thread(live.token, 'doctor')}"}
            async with httpx.AsyncClient(base_url=live.url, headers=headers, timeout=20) as http:
                response = await http.post(f"/fhir/Communication/{communication_id}/$acknowledge")
            assert response.status_code == 200, response.text
            for client in (doctor, nurse):
                done = await client.next_event("result.critical_acknowledged", timeout=5)
                assert done["communication_id"] == communication_id
                assert done["acknowledged_by"]["display"] == "李建国" and done["seconds_to_acknowledge"] >= 0
        finally:
            for client in (doctor, nurse, other_nurse):
                await client.close()

    run(body)


def test_the_escalation_timer_alerts_supervisors_once(live: LiveBridge) -> None:
    async def body() -> None:
        supervisor = await live.socket("supervisor")
        try:
            _, communication_id = await asyncio.to_thread(live.critical_result)
            assert await nothing_of(supervisor, "alert", 0.5)  # within the ten minutes: nothing
            with live.clock.advanced(timedelta(minutes=10, seconds=1)):
                alert = await supervisor.next_event("alert", timeout=5)
                assert alert["kind"] == "critical_unacknowledged" and alert["communication_id"] == communication_id
                assert alert["waiting_seconds"] >= 600 and alert["home"] == "demo-home-1"
                await asyncio.sleep(0.5)  # several more sweeps
            assert await nothing_of(supervisor, "alert")
        finally:
            await supervisor.close()
        with live.runtime.session_factory.begin() as db:
            kinds = db.scalars(select(SupervisorAlert.kind).where(SupervisorAlert.detail.contains(communication_id)))
            assert list(kinds) == ["critical_unacknowledged"]

    run(body)


@pytest.fixture
def chromium() -> Iterator[Browser]:
    # Per test: the sync Playwright API keeps an event loop running in this thread while it is open, and
    # the signalling tests of the next backend need that thread's loop free (asyncio.run).
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: the browser tests need Debian's Chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def home_page(chromium: Browser, live: LiveBridge, username: str) -> Page:
    page = chromium.new_context(viewport=VIEWPORT).new_page()
    page.goto(f"{live.url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button.primary")
    expect(page.get_by_test_id("critical-alerts")).to_have_attribute("data-socket", "open")
    page.mouse.click(5, 5)  # a gesture, so the page may play sound
    return page


@pytest.mark.browser
def test_pages_show_a_new_critical_value_at_once_and_drop_it_once_acknowledged(
    chromium: Browser, live: LiveBridge
) -> None:
    doctor, nurse = home_page(chromium, live, "doctor"), home_page(chromium, live, "nurse1")
    try:
        patient_id, communication_id = live.critical_result(7.3)
        for page in (doctor, nurse):
            item = page.locator(f'[data-alert="{communication_id}"]')
            expect(item).to_contain_text("血钾 7.3 mmol/L（危急界限 > 6.2 mmol/L）", timeout=5000)
            expect(item).to_contain_text("危急测试")
            expect(page.get_by_test_id("critical-alerts")).to_have_attribute("data-beeps", "1")
        expect(nurse.locator(f'[data-alert="{communication_id}"] button')).to_have_count(0)
        assert patient_id in (doctor.locator(f'[data-alert="{communication_id}"] a').get_attribute("href") or "")

        doctor.locator(f'[data-alert="{communication_id}"]').get_by_test_id("critical-acknowledge").click()
        expect(doctor.locator(f'[data-alert="{communication_id}"]')).to_have_count(0)
        expect(nurse.locator(f'[data-alert="{communication_id}"]')).to_have_count(0, timeout=5000)
        expect(nurse.get_by_test_id("critical-silence")).to_be_hidden()
    finally:
        doctor.context.close()
        nurse.context.close()
