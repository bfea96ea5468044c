"""A receive-only participant that records a consult: one WebM file (VP8 video, Opus audio) per
remote participant and connection.

The recorder joins like anyone else, so by the glare rule it offers to every connected participant
(receive-only audio and video, and the `readings` channel, which it ignores). A participant who
drops and comes back arrives on a new connection and gets a new file (a *segment*); so does every
participant when the recorder itself rejoins. Recording ends when the consult reaches a terminal
state or `stop()` is called; `run()` then returns the finished files.

Timing: each track's first frame is placed at its arrival time (relative to the segment's first
frame), later frames by their own RTP-derived timestamps, so audio and video stay in step and a
gap in the audio (packet loss, a muted browser that sends nothing) becomes silence. Encoding runs in
one worker thread per segment: VP8 at realtime speed costs about 3 ms per 640x480 frame here.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fractions
import hashlib
import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import numpy as np
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.audio.frame import AudioFrame
from av.audio.resampler import AudioResampler
from av.audio.stream import AudioStream
from av.container import OutputContainer
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from rtc.media import drain
from rtc.mesh import TERMINAL_STATES, MeshPeer
from rtc.signalling_client import Message, SignallingClient, SignallingError

logger = logging.getLogger(__name__)

CONTENT_TYPE = "video/webm"
SUFFIX = ".webm"
# Consult and participant ids become file names: nothing that could climb out of the directory.
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-_.]{0,63}$")
# A rejoin refused with one of these means there is nothing left to record.
_CONSULT_GONE = frozenset({"consult_ended", "not_found", "not_in_consult", "forbidden", "invalid_transition"})
_AUDIO_RATE = 48_000
_MS = fractions.Fraction(1, 1000)
_SAMPLE = fractions.Fraction(1, _AUDIO_RATE)
_GAP_SAMPLES = _AUDIO_RATE // 50  # audio later than one 20 ms frame: fill the gap with silence
_STALE_SAMPLES = _AUDIO_RATE // 10  # audio 100 ms behind what is written already: drop it
# Frames handed to a segment's writer and not yet written: past these, frames are skipped.
_VIDEO_BACKLOG = 60
_MAX_BACKLOG = 1500


@dataclass(frozen=True)
class RecordingOptions:
    video_bitrate: int = 1_000_000
    audio_bitrate: int = 48_000
    # How long a new connection's first frames wait for its other track before the file is laid out.
    settle_seconds: float = 1.0


@dataclass(frozen=True)
class RecordedFile:
    """One finished file: one participant's media over one connection."""

    path: Path
    participant_id: str
    role: str
    display: str
    started_at: datetime
    ended_at: datetime
    size: int
    sha256: str  # hex
    sha1: str  # hex; FHIR's Attachment.hash is the base64 of the SHA-1
    content_type: str
    video_frames: int
    audio_seconds: float


