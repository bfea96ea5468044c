"""A whole video consult in Chromium: the nurse starts it (一键通) from a resident's page, the doctor's
queue rings, the doctor accepts, both call pages exchange video through the real /ws/signal server
(frames decoded on both sides, read from RTCPeerConnection.getStats), a reload rejoins, and the
nurse hangs up.

Debian's Chromium with a fake camera (never `playwright install`); fails, not skips, without it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from bridge.i18n import Translator
from tests.conftest import Bridge
from tests.portal.test_browser_login import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, log_in

pytestmark = pytest.mark.browser

ZH = Translator("zh-CN")
# The queue rings through WebAudio; headless Chromium has no user to click first.
ARGS = [*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"]

FRAMES_DECODED = """async () => {
  const peers = Object.values(window.__consultPeers || {});
  let frames = 0;
  for (const pc of peers) {
    const stats = await pc.getStats();
    stats.forEach((s) => { if (s.type === "inbound-rtp" && s.kind === "video") frames += s.framesDecoded || 0; });
  }
  return { peers: peers.length, frames };
}"""


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


def a_resident_of_home_1(bridge: Bridge) -> tuple[str, str]:
    with bridge.services() as services:
        summary = services.residents.summaries(services.residents.patients_of_homes({"demo-home-1"}))[0]
    return summary.id, summary.name


def wait_for_frames(page: Page, minimum: int = 1, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:
        seen = page.evaluate(FRAMES_DECODED)
        if seen["frames"] >= minimum:
            return seen
        time.sleep(0.25)
    raise AssertionError(f"no video frames decoded on {page.url}: {seen}")


def watch_console(page: Page, problems: list[str]) -> None:
    def check(message: ConsoleMessage) -> None:
        where = message.location.get("url", "")
        if where.endswith("/favicon.ico"):
            return  # the portal has no icon
        if message.type == "error" or "Content Security Policy" in message.text:
            problems.append(f"{page.url}: {message.text} ({where})")

    page.on("console", check)
    page.on("pageerror", lambda error: problems.append(f"{page.url}: {error}"))


def test_nurse_calls_doctor_accepts_video_both_ways_reload_rejoins_and_hang_up(
    bridge: Bridge, browser: Browser, tmp_path: Path
) -> None:
    patient_id, patient_name = a_resident_of_home_1(bridge)
    nurse_ctx = browser.new_context(viewport=VIEWPORT)
    doctor_ctx = browser.new_context(viewport=VIEWPORT)
    problems: list[str] = []
    try:
        doctor = doctor_ctx.new_page()
        watch_console(doctor, problems)
        log_in(doctor, bridge, "doctor")
        expect(doctor).to_have_url(f"{bridge.url}/")
        doctor.goto(f"{bridge.url}/consults/queue")
        queue = doctor.get_by_test_id("consult-queue")
        expect(queue).to_have_attribute("data-socket", "open")  # on duty
        expect(doctor.get_by_test_id("duty")).to_have_text(ZH("queue.on_duty"))

        nurse = nurse_ctx.new_page()
        watch_console(nurse, problems)
        log_in(nurse, bridge, "nurse1")
        expect(nurse).to_have_url(f"{bridge.url}/")
        nurse.goto(f"{bridge.url}/residents/{patient_id}")
        expect(nurse.get_by_test_id("consult-emergency")).to_be_visible()
        nurse.screenshot(path=str(tmp_path / "1-nurse-resident.png"), full_page=True)
        nurse.get_by_test_id("consult-reason").fill("突发胸痛，血压下降")
        nurse.get_by_test_id("consult-emergency").click()

        # The request went out; the page became the consult's own page (a reload rejoins it).
        expect(nurse).to_have_url(re.compile(r"/consults/[0-9a-f-]{36}/call$"), timeout=15000)
        consult_id = nurse.url.rsplit("/", 2)[-2]
        expect(nurse.get_by_test_id("ringing")).to_be_visible()
        expect(nurse.get_by_test_id("call-state")).to_have_text(ZH("consult.state.ringing"))
        expect(nurse.get_by_test_id("ringing-wait")).to_have_text(re.compile(r"00:0\d"))
        expect(nurse.get_by_test_id("call-cancel")).to_be_visible()

        # The doctor's queue rings: an emergency, at the top, with sound.
        item = doctor.locator(f'[data-testid=queue-item][data-consult="{consult_id}"]')
        expect(item).to_be_visible(timeout=15000)
        expect(item).to_have_attribute("data-urgency", "emergency")
        expect(item).to_have_class(re.compile(r"\bringing\b"))
        expect(item.locator(".urgency")).to_have_text(ZH("consult.urgency.emergency"))
        expect(item).to_contain_text(patient_name)
        expect(item).to_contain_text("突发胸痛，血压下降")
        expect(item.locator(".wait")).to_have_text(re.compile(r"00:\d\d"))
        expect(queue).to_have_attribute("data-ringing", "true")
        expect(queue).to_have_attribute("data-beeps", re.compile(r"[1-9]\d*"), timeout=10000)
        nurse.screenshot(path=str(tmp_path / "2-nurse-ringing.png"))
        doctor.screenshot(path=str(tmp_path / "3-doctor-queue-ringing.png"))

        item.get_by_test_id("queue-accept").click()
        expect(doctor).to_have_url(f"{bridge.url}/consults/{consult_id}/call", timeout=15000)

        # Both call pages: each sees the other's tile and decodes the other's video.
        expect(nurse.get_by_test_id("call-state")).to_have_text(ZH("consult.state.in_call"), timeout=20000)
        expect(doctor.get_by_test_id("call-state")).to_have_text(ZH("consult.state.in_call"), timeout=20000)
        expect(nurse.get_by_test_id("tile-remote")).to_contain_text("李建国")
        expect(nurse.get_by_test_id("tile-remote")).to_contain_text(ZH("consult.role.doctor"))
        expect(doctor.get_by_test_id("tile-remote")).to_contain_text("王芳")
        nurse_seen = wait_for_frames(nurse)
        doctor_seen = wait_for_frames(doctor)
        assert nurse_seen["peers"] == 1 and doctor_seen["peers"] == 1
        expect(nurse.get_by_test_id("ringing")).to_be_hidden()
        expect(nurse.get_by_test_id("call-hangup")).to_be_visible()
        nurse.screenshot(path=str(tmp_path / "4-nurse-call.png"))
        doctor.screenshot(path=str(tmp_path / "5-doctor-call.png"))

        # Mute and camera off only change the local tracks.
        nurse.get_by_test_id("call-mute").click()
        expect(nurse.get_by_test_id("call-mute")).to_have_attribute("aria-pressed", "true")
        nurse.get_by_test_id("call-mute").click()
        expect(nurse.get_by_test_id("call-mute")).to_have_attribute("aria-pressed", "false")

        # A reload rejoins as the same participant and the video comes back on a new connection.
        doctor.reload()
        expect(doctor.get_by_test_id("call-state")).to_have_text(ZH("consult.state.in_call"), timeout=20000)
        wait_for_frames(doctor)
        wait_for_frames(nurse)
        expect(nurse.get_by_test_id("tile-remote")).to_have_count(1)

        # The nurse hangs up; the doctor sees the consult ended.
        nurse.get_by_test_id("call-hangup").click()
        expect(nurse.get_by_test_id("call-ended")).to_be_visible()
        expect(doctor.get_by_test_id("call-ended")).to_be_visible(timeout=15000)
        expect(doctor.get_by_test_id("ended-text")).to_contain_text(ZH("consult.state.ended"))
        assert doctor.evaluate("Object.keys(window.__consultPeers).length") == 0
        doctor.screenshot(path=str(tmp_path / "6-doctor-ended.png"))
        assert problems == [], "\n".join(problems)
    finally:
        nurse_ctx.close()
        doctor_ctx.close()
