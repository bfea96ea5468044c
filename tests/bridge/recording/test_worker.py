"""The recorder worker against the fake relay, with a real aiortc station and the bridge's store:
called into a consult, it records, and at the end writes DocumentReferences; without consent it
stays out; it rejoins after losing its socket and stores what it has when it is stopped."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bridge.recording.documents import RecordingStore
from bridge.recording.tables import ConsultRecording
from bridge.recording.worker import RecorderWorker, recording_store
from rtc.media import LocalMedia, TestPatternVideoTrack, ToneAudioTrack
from rtc.mesh import MeshPeer
from rtc.signalling_client import SignallingClient
from tests.bridge.recording.support import consent, encounter, new_resident
from tests.conftest import Bridge
from tests.rtc.fake_relay import FakeRelay, run
from tests.rtc.test_recorder import decode, increasing


@dataclass
class Setting:
    relay: FakeRelay
    worker: RecorderWorker
    running: asyncio.Task[None]
    station: MeshPeer
    store: RecordingStore


@contextlib.asynccontextmanager
async def recorder_beside_a_station(bridge: Bridge, directory: Path, consult_id: str) -> AsyncIterator[Setting]:
    async with FakeRelay() as relay:
        store = RecordingStore(directory, "http://testserver/recordings", timedelta(days=1096))
        worker = RecorderWorker(
            bridge.runtime, relay.url, token=lambda: "recorder", store=store, sweep_interval=None, backoff_initial=0.05
        )
        media = LocalMedia(audio=ToneAudioTrack(440), video=TestPatternVideoTrack(320, 240, 15))
        client = SignallingClient(relay.url, token="station")
        await client.connect()
        station = MeshPeer(client, media=media)
        await station.join(consult_id)
        running = asyncio.create_task(worker.run())
        try:
            await asyncio.wait_for(worker.connected.wait(), 5)
            yield Setting(relay, worker, running, station, store)
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
            await station.close()
            media.close()
            await client.close()


async def call_recorder(relay: FakeRelay, consult_id: str) -> None:
    await relay._send("recorder", {"type": "recorder.call", "consult_id": consult_id})


def recording(worker: RecorderWorker, consult_id: str) -> bool:
    recorder = worker.recorders.get(consult_id)
    return recorder is not None and any(pc.connectionState == "connected" for pc in recorder.mesh.peers.values())


def consented_consult(bridge: Bridge) -> str:
    with bridge.services() as services:
        patient_id = new_resident(services)
        consent(services, patient_id, guardian_name="录建国")
        return encounter(services, patient_id)


def test_a_called_recorder_records_and_files_a_document_reference(bridge: Bridge, tmp_path: Path) -> None:
    consult_id = consented_consult(bridge)

    async def body() -> None:
        async with recorder_beside_a_station(bridge, tmp_path, consult_id) as s:
            await call_recorder(s.relay, consult_id)
            await s.relay.wait_for(lambda: recording(s.worker, consult_id))
            await asyncio.sleep(1.5)
            await s.relay.end_consult(consult_id)
            await s.relay.wait_for(lambda: bool(s.worker.stored), timeout=10)

    run(body, timeout=30)
    with bridge.services() as services:
        documents = services.repository.find("DocumentReference", {"encounter": f"Encounter/{consult_id}"})
        rows = [services.db.get(ConsultRecording, d["id"]) for d in documents]
    assert len(documents) == 1 and rows[0] is not None
    path = tmp_path / rows[0].path
    assert documents[0]["content"][0]["attachment"]["url"].endswith(rows[0].path)
    decoded = decode(path)
    assert len(decoded.video_frames) >= 8 and increasing(decoded.video_frames)
    assert decoded.tone(440, 880) > 20


def test_without_consent_the_recorder_does_not_join(bridge: Bridge, tmp_path: Path) -> None:
    with bridge.services() as services:
        consult_id = encounter(services, new_resident(services))
        ended_consult_id = encounter(services, new_resident(services), status="finished")

    async def body() -> None:
        async with recorder_beside_a_station(bridge, tmp_path, consult_id) as s:
            await call_recorder(s.relay, consult_id)
            await call_recorder(s.relay, ended_consult_id)
            await call_recorder(s.relay, "../../etc")
            await asyncio.sleep(1.0)
            assert not s.relay.messages("recorder", "consult.join")
            assert not s.worker.recorders

    run(body, timeout=20)
    assert not list(tmp_path.iterdir())


def test_the_recorder_rejoins_after_losing_its_socket_and_stores_on_shutdown(bridge: Bridge, tmp_path: Path) -> None:
    consult_id = consented_consult(bridge)

    async def body() -> None:
        async with recorder_beside_a_station(bridge, tmp_path, consult_id) as s:
            await call_recorder(s.relay, consult_id)
            await s.relay.wait_for(lambda: recording(s.worker, consult_id))
            await asyncio.sleep(1.0)
            await s.relay.drop("recorder")
            await s.relay.wait_for(lambda: len(s.relay.messages("recorder", "consult.join")) == 2, timeout=5)
            await s.relay.wait_for(lambda: len(list((tmp_path / consult_id).glob("*.webm"))) == 1)
            await s.relay.wait_for(lambda: recording(s.worker, consult_id))
            await asyncio.sleep(1.0)
            assert s.worker.connections == 2
            s.running.cancel()  # shutting down: it leaves the consult and stores what it has
            with contextlib.suppress(asyncio.CancelledError):
                await s.running
            assert len(s.worker.stored) == 2
            assert s.relay.messages("recorder", "consult.leave")

    run(body, timeout=30)
    with bridge.services() as services:
        documents = services.repository.find("DocumentReference", {"encounter": f"Encounter/{consult_id}"})
    assert len(documents) == 2
    names = sorted(d["content"][0]["attachment"]["title"] for d in documents)
    assert names[0].endswith("-1.webm") and names[1].endswith("-2.webm")


def test_the_recording_store_defaults_until_settings_name_it(bridge: Bridge) -> None:
    store = recording_store(bridge.runtime.settings)
    assert store.retention == timedelta(days=1096)  # three years
    assert store.base_url == "http://testserver/recordings"
    assert store.url("c-1/p-1-1.webm") == "http://testserver/recordings/c-1/p-1-1.webm"
