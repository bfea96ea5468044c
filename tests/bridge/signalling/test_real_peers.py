"""Real aiortc peers through the real /ws/signal: the bedside station agent and a doctor exchange video
frames and live readings; the doctor's socket drops and the consult resumes with the same participant."""

from __future__ import annotations

import asyncio
import contextlib

from rtc.media import LocalMedia, TestPatternVideoTrack
from rtc.mesh import MeshPeer
from rtc.readings import ReadingsStream
from rtc.signalling_client import SignallingClient
from rtc.station import StationAgent
from tests.bridge.signalling.support import BED_H1, ROOM_H1, client, resident_of, run, station_token, ws_url
from tests.conftest import Bridge
from tests.rtc.test_mesh import Watcher, heartbeat_ecg, increasing


async def wait_for_state(signalling: SignallingClient, consult_id: str, predicate: object) -> dict[str, object]:
    while True:
        message = await signalling.next_event("consult.state")
        consult = message["consult"]
        if consult["id"] == consult_id and predicate(consult):  # type: ignore[operator]
            return consult


def test_station_and_doctor_exchange_video_and_readings_and_survive_a_dropped_socket(bridge: Bridge) -> None:
    token = station_token(bridge)
    patient = resident_of(bridge)

    async def body() -> None:
        media = LocalMedia(video=TestPatternVideoTrack(320, 240, 15))
        agent = StationAgent(
            SignallingClient(ws_url(bridge.url), token=token),
            media,
            room=ROOM_H1,
            bed=BED_H1,
            readings=ReadingsStream(heartbeat_ecg(), 250),
            backoff_initial=0.05,
        )
        running = asyncio.create_task(agent.run())
        seen = Watcher()
        nurse = await client(bridge, "nurse1")
        doctor_client = await client(bridge, "doctor")
        doctor = MeshPeer(doctor_client, on_track=seen.on_track, on_reading=seen.on_reading)
        try:
            await asyncio.wait_for(agent.registered.wait(), 10)
            assert agent.registration is not None
            station_id = agent.registration["station_id"]
            await doctor_client.request("queue.watch")
            requested = await nurse.request(
                "consult.request", patient_id=patient["id"], urgency="emergency", reason="胸闷", station_id=station_id
            )
            consult_id = requested["consult"]["id"]
            ring = await doctor_client.next_event("queue.ring")  # an emergency rings every on-duty doctor
            assert ring["item"]["consult_id"] == consult_id and ring["item"]["urgency"] == "emergency"
            accepted = await doctor_client.request("consult.accept", consult_id=consult_id)
            doctor_pid = accepted["you"]
            # The doctor is in before the called station arrives, so the station (the joiner) offers.
            await doctor.join(consult_id)
            await wait_for_state(
                doctor_client, consult_id, lambda c: any(p["role"] == "station" for p in c["participants"])
            )
            frames = await seen.frames_on_newest_track(5, timeout=15)
            assert increasing(frames)
            async with asyncio.timeout(10):
                while not any(r["kind"] == "ecg" for _, r in seen.readings):
                    await asyncio.sleep(0.05)
            kinds = {r["kind"] for _, r in seen.readings}
            assert "ecg" in kinds

            # The doctor's network drops: the consult waits in "reconnecting" for the nurse to see.
            await doctor_client.close()
            state = await wait_for_state(
                nurse,
                consult_id,
                lambda c: any(p["id"] == doctor_pid and p["status"] == "reconnecting" for p in c["participants"]),
            )
            assert state["state"] == "reconnecting"
            rejoined_client = doctor_client.clone()
            await rejoined_client.connect()
            doctor.attach(rejoined_client)
            await doctor.join(consult_id)
            assert doctor.participant_id == doctor_pid  # the same place in the consult
            frames = await seen.frames_on_newest_track(5, after=1, timeout=15)
            assert increasing(frames)
            back = await wait_for_state(nurse, consult_id, lambda c: c["state"] == "in_call")
            assert {p["role"] for p in back["participants"]} == {"nurse", "doctor", "station"}

            ended = await nurse.request("consult.end", consult_id=consult_id)
            assert ended["consult"]["state"] == "ended"
            async with asyncio.timeout(10):
                while agent.consult_id is not None:
                    await asyncio.sleep(0.05)
            doctor_client = rejoined_client
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
            await doctor.close()
            await seen.close()
            media.close()
            await doctor_client.close()
            await nurse.close()

    run(body, timeout=60)
