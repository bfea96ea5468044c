"""`bridge station --demo --test-pattern` as a real process: a nurse starts a consult at it, a doctor
accepts, and the doctor's aiortc peer receives the station's video and live ECG readings."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from bridge.clock import as_utc
from bridge.consults.stations import StationRegistry
from bridge.demo.stations import DEMO_STATION_CLIENT_ID
from rtc.mesh import MeshPeer
from tests.bridge.signalling.support import client, resident_of, run
from tests.bridge.signalling.test_real_peers import wait_for_state
from tests.conftest import Bridge
from tests.rtc.test_mesh import Watcher, increasing


def test_the_demo_station_joins_a_consult_started_for_it(bridge: Bridge) -> None:
    patient = resident_of(bridge)
    with bridge.services() as services:
        started = services.now()
    agent = subprocess.Popen(
        [sys.executable, "-m", "bridge", "station", "--demo", "--test-pattern", "--url", bridge.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    async def body() -> None:
        nurse = await client(bridge, "nurse1")
        doctor_client = await client(bridge, "doctor")
        seen = Watcher()
        doctor = MeshPeer(doctor_client, on_track=seen.on_track, on_reading=seen.on_reading)
        try:
            # The station registers in a moment; until then a consult cannot be started at it. Another
            # test's demo station may have registered on this database before: only this agent's counts.
            async with asyncio.timeout(30):
                while True:
                    with bridge.services() as services:
                        registered = StationRegistry(services).get(DEMO_STATION_CLIENT_ID)
                    if registered is not None and registered.bed_id and as_utc(registered.last_seen_at) >= started:
                        break
                    await asyncio.sleep(0.2)
            await doctor_client.request("queue.watch")
            requested = await nurse.request(
                "consult.request",
                patient_id=patient["id"],
                urgency="routine",
                reason="查房",
                station_id=DEMO_STATION_CLIENT_ID,
            )
            consult_id = requested["consult"]["id"]
            await doctor_client.request("consult.accept", consult_id=consult_id)
            # The doctor is in before the called station arrives, so the station (the joiner) offers.
            await doctor.join(consult_id)
            await wait_for_state(
                doctor_client, consult_id, lambda c: any(p["role"] == "station" for p in c["participants"])
            )
            assert increasing(await seen.frames_on_newest_track(5, timeout=20))
            async with asyncio.timeout(15):
                while not {"ecg", "hr"} <= {r["kind"] for _, r in seen.readings}:
                    await asyncio.sleep(0.05)
            heart_rates = [r["value"] for _, r in seen.readings if r["kind"] == "hr"]
            assert all(40 <= hr <= 120 for hr in heart_rates)  # measured from record 100's R peaks (~75/min)
            await nurse.request("consult.end", consult_id=consult_id)
        finally:
            await doctor.close()
            await seen.close()
            await doctor_client.close()
            await nurse.close()

    try:
        run(body, timeout=90)
    finally:
        agent.terminate()
        try:
            output, _ = agent.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            agent.kill()
            output, _ = agent.communicate()
        assert "Traceback" not in output, output
