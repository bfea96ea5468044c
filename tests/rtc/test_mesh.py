"""Two real aiortc peers meshed through the fake relay: video, readings, rejoin, failure recovery."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from rtc.media import LocalMedia, TestPatternVideoTrack
from rtc.mesh import MeshPeer, ice_configuration, parse_candidate
from rtc.readings import ReadingsStream
from rtc.signalling_client import SignallingClient
from tests.rtc.fake_relay import FakeRelay, run

CONSULT = "c-mesh-1"
TURN = "turn:turn.example.org:3478?transport=udp"


def heartbeat_ecg(hz: int = 250, seconds: int = 4, bpm: int = 75) -> list[int]:
    """A crude but beat-shaped trace: a 1 mV spike every beat on a flat baseline."""
    samples = [0] * (hz * seconds)
    for beat in range(0, len(samples), hz * 60 // bpm):
        samples[beat : beat + 3] = [400, 1000, 400][: len(samples) - beat]
    return samples


def frame_number(image: np.ndarray[Any, Any]) -> int:
    """The test pattern's frame counter: 16 blocks of 20 pixels along the bottom."""
    return int("".join("1" if image[-8, 20 * i + 10].mean() > 128 else "0" for i in range(16)), 2)


@dataclass
class Watcher:
    """What one participant sees: remote tracks and their decoded frames, readings, peer states."""

    frames: dict[MediaStreamTrack, list[int]] = field(default_factory=lambda: collections.defaultdict(list))
    video: list[MediaStreamTrack] = field(default_factory=list)
    readings: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    states: list[tuple[str, str]] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def on_track(self, pid: str, track: MediaStreamTrack) -> None:
        if track.kind == "video":
            self.video.append(track)
        self.tasks.append(asyncio.create_task(self._consume(track)))

    def on_reading(self, pid: str, reading: Any) -> None:
        self.readings.append((pid, dict(reading)))

    def on_peer_state(self, pid: str, state: str) -> None:
        self.states.append((pid, state))

    async def _consume(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if track.kind == "video":
                    self.frames[track].append(frame_number(frame.to_ndarray(format="rgb24")))

    async def frames_on_newest_track(self, count: int, *, after: int = 0, timeout: float = 5.0) -> list[int]:
        """Wait for `count` frames on a video track that arrived after the first `after` ones."""
        async with asyncio.timeout(timeout):
            while len(self.video) <= after or len(self.frames[self.video[-1]]) < count:
                await asyncio.sleep(0.02)
        return self.frames[self.video[-1]]

    async def close(self) -> None:
        # Tracks end when their connection closes; a consumer still waiting is cancelled.
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@dataclass
class Pair:
    relay: FakeRelay
    station: MeshPeer
    doctor: MeshPeer
    seen: Watcher
    media: LocalMedia


@contextlib.asynccontextmanager
async def station_and_doctor(*, station_first: bool = False, **doctor_options: Any) -> AsyncIterator[Pair]:
    """A doctor (receive only) and a station with video and readings join; by default the doctor
    is first, so the station offers."""
    async with FakeRelay() as relay:
        seen = Watcher()
        media = LocalMedia(video=TestPatternVideoTrack(320, 240, 15))
        doctor_client = SignallingClient(relay.url, token="doctor")
        station_client = SignallingClient(relay.url, token="station")
        await doctor_client.connect()
        await station_client.connect()
        doctor = MeshPeer(
            doctor_client,
            on_track=seen.on_track,
            on_reading=seen.on_reading,
            on_peer_state=seen.on_peer_state,
            **doctor_options,
        )
        readings = ReadingsStream(heartbeat_ecg(), 250)
        station = MeshPeer(station_client, media=media, readings=readings, restart_grace=0.3)
        try:
            for peer in (station, doctor) if station_first else (doctor, station):
                await peer.join(CONSULT)
            yield Pair(relay, station, doctor, seen, media)
        finally:
            await station.close()
            await doctor.close()
            await seen.close()
            media.close()
            await station.client.close()
            await doctor.client.close()


def increasing(numbers: list[int]) -> bool:
    return all(a < b for a, b in itertools.pairwise(numbers))


@pytest.mark.parametrize("station_first", [False, True], ids=["station-offers", "doctor-offers"])
def test_video_frames_and_readings_flow_from_station_to_doctor(station_first: bool) -> None:
    async def body() -> None:
        async with station_and_doctor(station_first=station_first) as pair:
            frames = await pair.seen.frames_on_newest_track(5)
            assert increasing(frames), frames  # real, decoded test pattern frames, in order
            station_pid = pair.station.participant_id
            assert pair.doctor.peers.keys() == {station_pid}
            assert (station_pid, "connected") in pair.seen.states
            await pair.relay.wait_for(lambda: any(r["kind"] == "hr" for _, r in pair.seen.readings), timeout=3)
            kinds = {r["kind"] for _, r in pair.seen.readings}
            assert {"ecg", "hr", "spo2", "bp"} <= kinds
            assert {pid for pid, _ in pair.seen.readings} == {station_pid}
            hr = next(r["value"] for _, r in pair.seen.readings if r["kind"] == "hr")
            assert 73 <= hr <= 77  # measured from the spikes, 75 a minute
            # Candidates travel in the SDP; each side still says where its candidates end.
            ends = [m for _, m in pair.relay.received if m["type"] == "signal.candidate"]
            assert ends and all(m["candidate"] is None for m in ends)

    run(body)


def test_doctor_reconnects_rejoins_and_frames_flow_again() -> None:
    async def body() -> None:
        async with station_and_doctor() as pair:
            await pair.seen.frames_on_newest_track(5)
            pid = pair.doctor.participant_id
            await pair.doctor.client.close()
            await pair.relay.wait_for(lambda: pair.relay.participant(CONSULT, "doctor")["status"] == "reconnecting")
            client = pair.doctor.client.clone()
            await client.connect()
            pair.doctor.attach(client)
            await pair.doctor.join(CONSULT)
            assert pair.doctor.participant_id == pid  # the same place in the consult
            frames = await pair.seen.frames_on_newest_track(5, after=1)
            assert increasing(frames)
            assert len(pair.station.peers) == 1 and len(pair.doctor.peers) == 1

    run(body)


@pytest.mark.parametrize("side", ["station", "doctor"])
def test_a_failed_connection_is_replaced_by_a_new_offer(side: str) -> None:
    async def body() -> None:
        async with station_and_doctor(restart_grace=0.3) as pair:
            await pair.seen.frames_on_newest_track(3)
            failing = pair.station if side == "station" else pair.doctor
            # Kill the ICE agent under one side's connection: it reports "failed" like a lost network.
            pc = next(iter(failing.peers.values()))
            await pc.getTransceivers()[0].receiver.transport.transport._connection.close()
            # The station offered first, so it re-offers at once; the doctor after restart_grace.
            frames = await pair.seen.frames_on_newest_track(3, after=1, timeout=6)
            assert increasing(frames)
            offers = [m for who, m in pair.relay.received if m["type"] == "signal.offer"]
            assert [who for who, m in pair.relay.received if m["type"] == "signal.offer"][-1] == side
            assert not any(m.get("ice_restart") for m in offers)

    run(body)


def test_an_ice_restart_offer_is_answered_with_a_new_connection() -> None:
    async def body() -> None:
        async with station_and_doctor() as pair:
            await pair.seen.frames_on_newest_track(3)
            # A browser doctor would restart ICE; aiortc cannot, so the station re-offers instead.
            await pair.doctor.client.send(
                "signal.offer", consult_id=CONSULT, to=pair.station.participant_id, sdp="v=0", ice_restart=True
            )
            frames = await pair.seen.frames_on_newest_track(3, after=1)
            assert increasing(frames)

    run(body)


def test_leaving_and_ending_close_connections() -> None:
    async def body() -> None:
        async with station_and_doctor() as pair:
            await pair.seen.frames_on_newest_track(1)
            station_pid = pair.station.participant_id
            await pair.station.leave()
            assert pair.station.consult_id is None and not pair.station.peers
            await pair.relay.wait_for(lambda: not pair.doctor.peers)
            assert pair.seen.states[-1] == (station_pid, "closed")
            await pair.station.join(CONSULT)
            await pair.relay.wait_for(lambda: len(pair.doctor.peers) == 1)
            await pair.relay.end_consult(CONSULT)
            await pair.relay.wait_for(lambda: not pair.doctor.peers and not pair.station.peers)
            assert pair.doctor.consult_id is None and pair.doctor.consult is not None
            assert pair.doctor.consult["state"] == "ended"

    run(body)


def test_ice_servers_and_browser_candidates() -> None:
    assert ice_configuration([]).iceServers == []
    assert ice_configuration(None).iceServers == []
    config = ice_configuration(
        [
            {"urls": "stun:stun.example.org:3478"},
            {"urls": [TURN, "https://not-ice"], "username": "u", "credential": "p"},
            {"urls": ["https://nothing-usable"]},
        ]
    )
    assert [s.urls for s in config.iceServers] == [["stun:stun.example.org:3478"], [TURN]]
    assert config.iceServers[1].username == "u" and config.iceServers[1].credential == "p"
    # What Chrome trickles: the "candidate:" prefix, an mDNS host name, extension attributes.
    chrome = {
        "candidate": "candidate:842163049 1 udp 1677729535 3f5d9a1e-1f1a-4c8e-9a57-6c5b2a1e0f11.local 54400 typ host "
        "generation 0 ufrag EsAw network-cost 999",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
    }
    candidate = parse_candidate(chrome)
    assert (candidate.port, candidate.type, candidate.protocol, candidate.sdpMid) == (54400, "host", "udp", "0")
    with pytest.raises(ValueError, match="malformed"):
        parse_candidate({"candidate": "candidate:1 1 udp", "sdpMid": "0"})


def test_trickled_candidates_from_a_browser_are_added() -> None:
    async def body() -> None:
        async with FakeRelay() as relay:
            aiortc_side = SignallingClient(relay.url, token="station")
            browser = SignallingClient(relay.url, token="browser")
            await aiortc_side.connect()
            await browser.connect()
            mesh = MeshPeer(aiortc_side)
            remote = RTCPeerConnection(ice_configuration([]))
            try:
                await trickle(mesh, browser, remote)
            finally:
                await mesh.close()
                await remote.close()
                await aiortc_side.close()
                await browser.close()

    run(body)


async def trickle(mesh: MeshPeer, browser: SignallingClient, remote: RTCPeerConnection) -> None:
    await mesh.join(CONSULT)
    joined = await browser.request("consult.join", consult_id=CONSULT)
    # The "browser" offers with no candidates in its SDP and trickles one afterwards.
    remote.addTransceiver("video", direction="recvonly")
    await remote.setLocalDescription(await remote.createOffer())
    lines = remote.localDescription.sdp.splitlines()
    host = next(line for line in lines if line.startswith("a=candidate:"))
    trickled = ("a=candidate:", "a=end-of-candidates")
    sdp = "\r\n".join(line for line in lines if not line.startswith(trickled)) + "\r\n"
    to = next(p["id"] for p in joined["consult"]["participants"] if p["id"] != joined["you"])
    await browser.send("signal.offer", consult_id=CONSULT, to=to, sdp=sdp)
    await browser.next_event("signal.answer", timeout=5)
    pc = mesh.peers[joined["you"]]
    transport = pc.getTransceivers()[0].receiver.transport.transport
    assert transport.getRemoteCandidates() == []
    init = {"candidate": host.removeprefix("a="), "sdpMid": "0", "sdpMLineIndex": 0}
    await browser.send("signal.candidate", consult_id=CONSULT, to=to, candidate=init)
    await browser.send("signal.candidate", consult_id=CONSULT, to=to, candidate=None)
    async with asyncio.timeout(5):
        while len(transport.getRemoteCandidates()) != 1:
            await asyncio.sleep(0.02)
