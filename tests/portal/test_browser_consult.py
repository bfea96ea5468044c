"""A whole video consult in Chromium: the nurse starts it (一键通) from a resident's page, the doctor's
queue rings, the doctor accepts, both call pages exchange video through the real /ws/signal server
(frames decoded on both sides, read from RTCPeerConnection.getStats), a reload rejoins, and the
nurse hangs up. A consult the nurse starts at a bedside station run by `bridge station --demo
--test-pattern` shows its video and live readings on the doctor's page, and a doctor's ward round calls
the armed station.

Debian's Chromium with a fake camera (never `playwright install`); fails, not skips, without it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from bridge.clock import as_utc
from bridge.consults.stations import StationRegistry
from bridge.demo.stations import DEMO_STATION_CLIENT_ID, DEMO_STATION_SPOT
from bridge.i18n import Translator
from tests.conftest import Bridge
from tests.portal.test_browser_login import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, log_in, reset_locale

pytestmark = pytest.mark.browser

ZH, EN = Translator("zh-CN"), Translator("en")
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


FRAMES_PER_PEER = """async () => {
  const result = {};
  for (const [pid, pc] of Object.entries(window.__consultPeers || {})) {
    result[pid] = 0;
    const stats = await pc.getStats();
    stats.forEach((s) => { if (s.type === "inbound-rtp" && s.kind === "video") result[pid] += s.framesDecoded || 0; });
  }
  return result;
}"""


class StationProcess:
    """`bridge station --demo --test-pattern --auto-answer`, as a home runs it beside the bed: its own
    process, a system client's token, the test pattern and the demo ECG."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self.station_id = DEMO_STATION_CLIENT_ID
        self.output: list[str] = []
        command = [sys.executable, "-m", "bridge", "station", "--demo", "--test-pattern", "--auto-answer"]
        self._command = [*command, "--url", bridge.url]
        self._process: subprocess.Popen[str] | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)

    def __enter__(self) -> StationProcess:
        with self.bridge.services() as services:
            started = services.now()
        self._process = subprocess.Popen(self._command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._reader.start()
        deadline = time.monotonic() + 30
        while not self._registered_since(started):
            assert self._process.poll() is None, "bridge station exited:\n" + "".join(self.output)
            assert time.monotonic() < deadline, "bridge station did not register:\n" + "".join(self.output)
            time.sleep(0.2)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._process is not None
        self._process.terminate()
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._reader.join(timeout=5)
        if self._process.stdout is not None:
            self._process.stdout.close()

    def wait_for_output(self, *parts: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not any(all(part in line for part in parts) for line in self.output):
            assert time.monotonic() < deadline, f"bridge station never said {parts}:\n" + "".join(self.output)
            time.sleep(0.1)

    def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            self.output.append(line)

    def _registered_since(self, started: datetime) -> bool:
        with self.bridge.services() as services:
            station = StationRegistry(services).get(self.station_id)
            return (
                station is not None
                and station.auto_answer
                and as_utc(station.last_seen_at) >= as_utc(started)
                and station.bed_id == DEMO_STATION_SPOT[1]
            )


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


def picture(page: Page, path: Path) -> None:
    """A screenshot for people to look at, not a check: a busy machine may not render one in time."""
    try:
        page.screenshot(path=str(path), timeout=60000)
    except PlaywrightTimeoutError:
        print(f"no screenshot {path.name}: the page did not render in time")


def watch_console(page: Page, problems: list[str]) -> None:
    def check(message: ConsoleMessage) -> None:
        where = message.location.get("url", "")
        if where.endswith("/favicon.ico") or "ERR_INTERNET_DISCONNECTED" in message.text:
            return  # the portal has no icon; reconnect attempts fail while a test keeps the browser offline
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
    guest_ctx = browser.new_context(viewport=VIEWPORT)
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
        nurse.reload()  # the requester rejoins the same consult: it keeps ringing, it is not requested again
        expect(nurse).to_have_url(f"{bridge.url}/consults/{consult_id}/call")
        expect(nurse.get_by_test_id("call-state")).to_have_text(ZH("consult.state.ringing"))
        expect(nurse.get_by_test_id("ringing-wait")).to_have_text(re.compile(r"00:\d\d"))
        # Switching the language reloads the consult's page (not the request) in English, and back.
        try:
            nurse.locator('form[action="/lang"] button[value="en"]').click()
            expect(nurse).to_have_url(f"{bridge.url}/consults/{consult_id}/call")
            expect(nurse.get_by_test_id("call-state")).to_have_text(EN("consult.state.ringing"))
            nurse.locator('form[action="/lang"] button[value="zh-CN"]').click()
            expect(nurse.get_by_test_id("call-state")).to_have_text(ZH("consult.state.ringing"))
        finally:
            reset_locale(bridge, "nurse1")

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

        # The doctor invites a family member; the guest joins by the one-time link and leaves again.
        invite = doctor.get_by_test_id("invite")
        expect(invite).to_be_visible()
        invite.locator("summary").click()
        doctor.get_by_test_id("invite-role").select_option("family")
        doctor.get_by_test_id("invite-create").click()
        expect(doctor.get_by_test_id("invite-url")).to_have_value(re.compile(r"/join/[^/]+$"))
        link = urlsplit(doctor.get_by_test_id("invite-url").input_value()).path
        guest = guest_ctx.new_page()
        watch_console(guest, problems)
        guest.goto(f"{bridge.url}{link}")
        guest.locator("input[name=name]").fill("王小明")
        guest.get_by_test_id("guest-submit").click()
        expect(guest).to_have_url(f"{bridge.url}/guest/call")
        expect(guest.get_by_test_id("tile-remote")).to_have_count(2, timeout=20000)
        expect(doctor.locator('[data-testid=tile-remote][data-role="family"]')).to_contain_text("王小明")
        wait_for_frames(guest)
        expect(guest.get_by_test_id("call-hangup")).to_have_text(ZH("call.leave"))
        expect(guest.get_by_test_id("invite")).to_have_count(0)  # only the doctor invites
        guest.screenshot(path=str(tmp_path / "5b-guest-call.png"))
        guest.get_by_test_id("call-hangup").click()
        expect(guest.get_by_test_id("ended-text")).to_have_text(ZH("call.left"))
        expect(doctor.get_by_test_id("tile-remote")).to_have_count(1, timeout=15000)

        # A reload rejoins as the same participant and the video comes back on a new connection.
        doctor.reload()
        expect(doctor.get_by_test_id("call-state")).to_have_text(ZH("consult.state.in_call"), timeout=20000)
        wait_for_frames(doctor)
        wait_for_frames(nurse)
        expect(nurse.get_by_test_id("tile-remote")).to_have_count(1)

        # The nurse's own socket drops and the network stays away for a moment: her page says so, the
        # doctor sees her reconnecting; back online, her page reconnects, rejoins and offers again.
        nurse_ctx.set_offline(True)
        nurse.evaluate("window.__consultSignal.ws.close()")
        expect(nurse.get_by_test_id("self-reconnecting")).to_be_visible()
        expect(nurse.get_by_test_id("self-reconnecting")).to_have_text(ZH("call.self_reconnecting"))
        remote_nurse = doctor.get_by_test_id("tile-remote")
        expect(remote_nurse).to_have_attribute("data-status", "reconnecting", timeout=15000)
        expect(remote_nurse.locator(".tile-overlay")).to_have_text(ZH("call.reconnecting"))
        expect(doctor.get_by_test_id("call-state")).to_have_text(ZH("consult.state.reconnecting"))
        doctor.screenshot(path=str(tmp_path / "5c-doctor-sees-nurse-reconnecting.png"))
        nurse_ctx.set_offline(False)
        expect(nurse.get_by_test_id("self-reconnecting")).to_be_hidden(timeout=20000)
        expect(remote_nurse).to_have_attribute("data-status", "connected", timeout=20000)
        expect(doctor.get_by_test_id("call-state")).to_have_text(ZH("consult.state.in_call"))
        wait_for_frames(doctor)
        wait_for_frames(nurse)

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
        guest_ctx.close()


def test_a_consult_on_a_bedside_station_shows_its_video_and_live_readings_and_a_ward_round_calls_it(
    bridge: Bridge, browser: Browser, tmp_path: Path
) -> None:
    patient_id, _ = a_resident_of_home_1(bridge)
    nurse_ctx = browser.new_context(viewport=VIEWPORT)
    doctor_ctx = browser.new_context(viewport=VIEWPORT)
    problems: list[str] = []
    try:
        with StationProcess(bridge) as station:
            doctor = doctor_ctx.new_page()
            watch_console(doctor, problems)
            log_in(doctor, bridge, "doctor")
            expect(doctor).to_have_url(f"{bridge.url}/")
            # The doctor's home page has the queue too.
            expect(doctor.get_by_test_id("consult-queue")).to_have_attribute("data-socket", "open")

            nurse = nurse_ctx.new_page()
            watch_console(nurse, problems)
            log_in(nurse, bridge, "nurse1")
            expect(nurse).to_have_url(f"{bridge.url}/")
            nurse.goto(f"{bridge.url}/residents/{patient_id}")
            # The nurse arms the station for ward rounds, and disarms it again (station.arm).
            listed = nurse.locator(f'[data-testid=station][data-station="{station.station_id}"]')
            expect(listed).to_contain_text(ZH("consult.stations.disarmed"))
            listed.get_by_test_id("station-arm").click()
            expect(listed).to_contain_text(ZH("consult.stations.armed"))
            expect(listed.get_by_test_id("station-arm")).to_have_text(ZH("consult.stations.disarm"))
            picture(nurse, tmp_path / "6b-nurse-resident-station-armed.png")

            choice = nurse.get_by_test_id("consult-station")
            expect(choice.locator(f'option[value="{station.station_id}"]')).to_have_count(1)
            choice.select_option(station.station_id)
            nurse.get_by_test_id("consult-reason").fill("夜间心悸")
            nurse.get_by_test_id("consult-urgent").click()
            expect(nurse).to_have_url(re.compile(r"/consults/[0-9a-f-]{36}/call$"), timeout=15000)
            consult_id = nurse.url.rsplit("/", 2)[-2]

            # An urgent request rings one on-duty doctor; every doctor of the hospital sees it queued.
            item = doctor.locator(f'[data-testid=queue-item][data-consult="{consult_id}"]')
            expect(item).to_be_visible(timeout=15000)
            expect(item).to_have_attribute("data-urgency", "urgent")
            item.get_by_test_id("queue-accept").click()
            expect(doctor).to_have_url(f"{bridge.url}/consults/{consult_id}/call", timeout=15000)

            # The station was called in: the doctor sees the nurse and the station, and its readings.
            tiles = doctor.get_by_test_id("tile-remote")
            expect(tiles).to_have_count(2, timeout=20000)
            expect(doctor.locator('[data-testid=tile-remote][data-role="station"]')).to_contain_text(
                ZH("consult.role.station")
            )
            readings = doctor.get_by_test_id("readings")
            expect(readings).to_be_visible(timeout=20000)
            expect(readings).to_have_attribute("data-count", re.compile(r"[1-9]\d+"), timeout=15000)
            expect(doctor.get_by_test_id("reading-hr")).to_have_text(re.compile(r"^\d{2,3}$"), timeout=15000)
            expect(doctor.get_by_test_id("reading-spo2")).to_have_text(re.compile(r"^\d{2,3}$"))
            expect(doctor.get_by_test_id("reading-bp")).to_have_text(re.compile(r"^\d{2,3}/\d{2,3}$"))
            # The test station has no SpO2 or blood-pressure device: those values say they are simulated.
            expect(doctor.get_by_test_id("simulated-bp")).to_be_visible()
            expect(doctor.get_by_test_id("simulated-spo2")).to_be_visible()
            expect(doctor.get_by_test_id("simulated-hr")).to_be_hidden()  # measured from the ECG
            deadline = time.monotonic() + 30
            frames: dict[str, int] = {}
            while time.monotonic() < deadline:
                frames = doctor.evaluate(FRAMES_PER_PEER)
                if len(frames) == 2 and all(n > 0 for n in frames.values()):
                    break
                time.sleep(0.25)
            assert len(frames) == 2 and all(n > 0 for n in frames.values()), frames
            wait_for_frames(nurse)
            time.sleep(1.5)  # let the ECG strip scroll for the picture
            picture(doctor, tmp_path / "7-doctor-call-with-station.png")
            picture(nurse, tmp_path / "8-nurse-call-with-station.png")

            nurse.get_by_test_id("call-hangup").click()
            expect(doctor.get_by_test_id("call-ended")).to_be_visible(timeout=15000)
            station.wait_for_output(consult_id, "ended")  # free for the next call

            # A remote ward round: the doctor calls the armed station from the resident's page and
            # the station answers by itself; its video and readings come to the doctor alone.
            doctor.goto(f"{bridge.url}/residents/{patient_id}")
            expect(doctor.get_by_test_id("consult-ward-round")).to_be_visible()
            doctor.get_by_test_id("consult-station").select_option(station.station_id)
            doctor.get_by_test_id("consult-ward-round").click()
            expect(doctor).to_have_url(re.compile(r"/consults/[0-9a-f-]{36}/call$"), timeout=15000)
            station_tile = doctor.locator('[data-testid=tile-remote][data-role="station"]')
            expect(station_tile).to_be_visible(timeout=20000)
            expect(doctor.get_by_test_id("readings")).to_be_visible(timeout=20000)
            wait_for_frames(doctor)
            doctor.get_by_test_id("call-hangup").click()
            expect(doctor.get_by_test_id("ended-text")).to_contain_text(ZH("consult.state.ended"))

            # The nurse disarms the station again.
            nurse.goto(f"{bridge.url}/residents/{patient_id}")
            listed.get_by_test_id("station-arm").click()
            expect(listed).to_contain_text(ZH("consult.stations.disarmed"))
        assert problems == [], "\n".join(problems)
    finally:
        nurse_ctx.close()
        doctor_ctx.close()