class _Writer:
    """The file of one segment. Every method runs in the segment's single worker thread."""

    def __init__(self, path: Path, options: RecordingOptions, now: Callable[[], datetime]) -> None:
        self.path, self.options, self.now = path, options, now
        self.part = path.with_name(path.name + ".part")
        self.expected: set[str] = set()
        self.pending: list[tuple[str, Any, float]] = []
        self.container: OutputContainer | None = None
        self.video: VideoStream | None = None
        self.audio: AudioStream | None = None
        self.resampler: AudioResampler | None = None
        self.origin: float | None = None
        self.first: dict[str, tuple[float, float]] = {}
        self.started_at: datetime | None = None
        self.ended_at: datetime | None = None
        self.video_frames = self.audio_samples = 0
        self.last_ms = -1
        self.failed = False
        self.written = 0

    def expect(self, kind: str) -> None:
        self.expected.add(kind)

    def add(self, kind: str, frame: Any, arrival: float) -> None:
        self.written += 1  # counted whatever becomes of the frame: the reader compares it with its own count
        if self.failed:
            return
        if self.origin is None:
            self.origin, self.started_at = arrival, self.now()
        self.ended_at = self.now()
        try:
            if self.container is None:
                self.pending.append((kind, frame, arrival))
                seen = {k for k, _, _ in self.pending}
                if seen >= self.expected or arrival - self.pending[0][2] >= self.options.settle_seconds:
                    self._open()
                return
            self._write(kind, frame, arrival)
        except Exception:  # one undecodable or odd frame must not lose the rest of the recording
            logger.exception("recorder: cannot write a %s frame to %s", kind, self.part)

    def close(self) -> tuple[int, float] | None:
        """Finish the file; (video frames, audio seconds), or None when nothing was recorded."""
        try:
            if self.container is None and self.pending and not self.failed:
                self._open()
            if self.container is not None:
                for stream in (self.video, self.audio):
                    if stream is not None:
                        for packet in stream.encode(None):
                            self.container.mux(packet)
                self.container.close()
        except Exception:
            logger.exception("recorder: cannot finish %s", self.part)
        if self.video_frames == 0 and self.audio_samples == 0:
            self.part.unlink(missing_ok=True)
            return None
        self.part.rename(self.path)
        return self.video_frames, self.audio_samples / _AUDIO_RATE

    def _open(self) -> None:
        try:
            self.container = av.open(str(self.part), mode="w", format="webm")
        except Exception:
            self.failed = True
            raise
        kinds = {kind: frame for kind, frame, _ in reversed(self.pending)}  # each kind's first frame
        if "video" in kinds:
            first: VideoFrame = kinds["video"]
            self.video = self.container.add_stream("libvpx", rate=30)
            self.video.width, self.video.height = first.width - first.width % 2, first.height - first.height % 2
            self.video.pix_fmt, self.video.bit_rate = "yuv420p", self.options.video_bitrate
            self.video.codec_context.time_base = _MS
            self.video.options = {"deadline": "realtime", "cpu-used": "16", "lag-in-frames": "0"}
        if "audio" in kinds:
            layout = "mono" if len(kinds["audio"].layout.channels) == 1 else "stereo"
            self.audio = self.container.add_stream("libopus", rate=_AUDIO_RATE)
            self.audio.layout, self.audio.bit_rate = layout, self.options.audio_bitrate
            self.resampler = AudioResampler(format="s16", layout=layout, rate=_AUDIO_RATE)
        pending, self.pending = self.pending, []
        for kind, frame, arrival in pending:
            self._write(kind, frame, arrival)

    def _at(self, kind: str, frame: Any, arrival: float) -> float:
        """Seconds from the segment's first frame to this one."""
        assert self.origin is not None
        own = float(frame.pts * frame.time_base) if frame.pts is not None and frame.time_base else None
        start, own_start = self.first.setdefault(kind, (arrival - self.origin, own if own is not None else 0.0))
        return arrival - self.origin if own is None else start + own - own_start

    def _write(self, kind: str, frame: Any, arrival: float) -> None:
        assert self.container is not None
        at = max(0.0, self._at(kind, frame, arrival))
        if kind == "video" and self.video is not None:
            self._write_video(frame, at)
        elif kind == "audio" and self.audio is not None:
            self._write_audio(frame, at)

    def _write_video(self, frame: VideoFrame, at: float) -> None:
        assert self.container is not None and self.video is not None
        size = (self.video.width, self.video.height)
        if (frame.width, frame.height) != size or frame.format.name != "yuv420p":
            frame = frame.reformat(width=size[0], height=size[1], format="yuv420p")
        ms = max(round(at * 1000), self.last_ms + 1)
        frame.pts, frame.time_base, self.last_ms = ms, _MS, ms
        for packet in self.video.encode(frame):
            self.container.mux(packet)
        self.video_frames += 1

    def _write_audio(self, frame: AudioFrame, at: float) -> None:
        assert self.container is not None and self.audio is not None and self.resampler is not None
        target = round(at * _AUDIO_RATE)
        if target < self.audio_samples - _STALE_SAMPLES:
            return
        if target > self.audio_samples + _GAP_SAMPLES:
            self._encode_audio_silence(target - self.audio_samples)
        frame.pts = None  # the resampler keeps its own count; the output is laid end to end below
        for chunk in self.resampler.resample(frame):
            self._encode_audio(chunk)

    def _encode_audio_silence(self, samples: int) -> None:
        assert self.audio is not None
        channels = len(self.audio.layout.channels)
        while samples > 0:
            n = min(samples, _AUDIO_RATE)
            silence = np.zeros((1, n * channels), dtype=np.int16)
            self._encode_audio(AudioFrame.from_ndarray(silence, format="s16", layout=self.audio.layout.name))
            samples -= n

    def _encode_audio(self, chunk: AudioFrame) -> None:
        assert self.container is not None and self.audio is not None
        chunk.sample_rate, chunk.pts, chunk.time_base = _AUDIO_RATE, self.audio_samples, _SAMPLE
        for packet in self.audio.encode(chunk):
            self.container.mux(packet)
        self.audio_samples += chunk.samples


