"""The recorder as a third aiortc peer beside two senders, through the fake relay; the files it
writes are opened with PyAV and their frames and tones checked."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from rtc.media import LocalMedia, TestPatternVideoTrack, ToneAudioTrack
from rtc.mesh import MeshPeer
from rtc.recorder import ConsultRecorder, RecordedFile
from rtc.signalling_client import SignallingClient
from tests.rtc.fake_relay import FakeRelay, run
from tests.rtc.test_mesh import frame_number, increasing

CONSULT = "c-rec-1"


@dataclass
class Decoded:
    video_frames: list[int]  # the test pattern's frame counters, in file order
    video_seconds: float
    audio: np.ndarray[Any, Any]  # mono samples
    audio_rate: int

    @property
    def audio_seconds(self) -> float:
        return len(self.audio) / self.audio_rate

    def tone(self, hz: float, other: float) -> float:
        """How much more energy the audio has within 30 Hz of `hz` than around `other`. (A tone
        chopped by skipped frames spreads in the spectrum, so its peak is not a precise measure.)"""
        power = np.abs(np.fft.rfft(self.audio.astype(np.float64))) ** 2
        freqs = np.fft.rfftfreq(len(self.audio), 1 / self.audio_rate)

        def band(f: float) -> float:
            return float(power[np.abs(freqs - f) < 30].sum())

        return band(hz) / max(band(other), 1e-9)


def decode(path: Path) -> Decoded:
    counters: list[int] = []
    video_seconds = 0.0
    chunks: list[np.ndarray[Any, Any]] = []
    rate = 48_000
    with av.open(str(path)) as container:
        assert container.format.name.startswith("matroska")  # PyAV reports webm as "matroska,webm"
        kinds = {stream.type for stream in container.streams}
        if "video" in kinds:
            for frame in container.decode(video=0):
                counters.append(frame_number(frame.to_ndarray(format="rgb24")))
                video_seconds = float(frame.time or 0.0)
    with av.open(str(path)) as container:
        if "audio" in kinds:
            for frame in container.decode(audio=0):
                rate = frame.sample_rate
                samples = frame.to_ndarray()  # planar: a row per channel; packed: one interleaved row
                channels = len(frame.layout.channels)
                chunks.append(samples[0] if frame.format.is_planar else samples.reshape(-1, channels)[:, 0])
    audio = np.concatenate(chunks) if chunks else np.zeros(0)
    return Decoded(counters, video_seconds, audio, rate)


def check_file(recorded: RecordedFile) -> None:
    data = recorded.path.read_bytes()
    assert recorded.size == len(data) > 0
    assert recorded.sha256 == hashlib.sha256(data).hexdigest()
    assert recorded.sha1 == hashlib.sha1(data).hexdigest()  # noqa: S324 - what FHIR Attachment.hash uses
    assert recorded.content_type == "video/webm" and recorded.path.suffix == ".webm"
    assert recorded.started_at < recorded.ended_at
    assert not list(recorded.path.parent.glob("*.part"))


@dataclass
class Call:
    relay: FakeRelay
    station: MeshPeer
    family: MeshPeer
    recorder: ConsultRecorder
    recording: asyncio.Task[list[RecordedFile]]


@contextlib.asynccontextmanager
async def recorded_call(directory: Path) -> AsyncIterator[Call]:
    """A station sending the test pattern and a 440 Hz tone, a family member sending only an 880 Hz
    tone, both in the consult before the recorder joins (so the recorder offers to both)."""
    async with FakeRelay() as relay:
        station_media = LocalMedia(audio=ToneAudioTrack(440), video=TestPatternVideoTrack(320, 240, 15))
        family_media = LocalMedia(audio=ToneAudioTrack(880))
        clients = [SignallingClient(relay.url, token=name) for name in ("station", "family", "recorder")]
        for client in clients:
            await client.connect()
        station = MeshPeer(clients[0], media=station_media, restart_grace=0.3)
        family = MeshPeer(clients[1], media=family_media, restart_grace=0.3)
        recorder = ConsultRecorder(clients[2], CONSULT, directory, restart_grace=0.3)
        recording: asyncio.Task[list[RecordedFile]] | None = None
        try:
            await station.join(CONSULT)
            await family.join(CONSULT)
            recording = asyncio.create_task(recorder.run())
            await relay.wait_for(lambda: connected(recorder) == 2)
            yield Call(relay, station, family, recorder, recording)
        finally:
            if recording is not None and not recording.done():
                recorder.stop()
                await recording
            for peer in (station, family):
                await peer.close()
            station_media.close()
            family_media.close()
            for client in clients:
                await client.close()


def connected(recorder: ConsultRecorder) -> int:
    return sum(pc.connectionState == "connected" for pc in recorder.mesh.peers.values())


def test_each_sender_is_recorded_to_its_own_decodable_file(tmp_path: Path) -> None:
    async def body() -> None:
        async with recorded_call(tmp_path) as call:
            await asyncio.sleep(2.0)
            await call.relay.end_consult(CONSULT)
            files = await asyncio.wait_for(call.recording, 5)
            assert call.recorder.final_state == "ended"
            assert not call.recorder.mesh.peers
            by_pid = {f.participant_id: f for f in files}
            assert by_pid.keys() == {call.station.participant_id, call.family.participant_id}
            station_file = by_pid[call.station.participant_id]
            family_file = by_pid[call.family.participant_id]
            assert (station_file.role, family_file.role) == ("station", "family")
            for recorded in files:
                check_file(recorded)

            station = decode(station_file.path)
            # About 2 s at 15 frames a second (fewer when the machine is busy), all decodable, in order.
            assert len(station.video_frames) == station_file.video_frames >= 12
            assert increasing(station.video_frames)
            assert station.tone(440, 880) > 20
            # Audio and video on one timeline; on a loaded machine the sender drops audio, so not equal.
            assert 0.3 < station.audio_seconds < station.video_seconds + 0.5
            family = decode(family_file.path)
            assert family.video_frames == [] and family_file.video_frames == 0
            assert family.tone(880, 440) > 20
            assert 0.5 < family.audio_seconds < 4 and abs(family.audio_seconds - family_file.audio_seconds) < 0.1

    run(body, timeout=20)


def test_a_participant_who_rejoins_gets_a_second_file(tmp_path: Path) -> None:
    async def body() -> None:
        async with recorded_call(tmp_path) as call:
            await asyncio.sleep(1.0)
            pid = call.station.participant_id
            await call.station.client.close()
            await call.relay.wait_for(lambda: call.relay.participant(CONSULT, "station")["status"] == "reconnecting")
            client = call.station.client.clone()
            await client.connect()
            call.station.attach(client)
            await call.station.join(CONSULT)  # the rejoiner offers to everyone, the recorder too
            await call.relay.wait_for(lambda: connected(call.recorder) == 2 and len(list(tmp_path.glob("*.webm"))) == 1)
            await asyncio.sleep(1.0)
            await call.relay.end_consult(CONSULT)
            files = await asyncio.wait_for(call.recording, 5)
            names = sorted(f.path.name for f in files)
            assert names == sorted([f"{pid}-1.webm", f"{pid}-2.webm", f"{call.family.participant_id}-1.webm"])
            first, second = sorted((f for f in files if f.participant_id == pid), key=lambda f: f.started_at)
            assert first.ended_at <= second.started_at
            for segment in (first, second):
                check_file(segment)
                decoded = decode(segment.path)
                assert len(decoded.video_frames) >= 8 and increasing(decoded.video_frames)
                assert decoded.tone(440, 880) > 20

    run(body, timeout=20)


def test_stop_leaves_the_consult_and_keeps_what_was_recorded(tmp_path: Path) -> None:
    async def body() -> None:
        async with recorded_call(tmp_path) as call:
            await asyncio.sleep(1.0)
            call.recorder.stop()
            files = await asyncio.wait_for(call.recording, 5)
            assert call.recorder.final_state == "stopped"
            assert len(files) == 2 and all(f.path.exists() for f in files)
            assert call.relay.messages("recorder", "consult.leave")
            await call.relay.wait_for(lambda: len(call.station.peers) == 1)  # the family member only

    run(body, timeout=20)


def test_nothing_is_written_for_participants_who_send_nothing(tmp_path: Path) -> None:
    async def body() -> None:
        async with FakeRelay() as relay:
            watcher = SignallingClient(relay.url, token="doctor")
            rec_client = SignallingClient(relay.url, token="recorder")
            await watcher.connect()
            await rec_client.connect()
            doctor = MeshPeer(watcher)  # receive only
            recorder = ConsultRecorder(rec_client, CONSULT, tmp_path)
            await doctor.join(CONSULT)
            recording = asyncio.create_task(recorder.run())
            await relay.wait_for(lambda: connected(recorder) == 1)
            await relay.end_consult(CONSULT)
            assert await asyncio.wait_for(recording, 5) == []
            assert list(tmp_path.iterdir()) == []
            await doctor.close()
            await watcher.close()
            await rec_client.close()

    run(body, timeout=15)


def test_unsafe_consult_ids_are_refused(tmp_path: Path) -> None:
    client = SignallingClient("ws://127.0.0.1:9/ws/signal", token="recorder")
    with pytest.raises(ValueError, match="unusable"):
        ConsultRecorder(client, "../etc", tmp_path)
