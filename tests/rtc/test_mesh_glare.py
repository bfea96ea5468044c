"""Offers that cross (both sides offer at once) still end in one working connection."""

from __future__ import annotations

import asyncio

from rtc.media import LocalMedia, TestPatternVideoTrack
from rtc.mesh import MeshPeer
from rtc.signalling_client import SignallingClient
from tests.rtc.fake_relay import FakeRelay, run
from tests.rtc.test_mesh import CONSULT, Watcher, increasing


def test_crossing_offers_settle_on_one_connection_with_video_both_ways() -> None:
    async def body() -> None:
        async with FakeRelay() as relay:
            seen_a, seen_b = Watcher(), Watcher()
            media_a = LocalMedia(video=TestPatternVideoTrack(320, 240, 15))
            media_b = LocalMedia(video=TestPatternVideoTrack(320, 240, 15))
            a_client = SignallingClient(relay.url, token="a")
            b_client = SignallingClient(relay.url, token="b")
            await a_client.connect()
            await b_client.connect()
            a = MeshPeer(a_client, media=media_a, on_track=seen_a.on_track)
            b = MeshPeer(b_client, media=media_b, on_track=seen_b.on_track)
            try:
                await a.join(CONSULT)
                await b.join(CONSULT)  # b, the joiner, offers; a answers
                assert a.participant_id and b.participant_id
                await seen_a.frames_on_newest_track(2, timeout=10)
                # Both replace the connection at the same moment (as when both notice it failed).
                await asyncio.gather(a._offer(b.participant_id), b._offer(a.participant_id))
                seen_a.video.clear()
                seen_b.video.clear()
                assert increasing(await seen_a.frames_on_newest_track(5, timeout=10))
                assert increasing(await seen_b.frames_on_newest_track(5, timeout=10))
                await asyncio.sleep(0.5)
                assert len(a.peers) == 1 and len(b.peers) == 1
                states = {a.peers[b.participant_id].connectionState, b.peers[a.participant_id].connectionState}
                assert states == {"connected"}
            finally:
                for peer in (a, b):
                    await peer.close()
                for seen in (seen_a, seen_b):
                    await seen.close()
                media_a.close()
                media_b.close()
                await a_client.close()
                await b_client.close()

    run(body, timeout=30)
