"""The whole loop in Chromium, each role in its own browser context, on a bridge of its own (SQLite, demo
data, the drug catalogue, served with its lifespan so pages hear news and the overdue sweep runs):

1. the nurse starts a consult from the resident's page and the doctor accepts it from the queue; both
   call pages decode the other's video (Chromium's fake camera), and the nurse hangs up;
2. the nurse uploads a laboratory file (HL7 v2) and an ECG (MIT-BIH 100, WFDB); the doctor's chart
   draws the ECG and tabulates the results, and the doctor marks both reviewed;
3. the doctor sends advice with a follow-up task, which the nurse's open advice page shows at once; she
   acknowledges it and completes the task; the doctor refers the resident for an in-person visit, which
   the hospital's open referral list shows at once; it accepts with an appointment the nurse then sees,
   and completes the visit;
4. the doctor prescribes: the safety check finds an interaction, which the doctor overrides with a reason,
   and signs; the pharmacist accepts, dispenses and dispatches;
5. the nurse confirms receipt of the drug;
6. the supervisor's dashboard shows the loop closed on time, and its timeline every step.

Every page visited is saved as a screenshot in $BRIDGE_SCREENSHOT_DIR/whole-loop (default: the temporary
directory); docs/whole-loop.md shows the ones committed under docs/whole-loop/.
Never `playwright install`: /usr/bin/chromium is used, and its absence fails the test.
"""

from __future__ import annotations

import base64
import os
import re
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from sqlalchemy import select

from bridge.app import create_app
from bridge.db.migrate import upgrade
from bridge.demo.seed import DEMO_PASSWORD, seed_demo
from bridge.directory.codes import RESIDENT_NUMBER_SYSTEM
from bridge.i18n import Translator
from bridge.loops.tables import LoopClock, LoopStep
from bridge.prescriptions.catalogue import seed_catalogue
from bridge.results.point_of_care import CHINA_STANDARD_TIME
from bridge.runtime import Runtime
from bridge.services import Services
from tests.bridge.ingest.support import ECG_DIR, oru
from tests.bridge.prescriptions.workflow_support import prescribable_resident
from tests.conftest import Bridge, make_settings
from tests.portal.test_browser_login import CHROMIUM, CHROMIUM_ARGS
from tests.portal.test_prescription_pages import ENALAPRIL, LOSARTAN, takes
from tests.support import AdjustableClock, LiveServer, fresh_database

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning:hl7.*")]

