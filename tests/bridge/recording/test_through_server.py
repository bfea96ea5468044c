"""The recorder worker through the real /ws/signal: a nurse and a doctor (aiortc peers) hold a consult for a
resident whose guardian consented; the server calls the recorder in when the doctor accepts; when the
consult ends, each side's media is in a file linked to the Encounter. Without consent it is never called."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bridge.recording.documents import RecordingStore
from bridge.recording.tables import ConsultRecording
from bridge.recording.worker import RecorderWorker
from bridge.signalling.tokens import issue_recorder_token
from rtc.media import LocalMedia, TestPatternVideoTrack, ToneAudioTrack
from rtc.mesh import MeshPeer
from rtc.signalling_client import SignallingClient, SignallingError
from tests.bridge.recording.support import consent, new_resident
from tests.bridge.signalling.support import client, run, ws_url
from tests.conftest import Bridge
from tests.rtc.test_recorder import decode, increasing


@contextlib.asynccontextmanager
async def running_worker(bridge: Bridge, directory: Path) -> AsyncIterator[RecorderWorker]:
    store = RecordingStore(directory, f"{bridge.url}/recordings", timedelta(days=1096))
    worker = RecorderWorker(
        bridge.runtime,
        ws_url(bridge.url),
        token=lambda: issue_recorder_token(bridge.runtime),
        store=store,
        sweep_interval=None,
        backoff_initial=0.05,
    )
    running = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(worker.connected.wait(), 10)
        yield worker
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


async def consult_between(nurse: SignallingClient, doctor: SignallingClient, patient_id: str) -> str:
    await doctor.request("queue.watch")
    requested = await nurse.request("consult.request", patient_id=patient_id, urgency="urgent", reason="跌倒后复查")
    consult_id = str(requested["consult"]["id"])
    await doctor.request("consult.accept", consult_id=consult_id)
    return consult_id


def test_the_server_calls_the_recorder_into_a_consented_consult(bridge: Bridge, tmp_path: Path) -> None:
    with bridge.services() as services:
        patient_id = new_resident(services)
        consent(services, patient_id, guardian_name="录建国")

    async def body() -> str:
        nurse_media = LocalMedia(audio=ToneAudioTrack(440), video=TestPatternVideoTrack(320, 240, 15))
        doctor_media = LocalMedia(audio=ToneAudioTrack(880))
        nurse, doctor = await client(bridge, "nurse1"), await client(bridge, "doctor")
        nurse_peer, doctor_peer = MeshPeer(nurse, media=nurse_media), MeshPeer(doctor, media=doctor_media)
        try:
            async with running_worker(bridge, tmp_path) as worker:
                consult_id = await consult_between(nurse, doctor, patient_id)
                await doctor_peer.join(consult_id)
                await nurse_peer.join(consult_id)
                async with asyncio.timeout(15):
                    while not (
                        (recorder := worker.recorders.get(consult_id))
                        and sum(pc.connectionState == "connected" for pc in recorder.mesh.peers.values()) == 2
                    ):
                        await asyncio.sleep(0.05)
                await asyncio.sleep(2.0)
                ended = await nurse.request("consult.end", consult_id=consult_id)
                assert ended["consult"]["state"] == "ended"
                async with asyncio.timeout(15):
                    while len(worker.stored) < 2:
                        await asyncio.sleep(0.05)
                return consult_id
        finally:
            for peer in (nurse_peer, doctor_peer):
                await peer.close()
            nurse_media.close()
            doctor_media.close()
            await nurse.close()
            await doctor.close()

    consult_id = asyncio.run(asyncio.wait_for(body(), 60))
    with bridge.services() as services:
        documents = services.repository.find("DocumentReference", {"encounter": f"Encounter/{consult_id}"})
        rows = {d["id"]: services.db.get(ConsultRecording, d["id"]) for d in documents}
        encounter = services.repository.read("Encounter", consult_id)
    assert len(documents) == 2
    by_role = {row.role: tmp_path / row.path for row in rows.values() if row is not None}
    assert by_role.keys() == {"nurse", "doctor"}
    nurse_side, doctor_side = decode(by_role["nurse"]), decode(by_role["doctor"])
    assert len(nurse_side.video_frames) >= 10 and increasing(nurse_side.video_frames)
    assert nurse_side.tone(440, 880) > 20 and doctor_side.tone(880, 440) > 20
    assert doctor_side.video_frames == []
    # The recorder is equipment: not a participant of the Encounter.
    assert len(encounter["participant"]) == 2


def test_without_consent_the_server_never_calls_the_recorder(bridge: Bridge, tmp_path: Path) -> None:
    with bridge.services() as services:
        patient_id = new_resident(services)

    async def body() -> None:
        nurse, doctor = await client(bridge, "nurse1"), await client(bridge, "doctor")
        try:
            async with running_worker(bridge, tmp_path) as worker:
                assert worker.client is not None
                consult_id = await consult_between(nurse, doctor, patient_id)
                with pytest.raises(SignallingError) as quiet:
                    await worker.client.next_event("recorder.call", timeout=1.0)
                assert quiet.value.code == "timeout" and not worker.recorders
                # Nor may a recorder join on its own.
                with pytest.raises(SignallingError) as refused:
                    await worker.client.request("consult.join", consult_id=consult_id)
                assert refused.value.code == "forbidden"
        finally:
            await nurse.close()
            await doctor.close()

    run(body, timeout=30)
    assert not list(tmp_path.iterdir())
