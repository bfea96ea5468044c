"""Local media for an agent: a synthetic test pattern and tone, a file, or a capture device."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, MediaStreamTrack, VideoStreamTrack
from av.frame import Frame
from av.packet import Packet
from av.stream import Stream

logger = logging.getLogger(__name__)

# ffmpeg input formats that name a capture device rather than a file: "v4l2:/dev/video0".
DEVICE_FORMATS = frozenset({"v4l2", "alsa", "pulse", "avfoundation", "dshow", "x11grab", "gdigrab", "lavfi"})

_BAR_COLOURS = np.array(
    [[235, 235, 235], [235, 235, 16], [16, 235, 235], [16, 235, 16], [235, 16, 235], [235, 16, 16], [16, 16, 235]],
    dtype=np.uint8,
)
_COUNTER_BITS = 16
_VIDEO_CLOCK_RATE = 90_000


class MediaSourceError(Exception):
    """A media source could not be opened; the message names the source."""


class TestPatternVideoTrack(VideoStreamTrack):
    """Colour bars that scroll one step per frame, with the frame number as a row of black and white
    blocks along the bottom (bit 15 on the left), so every frame differs and a receiver can read
    which frame it got."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, width: int = 320, height: int = 240, fps: int = 15) -> None:
        super().__init__()
        if width < _COUNTER_BITS or height < 16 or fps <= 0:
            raise ValueError(f"test pattern needs at least {_COUNTER_BITS}x16 pixels and fps > 0")
        self.width, self.height, self.fps = width, height, fps
        self.frames_sent = 0
        bar_width = max(1, width // len(_BAR_COLOURS))
        row = np.repeat(_BAR_COLOURS, bar_width, axis=0)
        # Twice as wide as the frame so that any window of `width` columns is a plain slice.
        self._bars = np.tile(row, (math.ceil(2 * width / len(row)), 1))[: 2 * width]
        self._block = width // _COUNTER_BITS
        self._strip = min(16, height // 4)
        self._period = 1 / fps
        self._started_at: float | None = None

    async def recv(self) -> Frame:
        if self.readyState != "live":
            raise MediaStreamError
        n = self.frames_sent
        if self._started_at is None:
            self._started_at = time.time()
        else:
            await asyncio.sleep(max(0.0, self._started_at + n * self._period - time.time()))
        offset = (n * 4) % self.width
        image = np.empty((self.height, self.width, 3), dtype=np.uint8)
        image[:] = self._bars[offset : offset + self.width]
        for bit in range(_COUNTER_BITS):
            value = 235 if (n >> (_COUNTER_BITS - 1 - bit)) & 1 else 16
            image[-self._strip :, bit * self._block : (bit + 1) * self._block] = value
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = round(n * self._period * _VIDEO_CLOCK_RATE)
        frame.time_base = fractions.Fraction(1, _VIDEO_CLOCK_RATE)
        self.frames_sent += 1
        return frame


class ToneAudioTrack(AudioStreamTrack):
    """A continuous sine tone: 48 kHz, signed 16-bit, mono, 20 ms frames."""

    sample_rate = 48_000
    samples_per_frame = 960

    def __init__(self, frequency: float = 440.0, *, amplitude: float = 0.2) -> None:
        super().__init__()
        self.frequency = frequency
        self.amplitude = amplitude
        self._sent = 0
        self._started_at: float | None = None

    async def recv(self) -> Frame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._started_at is None:
            self._started_at = time.time()
        else:
            await asyncio.sleep(max(0.0, self._started_at + self._sent / self.sample_rate - time.time()))
        # Computed from the running sample index so the phase is continuous across frames.
        index = np.arange(self._sent, self._sent + self.samples_per_frame)
        wave = self.amplitude * 32767 * np.sin(2 * np.pi * self.frequency * index / self.sample_rate)
        frame = av.AudioFrame.from_ndarray(wave.astype(np.int16).reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.sample_rate
        frame.pts = self._sent
        frame.time_base = fractions.Fraction(1, self.sample_rate)
        self._sent += self.samples_per_frame
        return frame


@dataclass
class LocalMedia:
    """The tracks an agent sends; `close()` stops them and releases files and devices."""

    audio: MediaStreamTrack | None = None
    video: MediaStreamTrack | None = None
    players: list[MediaPlayer] = field(default_factory=list)

    def close(self) -> None:
        for track in (self.audio, self.video):
            if track is not None:
                track.stop()
        for player in self.players:
            # Stopping a player's tracks is what ends its decoding thread.
            for track in (player.audio, player.video):
                if track is not None:
                    track.stop()
        self.players.clear()


def open_local_media(source: str, *, width: int = 320, height: int = 240, fps: int = 15) -> LocalMedia:
    """Open "test-pattern", a media file (looped), or devices such as "v4l2:/dev/video0",
    "alsa:default", or both joined by "+" ("v4l2:/dev/video0+alsa:default")."""
    if source == "test-pattern":
        return LocalMedia(audio=ToneAudioTrack(), video=TestPatternVideoTrack(width, height, fps))
    parts = source.split("+")
    if not all(_is_device(part) for part in parts):
        parts = [source]  # a file name may contain "+"
    media = LocalMedia()
    try:
        for part in parts:
            player = _open_player(part, width=width, height=height, fps=fps)
            media.players.append(player)
            media.video = media.video or player.video
            media.audio = media.audio or player.audio
    except MediaSourceError:
        media.close()
        raise
    if media.audio is None and media.video is None:
        media.close()
        raise MediaSourceError(f"media source {source!r} has neither audio nor video")
    return media


def _is_device(spec: str) -> bool:
    prefix, sep, _ = spec.partition(":")
    return bool(sep) and prefix in DEVICE_FORMATS


def _open_player(spec: str, *, width: int, height: int, fps: int) -> MediaPlayer:
    if _is_device(spec):
        fmt, _, device = spec.partition(":")
        if device.startswith("/dev/") and not Path(device).exists():
            raise MediaSourceError(f"capture device {device} ({fmt}) does not exist")
        options = {"video_size": f"{width}x{height}", "framerate": str(fps)} if fmt in ("v4l2", "x11grab") else {}
        try:
            return MediaPlayer(device, format=fmt, options=options)
        except Exception as exc:  # PyAV raises a family of OSError and ValueError subclasses
            raise MediaSourceError(f"cannot open {fmt} device {device!r}: {exc}") from exc
    if not Path(spec).is_file():
        raise MediaSourceError(f"media file {spec} does not exist")
    try:
        return MediaPlayer(spec, loop=True)
    except Exception as exc:
        raise MediaSourceError(f"cannot open media file {spec}: {exc}") from exc


async def drain(track: MediaStreamTrack) -> None:
    """Read and discard a track until it ends: aiortc queues every decoded frame of a remote track
    until it is read, so an unread track grows without bound."""
    with contextlib.suppress(MediaStreamError):
        while True:
            await track.recv()


class TrackFanout:
    """One local track sent to several peer connections.

    Each subscriber gets the newest frame (live media: a slow consumer skips frames rather than
    falling behind). The source is read only while someone is subscribed, unlike aiortc's
    MediaRelay, whose reader task runs until the source itself ends.
    """

    def __init__(self, source: MediaStreamTrack) -> None:
        self.source = source
        self._subscribers: set[_FanoutTrack] = set()
        self._reader: asyncio.Task[None] | None = None

    def subscribe(self) -> MediaStreamTrack:
        subscriber = _FanoutTrack(self)
        self._subscribers.add(subscriber)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read(), name=f"fanout-{self.source.kind}")
        return subscriber

    async def aclose(self) -> None:
        for subscriber in list(self._subscribers):
            subscriber.stop()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    def _unsubscribe(self, subscriber: _FanoutTrack) -> None:
        self._subscribers.discard(subscriber)
        if not self._subscribers and self._reader is not None:
            self._reader.cancel()

    async def _read(self) -> None:
        while True:
            try:
                frame: Frame | Packet[Stream] | None = await self.source.recv()
            except MediaStreamError:
                frame = None
            if isinstance(frame, av.VideoFrame) and frame.format.name != "yuv420p":
                # Each subscriber's encoder would otherwise convert this one shared frame in its own
                # thread with the frame's single cached swscale context, which crashes libswscale.
                frame = _as_yuv420p(frame)
            for subscriber in self._subscribers:
                subscriber.offer(frame)
            if frame is None:
                return


def _as_yuv420p(frame: av.VideoFrame) -> av.VideoFrame:
    converted = frame.reformat(format="yuv420p")
    converted.pts, converted.time_base = frame.pts, frame.time_base
    return converted


class _FanoutTrack(MediaStreamTrack):
    def __init__(self, fanout: TrackFanout) -> None:
        super().__init__()
        self.kind = fanout.source.kind
        self._fanout = fanout
        self._latest: asyncio.Queue[Frame | Packet[Stream] | None] = asyncio.Queue(maxsize=1)

    def offer(self, frame: Frame | Packet[Stream] | None) -> None:
        if self._latest.full():
            self._latest.get_nowait()
        self._latest.put_nowait(frame)

    async def recv(self) -> Frame | Packet[Stream]:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self._latest.get()
        if frame is None:
            self.stop()
            raise MediaStreamError
        return frame

    def stop(self) -> None:
        self._fanout._unsubscribe(self)
        super().stop()