ZH = Translator("zh-CN")
LIVE = 20_000
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
ARGS = [*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"]
FRAMES_DECODED = """async () => {
  let frames = 0;
  for (const pc of Object.values(window.__consultPeers || {})) {
    (await pc.getStats()).forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") frames += s.framesDecoded || 0;
    });
  }
  return frames;
}"""
DATA_TRANSFER = """files => {
  const transfer = new DataTransfer();
  for (const [name, encoded] of files) {
    const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
    transfer.items.add(new File([bytes], name, {type: ""}));
  }
  return transfer;
}"""
SODIUM = "NM|2951-2^Sodium^LN||139|mmol/L|137-147|N|||F"
POTASSIUM = "NM|2823-3^Potassium^LN||5.1|mmol/L|3.5-5.3|N|||F"
CREATININE = "NM|2160-0^Creatinine^LN||88|umol/L|45-84|H|||F"


@pytest.fixture(scope="module")
def live_bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    with fresh_database("sqlite", str(tmp_path_factory.mktemp("whole-loop"))) as url:
        upgrade(url)
        runtime = Runtime.from_settings(make_settings(url, recording_enabled=False), clock=AdjustableClock())
        with runtime.session_factory.begin() as db:
            services = Services(db, runtime)
            seed_demo(services)
            seed_catalogue(services)
        with LiveServer(create_app(runtime=runtime), lifespan=True) as server:
            yield Bridge(runtime, runtime.clock, server.url)  # type: ignore[arg-type]
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


class Screenshots:
    """Every page visited, numbered in the order of the story."""

    def __init__(self) -> None:
        self.folder = Path(os.environ.get("BRIDGE_SCREENSHOT_DIR") or tempfile.gettempdir()) / "whole-loop"
        self.folder.mkdir(parents=True, exist_ok=True)
        for stale in self.folder.glob("*.png"):  # a run's pictures are one story
            stale.unlink()
        self.taken: list[str] = []

    def take(self, page: Page, name: str) -> None:
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        try:
            page.screenshot(path=str(path), full_page=True, timeout=60_000)
        except PlaywrightTimeoutError:  # a picture for people, not a check: a busy machine may be slow
            print(f"no screenshot {path.name}: the page did not render in time")
        self.taken.append(path.name)


def resident_with_first_visit(bridge: Bridge) -> tuple[str, str]:
    """A resident of home 1 seen in person by a demo doctor, with a number labs use: (id, number)."""
    patient_id = prescribable_resident(bridge, birth_date="1940-01-01")  # as the laboratory's PID says
    number = f"H1-L{uuid.uuid4().hex[:6]}"
    with bridge.services() as services:
        # A new dict: the repository hands out the stored one, and an update equal to it writes nothing.
        patient = {
            **services.repository.read("Patient", patient_id),
            "identifier": [{"system": f"{RESIDENT_NUMBER_SYSTEM}/H1", "value": number}],
            "name": [{"text": "闭环测试", "family": "闭", "given": ["环测试"]}],
        }
        services.repository.update(patient)
    return patient_id, number


def open_as(browser: Browser, bridge: Bridge, username: str, problems: list[str]) -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    context.set_default_timeout(LIVE)
    page = context.new_page()

    def console(message: Any) -> None:
        where = message.location.get("url", "")
        if message.type == "error" and not where.endswith("/favicon.ico") and " 422 " not in message.text:
            problems.append(f"{username}: {message.text} ({where})")

    page.on("console", console)
    page.on("pageerror", lambda error: problems.append(f"{username}: {error}"))
    page.goto(f"{bridge.url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button.primary")
    expect(page).to_have_url(f"{bridge.url}/")
    return context, page


def wait_for_frames(page: Page, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    frames = 0
    while time.monotonic() < deadline:
        frames = int(page.evaluate(FRAMES_DECODED))
        if frames > 0:
            return frames
        time.sleep(0.25)
    raise AssertionError(f"no video frames decoded on {page.url}")


def drop(page: Page, files: list[tuple[str, bytes]]) -> None:
    encoded = [(name, base64.b64encode(content).decode()) for name, content in files]
    transfer = page.evaluate_handle(DATA_TRANSFER, encoded)
    page.dispatch_event("#drop-zone", "dragover", {"dataTransfer": transfer})
    page.dispatch_event("#drop-zone", "drop", {"dataTransfer": transfer})


def test_the_whole_loop_from_data_up_to_drug_received(live_bridge: Bridge, browser: Browser) -> None:
    bridge, shots, problems = live_bridge, Screenshots(), []
    patient_id, number = resident_with_first_visit(bridge)
    takes(bridge, patient_id, ENALAPRIL)
    contexts: list[BrowserContext] = []
    try:
        nurse_ctx, nurse = open_as(browser, bridge, "nurse1", problems)
        doctor_ctx, doctor = open_as(browser, bridge, "doctor", problems)
        pharmacy_ctx, pharmacist = open_as(browser, bridge, "pharmacist", problems)
        contexts = [nurse_ctx, doctor_ctx, pharmacy_ctx]

        # 1. The consult: the nurse asks from the resident's page; the doctor's queue rings; video both ways.
        doctor.goto(f"{bridge.url}/consults/queue")
        expect(doctor.get_by_test_id("consult-queue")).to_have_attribute("data-socket", "open")
        nurse.goto(f"{bridge.url}/residents/{patient_id}")
        shots.take(nurse, "nurse-resident")
        nurse.get_by_test_id("consult-reason").fill("血压偏高，头晕两天")
        nurse.get_by_test_id("consult-routine").click()
        expect(nurse).to_have_url(re.compile(r"/consults/[0-9a-f-]{36}/call$"))
        consult_id = nurse.url.rsplit("/", 2)[-2]
        item = doctor.locator(f'[data-testid=queue-item][data-consult="{consult_id}"]')
        expect(item).to_be_visible()
        shots.take(doctor, "doctor-queue")
        item.get_by_test_id("queue-accept").click()
        expect(doctor).to_have_url(f"{bridge.url}/consults/{consult_id}/call")
        for page in (nurse, doctor):
            expect(page.get_by_test_id("call-state")).to_have_text(ZH("consult.state.in_call"))
        assert wait_for_frames(nurse) > 0 and wait_for_frames(doctor) > 0
        shots.take(nurse, "nurse-call")
        shots.take(doctor, "doctor-call")
        nurse.get_by_test_id("call-hangup").click()
        expect(doctor.get_by_test_id("ended-text")).to_contain_text(ZH("consult.state.ended"))

        # 2. Data up: a laboratory file and an ECG from the nurse's upload page.
        nurse.goto(f"{bridge.url}/")
        nurse.get_by_test_id("upload-link").click()
        expect(nurse.locator("#results-upload")).to_have_attribute("data-ready", "true")
        nurse.get_by_test_id("upload-resident").select_option(patient_id)
        ecg = [(name, (ECG_DIR / name).read_bytes()) for name in ("100.hea", "100.dat")]
        drop(nurse, [("lab.hl7", oru(number, SODIUM, POTASSIUM, CREATININE)), *ecg])
        uploads = nurse.get_by_test_id("upload-item")
        expect(uploads).to_have_count(2)
        for upload in (uploads.filter(has_text="lab.hl7"), uploads.filter(has_text="100.hea")):
            expect(upload).to_have_attribute("data-status", "matched", timeout=60_000)
        shots.take(nurse, "nurse-upload")

        # The ECG's automated QTc (610 ms) is a critical value: the doctor's home page shows the alert, and
        # acknowledging it counts as reviewing the ECG.
        doctor.goto(f"{bridge.url}/")
        alert = doctor.get_by_test_id("critical-alert").filter(has_text="闭环测试")
        expect(alert).to_contain_text("QTc")
        shots.take(doctor, "doctor-critical-alert")
        alert.get_by_test_id("critical-acknowledge").click()
        expect(doctor.get_by_test_id("critical-alert").filter(has_text="闭环测试")).to_have_count(0)

        doctor.goto(f"{bridge.url}/residents/{patient_id}")
        expect(doctor.get_by_test_id("ecg-viewer")).to_have_attribute("data-drawn", "true")
        expect(doctor.get_by_test_id("lab-row").filter(has_text="139")).to_have_count(1)
        review = doctor.get_by_test_id("review-item")
        expect(review).to_have_count(1)
        expect(review).to_have_attribute("data-subject", re.compile(r"^DiagnosticReport/"))
        shots.take(doctor, "doctor-chart-results")
        review.get_by_test_id("review-mark").click()
        expect(doctor.get_by_test_id("review-none")).to_be_visible()

        # 3. Advice with a follow-up task, about the laboratory report; the nurse's open advice page shows it
        # without a reload, she acknowledges it and, once done, completes the task.
        nurse.goto(f"{bridge.url}/")
        nurse.get_by_test_id("nav-advice").click()
        expect(nurse.get_by_test_id("advice-empty")).to_be_visible()
        nurse.evaluate("window.notReloaded = true")
        doctor.get_by_test_id("advice-text-input").fill("血压偏高，暂停晨起剧烈活动，低盐饮食；观察头晕。")
        doctor.get_by_test_id("advice-task-0-description").fill("每日测量血压两次（早晚），连续7天")
        due = (bridge.clock.now() + timedelta(days=1)).astimezone(CHINA_STANDARD_TIME)
        doctor.get_by_test_id("advice-task-0-due").fill(due.strftime("%Y-%m-%dT%H:%M"))
        doctor.locator('input[name=about][value^="DiagnosticReport/"]').check()
        shots.take(doctor, "doctor-advice-form")
        doctor.get_by_test_id("advice-send").click()
        expect(doctor.get_by_test_id("advice-sent")).to_be_visible()

        advice = nurse.get_by_test_id("advice-item").filter(has_text="低盐饮食")
        expect(advice.get_by_test_id("advice-unacknowledged")).to_be_visible()
        assert nurse.evaluate("window.notReloaded") is True
        shots.take(nurse, "nurse-advice-arrived")
        advice.get_by_test_id("advice-acknowledge").click()
        expect(nurse.get_by_test_id("advice-item").filter(has_text="低盐饮食")).to_contain_text(
            ZH("advice.acknowledged")
        )
        task = nurse.get_by_test_id("advice-task").filter(has_text="每日测量血压两次")
        task.get_by_test_id("advice-complete-note").fill("7天血压均在 130-145/80-90 mmHg")
        task.get_by_test_id("advice-complete").click()
        expect(nurse.get_by_test_id("advice-done-task").filter(has_text="每日测量血压两次")).to_be_visible()
        shots.take(nurse, "nurse-advice-done")

        # The referral for an in-person visit: the hospital's referral desk (another doctor of the hospital)
        # has its list open and sees it arrive; it accepts with an appointment and later completes it.
        desk_ctx, desk = open_as(browser, bridge, "doctor2", problems)
        contexts.append(desk_ctx)
        desk.goto(f"{bridge.url}/referrals")
        expect(desk.get_by_test_id("referrals-live")).to_have_attribute("data-live", "open")
        desk.evaluate("window.notReloaded = true")
        doctor.goto(f"{bridge.url}/residents/{patient_id}")
        doctor.get_by_test_id("referral-open").click()
        doctor.get_by_test_id("referral-reason").fill("反复头晕伴血压波动，建议神经内科门诊面诊")
        doctor.get_by_test_id("referral-urgency").select_option("urgent")
        shots.take(doctor, "doctor-referral-form")
        doctor.get_by_test_id("referral-submit").click()
        expect(doctor.get_by_test_id("referral-sent")).to_be_visible()
        incoming = desk.get_by_test_id("referral-item").filter(has_text="闭环测试")
        expect(incoming).to_have_attribute("data-status", "requested")
        assert desk.evaluate("window.notReloaded") is True
        shots.take(desk, "hospital-referral-arrived")
        appointment = (bridge.clock.now() + timedelta(days=1)).astimezone(CHINA_STANDARD_TIME)
        incoming.get_by_test_id("referral-appointment-input").fill(appointment.strftime("%Y-%m-%dT09:00"))
        incoming.get_by_test_id("referral-accept").click()
        accepted = desk.get_by_test_id("referral-item").filter(has_text="闭环测试")
        expect(accepted).to_have_attribute("data-status", "accepted")
        nurse.goto(f"{bridge.url}/referrals")
        expect(nurse.get_by_test_id("referral-item").filter(has_text="闭环测试")).to_have_attribute(
            "data-status", "accepted"
        )
        expect(nurse.get_by_test_id("referral-appointment")).to_be_visible()
        shots.take(nurse, "nurse-referral-accepted")
        accepted.get_by_test_id("referral-outcome-input").fill(
            "神经内科门诊：良性阵发性位置性眩晕，无需住院，继续降压治疗"
        )
        accepted.get_by_test_id("referral-complete").click()
        expect(desk.get_by_test_id("referral-item").filter(has_text="闭环测试")).to_have_attribute(
            "data-status", "completed"
        )
        shots.take(desk, "hospital-referral-completed")
        doctor.goto(f"{bridge.url}/residents/{patient_id}")

        # 4. The prescription: the interaction with enalapril is found, overridden with a reason, signed.
        doctor.get_by_test_id("rx-resident-link").click()
        doctor.get_by_test_id("rx-prescribe-link").click()
        doctor.get_by_test_id("rx-drug-search").fill("氯沙坦")
        doctor.get_by_test_id("rx-drug").select_option(LOSARTAN)
        doctor.get_by_test_id("rx-dose").fill("50")
        doctor.get_by_test_id("rx-per-day").fill("1")
        doctor.get_by_test_id("rx-quantity").fill("28")
        doctor.get_by_test_id("rx-days").fill("28")
        doctor.get_by_test_id("rx-check").click()
        finding = doctor.locator('[data-testid=rx-finding][data-blocking="true"][data-overridable="true"]')
        expect(finding).to_have_attribute("data-key", "interaction:C09AA02+C09CA01")
        shots.take(doctor, "doctor-prescription-finding")
        finding.get_by_test_id("rx-override").fill("已停用依那普利，换药过渡期每周监测血钾和肌酐")
        doctor.get_by_test_id("rx-sign").click()
        expect(doctor.get_by_test_id("rx-signed")).to_be_visible()
        shots.take(doctor, "doctor-prescription-signed")

        # The pharmacy: accept, dispense, dispatch.
        pharmacist.get_by_test_id("rx-desk-link").click()
        card = pharmacist.locator("[data-testid=rx-item]").filter(has_text="氯沙坦")
        expect(card).to_have_count(1)
        expect(card.get_by_test_id("rx-signature")).to_have_attribute("data-ok", "true")
        shots.take(pharmacist, "pharmacist-desk")
        card.get_by_test_id("rx-accept").click()
        expect(pharmacist.get_by_test_id("rx-done")).to_be_visible()
        card.get_by_test_id("rx-dispense-lot").fill("LS2311")
        card.get_by_test_id("rx-dispense").click()
        card.get_by_test_id("rx-courier").fill("顺丰速运")
        card.get_by_test_id("rx-tracking").fill("SF1234567890")
        arrival = (bridge.clock.now() + timedelta(hours=6)).astimezone(CHINA_STANDARD_TIME)
        card.get_by_test_id("rx-arrival").fill(arrival.strftime("%Y-%m-%dT%H:%M"))
        card.get_by_test_id("rx-dispatch").click()
        expect(card.get_by_test_id("rx-delivery")).to_have_attribute("data-delivery", "dispatched")
        shots.take(pharmacist, "pharmacist-dispatched")

        # 5. The nurse confirms receipt of the drug.
        nurse.goto(f"{bridge.url}/")
        nurse.get_by_test_id("rx-nurse-link").click()
        received = nurse.locator("[data-testid=rx-item]").filter(has_text="氯沙坦")
        expect(received.get_by_test_id("rx-delivery")).to_have_attribute("data-delivery", "dispatched")
        shots.take(nurse, "nurse-prescriptions")
        received.get_by_test_id("rx-receipt-submit").click()
        expect(nurse.get_by_test_id("rx-received")).to_be_visible()
        shots.take(nurse, "nurse-received")

        # 6. The supervisor: the dashboard counts the loop closed on time; its timeline shows every step.
        supervisor_ctx, supervisor = open_as(browser, bridge, "supervisor", problems)
        contexts.append(supervisor_ctx)
        supervisor.goto(f"{bridge.url}/supervision/loops?period=7")
        home = supervisor.locator('[data-testid=org-row][data-org="demo-home-1"]')
        expect(home.locator("[data-field=loops-on-time]")).to_have_text("100%")
        pharmacy = supervisor.locator('[data-testid=org-row][data-org="demo-pharmacy"]')
        expect(pharmacy.locator("[data-field=overdue]")).to_have_text("0")
        expect(supervisor.get_by_test_id("kind-chart")).to_be_visible()
        expect(supervisor.get_by_test_id("loop-overdue-none")).to_be_visible()
        shots.take(supervisor, "supervisor-dashboard")
        with bridge.services() as services:
            signed = services.db.scalars(
                select(LoopStep).where(LoopStep.patient_id == patient_id, LoopStep.step == "prescription-signed")
            ).one()
        # The consult's timeline is the loop's: the results, advice and prescription that followed it joined.
        supervisor.goto(f"{bridge.url}/loops/timeline?subject=Encounter/{consult_id}")
        expect(supervisor.get_by_test_id("loop-state")).to_have_attribute("data-state", "closed-on-time")
        supervisor.goto(f"{bridge.url}/loops/timeline?subject={signed.subject}")
        expect(supervisor.get_by_test_id("loop-state")).to_have_attribute("data-state", "closed-on-time")
        timeline = [
            s for s in supervisor.get_by_test_id("loop-step").evaluate_all("(li) => li.map((s) => s.dataset.step)")
        ]
        assert timeline[0] == "consult-requested" and timeline[-1] == "prescription-received", timeline
        for step in (
            "consult-accepted",
            "consult-ended",
            "result-received",
            "critical-acknowledged",
            "result-reviewed",
            "advice-sent",
            "advice-acknowledged",
            "task-completed",
            "referral-requested",
            "referral-accepted",
            "referral-completed",
            "prescription-signed",
            "prescription-dispatched",
        ):
            assert step in timeline, timeline
        shots.take(supervisor, "supervisor-timeline")

        with bridge.services() as services:
            clocks = services.db.scalars(select(LoopClock).where(LoopClock.patient_id == patient_id)).all()
            steps = services.db.scalars(select(LoopStep).where(LoopStep.patient_id == patient_id)).all()
        assert {c.outcome for c in clocks} == {"met"}, [(c.kind, c.outcome) for c in clocks]
        assert len({s.loop_id for s in steps}) == 1, [(s.step, s.loop_id) for s in steps]
        assert not problems, problems
    finally:
        for context in contexts:
            context.close()
        print(f"screenshots in {shots.folder}: {shots.taken}")