def _digests(path: Path) -> tuple[int, str, str]:
    sha256, sha1, size = hashlib.sha256(), hashlib.sha1(), 0  # noqa: S324 - FHIR Attachment.hash is SHA-1
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            sha256.update(block)
            sha1.update(block)
            size += len(block)
    return size, sha256.hexdigest(), sha1.hexdigest()


class _Segment:
    """One participant's tracks on one connection, read into one file.

    Frames go to the writer's thread without waiting for it: a round trip per frame through a
    busy event loop would fall behind 50 audio frames a second. If the writer falls behind anyway,
    video frames are skipped first; audio only when it is far behind.
    """

    def __init__(self, pid: str, role: str, display: str, path: Path, options: RecordingOptions, now: Any) -> None:
        self.pid, self.role, self.display = pid, role, display
        self._writer = _Writer(path, options, now)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"recorder-{pid}")
        self._readers: list[asyncio.Task[None]] = []
        self._result: asyncio.Task[RecordedFile | None] | None = None
        self._queued = 0
        self.skipped = 0

    def add(self, track: MediaStreamTrack) -> None:
        self._executor.submit(self._writer.expect, track.kind)  # before any frame: one FIFO thread
        self._readers.append(asyncio.create_task(self._read(track), name=f"recorder-{self.pid}-{track.kind}"))

    async def _read(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                backlog = self._queued - self._writer.written
                if backlog >= (_MAX_BACKLOG if track.kind == "audio" else _VIDEO_BACKLOG):
                    if not self.skipped:
                        logger.warning("recorder: writing %s falls behind; skipping frames", self._writer.path.name)
                    self.skipped += 1
                    continue
                self._queued += 1
                self._executor.submit(self._writer.add, track.kind, frame, time.monotonic())

    def finish(self) -> asyncio.Task[RecordedFile | None]:
        """Stop reading (the connection is gone or the recording over) and close the file, once."""
        if self._result is None:
            self._result = asyncio.create_task(self._finish(), name=f"recorder-finish-{self.pid}")
        return self._result

    async def _finish(self) -> RecordedFile | None:
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        loop = asyncio.get_running_loop()
        try:
            counts = await loop.run_in_executor(self._executor, self._writer.close)
            if counts is None:
                return None
            size, sha256, sha1 = await loop.run_in_executor(self._executor, _digests, self._writer.path)
        finally:
            self._executor.shutdown(wait=False)
        w = self._writer
        assert w.started_at is not None and w.ended_at is not None
        logger.info("recorder: %s (%s) -> %s, %d video frames, %.1f s audio", self.pid, self.role, w.path.name, *counts)
        video_frames, audio_seconds = counts
        return RecordedFile(
            path=w.path,
            participant_id=self.pid,
            role=self.role,
            display=self.display,
            started_at=w.started_at,
            ended_at=w.ended_at,
            size=size,
            sha256=sha256,
            sha1=sha1,
            content_type=CONTENT_TYPE,
            video_frames=video_frames,
            audio_seconds=audio_seconds,
        )


class ConsultRecorder:
    """Records one consult into `directory` (created if missing): `files = await recorder.run()`."""

    def __init__(
        self,
        client: SignallingClient,
        consult_id: str,
        directory: Path,
        *,
        options: RecordingOptions | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        restart_grace: float = 3.0,
    ) -> None:
        if not SAFE_NAME.match(consult_id):
            raise ValueError(f"unusable consult id {consult_id!r}")
        self.consult_id, self.directory = consult_id, directory
        self.options, self.now = options or RecordingOptions(), now
        self.final_state: str | None = None  # the terminal state that ended the recording, or "stopped"
        self.mesh = MeshPeer(client, on_track=self._on_track, restart_grace=restart_grace)
        self._segments: dict[RTCPeerConnection, _Segment] = {}
        self._all: list[_Segment] = []
        self._numbers: collections.Counter[str] = collections.Counter()
        self._done = asyncio.Event()
        self._detach: Callable[[], None] | None = None
        self._drains: set[asyncio.Task[None]] = set()

    async def run(self) -> list[RecordedFile]:
        """Join, record until the consult is over or stop() is called, and return the files."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._follow(self.mesh.client)
        try:
            await self.mesh.join(self.consult_id)
            await self._done.wait()
        finally:
            files = await self._finish()
        return files

    def stop(self) -> None:
        """End the recording (the recorder leaves the consult); run() returns what was recorded."""
        self.final_state = self.final_state or "stopped"
        self._done.set()

    async def reattach(self, client: SignallingClient) -> None:
        """Carry on over a new signalling connection: rejoin, which offers anew to everyone."""
        self.mesh.attach(client)
        self._follow(client)
        try:
            await self.mesh.join(self.consult_id)
        except SignallingError as exc:
            if exc.code not in _CONSULT_GONE:
                raise
            logger.info("recorder: consult %s is gone (%s)", self.consult_id, exc.code)
            self.final_state = self.final_state or exc.code
            self._done.set()

    def _follow(self, client: SignallingClient) -> None:
        if self._detach is not None:
            self._detach()
        self._detach = client.on("consult.state", self._on_state)

    async def _on_state(self, message: Message) -> None:
        consult = message.get("consult") or {}
        if consult.get("id") == self.consult_id and consult.get("state") in TERMINAL_STATES:
            self.final_state = self.final_state or str(consult["state"])
            self._done.set()

    def _on_track(self, pid: str, track: MediaStreamTrack) -> None:
        pc = self.mesh.peers.get(pid)
        if pc is None or not SAFE_NAME.match(pid):
            drained = asyncio.create_task(drain(track))  # not a connection we keep: read and drop
            self._drains.add(drained)
            drained.add_done_callback(self._drains.discard)
            return
        segment = self._segments.get(pc)
        if segment is None:
            everyone: list[dict[str, Any]] = (self.mesh.consult or {}).get("participants", [])
            participant = next((p for p in everyone if p.get("id") == pid), {})
            self._numbers[pid] += 1
            path = self.directory / f"{pid}-{self._numbers[pid]}{SUFFIX}"
            role, display = str(participant.get("role", "unknown")), str(participant.get("display", ""))
            segment = self._segments[pc] = _Segment(pid, role, display, path, self.options, self.now)
            self._all.append(segment)
            # A replaced or failed connection closes its tracks; the file is finished at once.
            pc.on("connectionstatechange", lambda: pc.connectionState == "closed" and segment.finish())
        segment.add(track)

    async def _finish(self) -> list[RecordedFile]:
        if self._detach is not None:
            self._detach()
        if self.final_state == "stopped" and self.mesh.client.connected:
            await self.mesh.leave()
        await self.mesh.close()
        results = await asyncio.gather(*(segment.finish() for segment in self._all), return_exceptions=True)
        files = []
        for result in results:
            if isinstance(result, BaseException):
                logger.error("recorder: a file of consult %s could not be finished: %r", self.consult_id, result)
            elif result is not None:
                files.append(result)
        return files
