"""The bedside station agent against the fake relay, with a receive-only doctor peer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from rtc.media import LocalMedia, TestPatternVideoTrack
from rtc.mesh import MeshPeer
from rtc.readings import ReadingsStream
from rtc.signalling_client import SignallingClient, SignallingError
from rtc.station import StationAgent
from tests.rtc.fake_relay import FakeRelay, run
from tests.rtc.test_mesh import Watcher, heartbeat_ecg, increasing

CONSULT = "c-ward-round-1"


@dataclass
class Bedside:
    relay: FakeRelay
    agent: StationAgent
    doctor: MeshPeer
    seen: Watcher


@contextlib.asynccontextmanager
async def bedside() -> AsyncIterator[Bedside]:
    """A running station agent, and a doctor already in consult CONSULT."""
    async with FakeRelay() as relay:
        media = LocalMedia(video=TestPatternVideoTrack(320, 240, 15))
        agent = StationAgent(
            SignallingClient(relay.url, token="station"),
            media,
            room="room-101",
            bed="bed-1",
            auto_answer=True,
            readings=ReadingsStream(heartbeat_ecg(), 250),
            backoff_initial=0.05,
        )
        running = asyncio.create_task(agent.run())
        seen = Watcher()
        doctor_client = SignallingClient(relay.url, token="doctor")
        await doctor_client.connect()
        doctor = MeshPeer(doctor_client, on_track=seen.on_track, on_reading=seen.on_reading)
        try:
            await doctor.join(CONSULT)
            await asyncio.wait_for(agent.registered.wait(), 5)
            yield Bedside(relay, agent, doctor, seen)
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
            await doctor.close()
            await seen.close()
            media.close()
            await doctor_client.close()


def test_station_registers_and_answers_a_call_with_video_and_readings() -> None:
    async def body() -> None:
        async with bedside() as bed:
            [register] = bed.relay.messages("station", "station.register")
            assert (register["room"], register["bed"], register["auto_answer"]) == ("room-101", "bed-1", True)
            assert bed.agent.registration is not None and bed.agent.registration["station_id"] == "station"
            await bed.relay.call_station("station", CONSULT)
            frames = await bed.seen.frames_on_newest_track(5)
            assert increasing(frames)
            assert bed.agent.consult_id == CONSULT
            await bed.relay.wait_for(lambda: any(r["kind"] == "ecg" for _, r in bed.seen.readings))
            await bed.relay.end_consult(CONSULT)
            await bed.relay.wait_for(lambda: bed.agent.consult_id is None and not bed.agent.mesh.peers)

    run(body)


def test_a_busy_station_declines_a_second_call() -> None:
    async def body() -> None:
        async with bedside() as bed:
            await bed.relay.call_station("station", CONSULT)
            await bed.relay.wait_for(lambda: bed.agent.consult_id == CONSULT)
            await bed.relay.call_station("station", CONSULT)  # a repeated call is not a second one
            await bed.relay.call_station("station", "c-other")
            await bed.relay.wait_for(lambda: bool(bed.relay.messages("station", "consult.decline")))
            [decline] = bed.relay.messages("station", "consult.decline")
            assert decline["consult_id"] == "c-other"
            assert bed.agent.consult_id == CONSULT
            assert len(bed.relay.messages("station", "consult.join")) == 1

    run(body)


def test_station_reconnects_and_rejoins_its_consult() -> None:
    async def body() -> None:
        async with bedside() as bed:
            await bed.relay.call_station("station", CONSULT)
            await bed.seen.frames_on_newest_track(3)
            place = bed.agent.mesh.participant_id
            await bed.relay.drop("station")
            frames = await bed.seen.frames_on_newest_track(3, after=1)
            assert increasing(frames)
            assert bed.agent.connections == 2 and bed.agent.mesh.participant_id == place
            assert len(bed.relay.messages("station", "station.register")) == 2
            assert len(bed.relay.messages("station", "consult.join")) == 2

    run(body)


def test_a_rejoin_refused_because_the_consult_ended_forgets_it() -> None:
    async def body() -> None:
        async with bedside() as bed:
            await bed.relay.call_station("station", CONSULT)
            await bed.relay.wait_for(lambda: len(bed.agent.mesh.peers) == 1)
            await bed.relay.drop("station")
            # Ended while the station was away: it hears of it only when it tries to rejoin.
            bed.relay.consults[CONSULT]["state"] = "ended"
            await bed.relay.wait_for(lambda: len(bed.relay.messages("station", "consult.join")) == 2)
            await bed.relay.wait_for(lambda: bed.agent.consult_id is None and not bed.agent.mesh.peers)
            assert bed.agent.registered.is_set()

    run(body)


def test_a_refused_token_stops_the_agent() -> None:
    async def body() -> None:
        async with FakeRelay() as relay:
            agent = StationAgent(SignallingClient(relay.url, token="bad"), None, room="r", bed="b")
            with pytest.raises(SignallingError) as caught:
                await agent.run()
            assert caught.value.code == "auth_required"

    run(body)


def test_the_agent_keeps_trying_until_the_server_is_up() -> None:
    async def body() -> None:
        async with FakeRelay() as relay:
            url = relay.url
        # The relay is gone: connecting fails until one listens on the same port again.
        agent = StationAgent(SignallingClient(url, token="station"), None, room="r", bed="b", backoff_initial=0.05)
        running = asyncio.create_task(agent.run())
        await asyncio.sleep(0.3)
        assert agent.connections == 0 and not running.done()
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        async with FakeRelay(port=port) as relay:
            await asyncio.wait_for(agent.registered.wait(), 5)
            assert relay.messages("station", "station.register")
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running

    run(body)
