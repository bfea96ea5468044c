"""Local media: the synthetic test pattern and tone, files, devices, and the fan-out to peers."""

from __future__ import annotations

import asyncio
import itertools
import re
from pathlib import Path

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError

from rtc.media import MediaSourceError, TestPatternVideoTrack, ToneAudioTrack, TrackFanout, open_local_media
from tests.rtc.fake_relay import run


def test_test_pattern_frames_differ_and_carry_their_number() -> None:
    async def body() -> None:
        track = TestPatternVideoTrack(320, 240, 15)
        frames = [await track.recv() for _ in range(4)]
        track.stop()
        images = [f.to_ndarray(format="rgb24") for f in frames]
        assert all(img.shape == (240, 320, 3) for img in images)
        assert all(not np.array_equal(a, b) for a, b in itertools.pairwise(images))
        # The bottom strip is the frame number in 16 blocks of 20 pixels, most significant first.
        for n, img in enumerate(images):
            bits = "".join("1" if img[-4, 20 * i + 10, 0] > 128 else "0" for i in range(16))
            assert int(bits, 2) == n
        assert [f.pts for f in frames] == [0, 6000, 12000, 18000]  # 90 kHz clock at 15 fps
        with pytest.raises(MediaStreamError):
            await track.recv()

    run(body)


def test_tone_is_48khz_mono_s16_in_20ms_frames_with_a_continuous_phase() -> None:
    async def body() -> None:
        track = ToneAudioTrack(frequency=1000)
        frames = [await track.recv() for _ in range(3)]
        track.stop()
        assert all(f.sample_rate == 48_000 and f.samples == 960 and f.format.name == "s16" for f in frames)
        assert all(f.layout.name == "mono" for f in frames)
        wave = np.concatenate([f.to_ndarray().ravel() for f in frames]).astype(float)
        # 1 kHz at 48 kHz: 48 samples a period, unbroken across frame borders.
        assert np.allclose(wave[48:], wave[:-48], atol=2)
        assert 0.19 * 32767 <= np.max(np.abs(wave)) <= 0.2 * 32767 + 1

    run(body)


def test_open_test_pattern() -> None:
    media = open_local_media("test-pattern")
    assert isinstance(media.video, TestPatternVideoTrack) and isinstance(media.audio, ToneAudioTrack)
    media.close()
    assert media.video.readyState == "ended" and media.audio.readyState == "ended"


def test_open_a_media_file(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=15)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for i in range(15):
            image = np.full((120, 160, 3), i * 10, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)

    async def body() -> None:
        media = open_local_media(str(path))
        assert media.video is not None and media.audio is None
        frame = await asyncio.wait_for(media.video.recv(), 5)
        assert (frame.width, frame.height) == (160, 120)
        media.close()

    run(body)


@pytest.mark.parametrize(
    ("source", "named"),
    [
        ("/no/such/clip.mp4", "/no/such/clip.mp4"),
        ("v4l2:/dev/video99", "/dev/video99"),
        ("v4l2:/dev/video99+alsa:default", "/dev/video99"),
        ("alsa:no-such-card", "no-such-card"),
    ],
)
def test_missing_file_or_device_names_it(source: str, named: str) -> None:
    with pytest.raises(MediaSourceError, match=re.escape(named)):
        open_local_media(source)


def test_a_file_that_is_not_media(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a video")
    with pytest.raises(MediaSourceError, match=re.escape("notes.txt")):
        open_local_media(str(path))


def test_fanout_gives_every_subscriber_the_frames_and_reads_only_while_subscribed() -> None:
    async def body() -> None:
        source = TestPatternVideoTrack(64, 48, 30)
        fanout = TrackFanout(source)
        first, second = fanout.subscribe(), fanout.subscribe()
        a, b = await first.recv(), await second.recv()
        assert a.pts == b.pts
        first.stop()
        second.stop()
        await asyncio.sleep(0.1)
        read = source.frames_sent
        await asyncio.sleep(0.15)
        assert source.frames_sent == read  # nobody subscribed: the source is left alone
        third = fanout.subscribe()
        assert (await third.recv()).pts > a.pts
        source.stop()  # the source ending ends its subscribers
        with pytest.raises(MediaStreamError):
            while True:
                await third.recv()
        await fanout.aclose()

    run(body)


def test_fanout_shares_video_only_as_yuv420p() -> None:
    """Encoders in several threads must never convert one shared frame at once (libswscale crashes),
    so the fanout converts an RGB test pattern once, keeping its timing."""

    async def body() -> None:
        source = TestPatternVideoTrack(64, 48, 30)
        fanout = TrackFanout(source)
        first, second = fanout.subscribe(), fanout.subscribe()
        a, b = await first.recv(), await second.recv()
        assert a is b and a.format.name == "yuv420p"
        assert a.pts is not None and a.time_base is not None
        assert (a.width, a.height) == (64, 48)
        await fanout.aclose()

    run(body)
