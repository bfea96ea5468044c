"""Live bedside readings on the `readings` data channel (docs/signalling.md, "Media between participants").

One JSON object per message: an ECG chunk, or an SpO2, heart-rate or blood-pressure value.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping, Sequence
from typing import Any, Literal, NotRequired, TypedDict

import numpy as np
from aiortc import RTCDataChannel

logger = logging.getLogger(__name__)

CHANNEL_LABEL = "readings"
MAX_ECG_SAMPLES = 10_000  # per message; 200 ms at 250-1000 Hz is 50-200
MAX_MICROVOLTS = 100_000  # ±100 mV: far beyond any body surface ECG, so only garbage is refused
MAX_BUFFERED_BYTES = 256 * 1024  # queued on a channel; beyond it readings are dropped as stale


class EcgReading(TypedDict):
    kind: Literal["ecg"]
    t: float  # unix seconds of the first sample
    hz: int
    lead: str
    uv: list[int]


class Spo2Reading(TypedDict):
    kind: Literal["spo2"]
    t: float
    value: int  # percent
    simulated: NotRequired[bool]  # present (true) only when no device measured it


class HrReading(TypedDict):
    kind: Literal["hr"]
    t: float
    value: int  # beats per minute
    simulated: NotRequired[bool]


class BpReading(TypedDict):
    kind: Literal["bp"]
    t: float
    systolic: int  # mmHg
    diastolic: int
    simulated: NotRequired[bool]


Reading = EcgReading | Spo2Reading | HrReading | BpReading

_FIELDS: dict[str, frozenset[str]] = {
    "ecg": frozenset({"kind", "t", "hz", "lead", "uv"}),
    "spo2": frozenset({"kind", "t", "value"}),
    "hr": frozenset({"kind", "t", "value"}),
    "bp": frozenset({"kind", "t", "systolic", "diastolic"}),
}
_LIMITS = {"spo2": (0, 100), "hr": (0, 350), "bp": (0, 350)}
# A vital sign that no device measured says so on the wire, so that no doctor takes it for a measurement.
SIMULATED = "simulated"


def encode_reading(reading: Reading | Mapping[str, Any]) -> str:
    """The data channel message for a reading; refuses what decode_reading would refuse."""
    return json.dumps(validate_reading(reading), separators=(",", ":"))


def decode_reading(data: str | bytes) -> Reading:
    """Parse and check one data channel message; raises ValueError saying what is wrong."""
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"reading is not JSON: {exc}") from exc
    return validate_reading(obj)


def validate_reading(obj: object) -> Reading:
    if not isinstance(obj, Mapping):
        raise ValueError("reading is not a JSON object")
    kind = obj.get("kind")
    if kind not in _FIELDS:
        raise ValueError(f"unknown reading kind {kind!r}")
    # Like the signalling frames, unknown fields are refused so that typos do not pass silently.
    simulated = obj.get(SIMULATED, False)
    if set(obj) - {SIMULATED} != _FIELDS[kind] or (SIMULATED in obj and kind == "ecg"):
        raise ValueError(f"{kind} reading needs fields {sorted(_FIELDS[kind])}, got {sorted(obj)}")
    if simulated is not True and SIMULATED in obj:
        raise ValueError("simulated, when present, is true")
    t = obj["t"]
    if not _is_number(t) or not math.isfinite(t) or t <= 0:
        raise ValueError(f"t must be unix seconds, got {t!r}")
    if kind == "ecg":
        hz, lead, uv = obj["hz"], obj["lead"], obj["uv"]
        if not _is_int(hz) or not 1 <= hz <= 10_000:
            raise ValueError(f"hz must be an integer 1-10000, got {hz!r}")
        if not isinstance(lead, str) or not 1 <= len(lead) <= 16:
            raise ValueError(f"lead must be a short name such as 'II', got {lead!r}")
        if not isinstance(uv, list) or not 1 <= len(uv) <= MAX_ECG_SAMPLES:
            raise ValueError(f"uv must be a list of 1-{MAX_ECG_SAMPLES} samples")
        if not all(_is_int(v) and abs(v) <= MAX_MICROVOLTS for v in uv):
            raise ValueError(f"uv samples must be integers within ±{MAX_MICROVOLTS} µV")
        return EcgReading(kind="ecg", t=float(t), hz=hz, lead=lead, uv=list(uv))
    low, high = _LIMITS[kind]
    if kind == "bp":
        systolic, diastolic = obj["systolic"], obj["diastolic"]
        if not (_is_int(systolic) and _is_int(diastolic) and low <= diastolic <= systolic <= high):
            raise ValueError(f"bp needs integers {low} <= diastolic <= systolic <= {high}, got {systolic}/{diastolic}")
        bp = BpReading(kind="bp", t=float(t), systolic=systolic, diastolic=diastolic)
        if simulated:
            bp["simulated"] = True
        return bp
    value = obj["value"]
    if not _is_int(value) or not low <= value <= high:
        raise ValueError(f"{kind} value must be an integer {low}-{high}, got {value!r}")
    vital: Spo2Reading | HrReading
    if kind == "spo2":
        vital = Spo2Reading(kind="spo2", t=float(t), value=value)
    else:
        vital = HrReading(kind="hr", t=float(t), value=value)
    if simulated:
        vital["simulated"] = True
    return vital


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def find_r_peaks(samples: Sequence[int] | np.ndarray[Any, Any], hz: int) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Sample indices of R peaks: maxima above half-way from the median to the 99.5th percentile,
    at least 250 ms apart. Enough for a clean resting lead II/MLII excerpt, not a diagnostic QRS detector."""
    x = np.asarray(samples, dtype=np.float64)
    if x.size < hz:
        return np.zeros(0, dtype=np.int64)
    baseline = float(np.median(x))
    threshold = baseline + 0.5 * (float(np.percentile(x, 99.5)) - baseline)
    above = np.flatnonzero(x > threshold)
    peaks: list[int] = []
    refractory = int(0.25 * hz)
    # Runs of consecutive above-threshold samples are one QRS each; its peak is the run's maximum.
    for run in np.split(above, np.flatnonzero(np.diff(above) > 1) + 1) if above.size else []:
        peak = int(run[np.argmax(x[run])])
        if peaks and peak - peaks[-1] < refractory:
            if x[peak] > x[peaks[-1]]:
                peaks[-1] = peak
            continue
        peaks.append(peak)
    return np.asarray(peaks, dtype=np.int64)


class ReadingsStream:
    """Real-time readings from a recorded ECG excerpt, looped.

    Yields an ECG chunk every `chunk_seconds` (the caller's real samples) and, about once a
    second, heart rate, SpO2 and blood pressure. Heart rate is measured from the R peaks of the
    excerpt (mean of the beat-to-beat rates over the last 8 s played); only when the excerpt has no
    detectable beats is it a slowly varying simulated value. SpO2 and blood pressure are ALWAYS
    SIMULATED (bounded random walks around 97 % and 128/76 mmHg); pass `simulate_vitals=False` to
    send ECG and heart rate only. Every `async for` starts again from the first sample.
    """

    def __init__(
        self,
        ecg_microvolts: Sequence[int],
        hz: int,
        lead: str = "II",
        *,
        chunk_seconds: float = 0.2,
        vitals_seconds: float = 1.0,
        simulate_vitals: bool = True,
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(ecg_microvolts) == 0 or hz <= 0:
            raise ValueError("ReadingsStream needs ECG samples and a positive sampling rate")
        self.samples = np.asarray(ecg_microvolts, dtype=np.int64)
        self.hz, self.lead = hz, lead
        self.chunk = max(1, round(hz * chunk_seconds))
        self.vitals_seconds = vitals_seconds
        self.simulate_vitals = simulate_vitals
        self._seed, self._clock = seed, clock
        self.peaks = find_r_peaks(self.samples, hz)
        rr = np.diff(self.peaks) / hz
        plausible = (rr > 0.25) & (rr < 2.5)
        self._beat_at = self.peaks[1:][plausible]
        self._beat_bpm = 60.0 / rr[plausible]

    def __aiter__(self) -> AsyncIterator[Reading]:
        return self._run()

    def heart_rate_at(self, position: int) -> int | None:
        """Mean beat-to-beat rate over the 8 s of the excerpt before `position`, None without beats."""
        if self._beat_bpm.size == 0:
            return None
        n, window = len(self.samples), 8 * self.hz
        position %= n
        distance = (position - self._beat_at) % n  # wraps, so the window continues the loop
        recent = self._beat_bpm[distance < window]
        return round(float(np.mean(recent if recent.size else self._beat_bpm)))

    async def _run(self) -> AsyncIterator[Reading]:
        rng = random.Random(self._seed)
        simulated_hr, spo2, systolic, diastolic = 72.0, 97, 128, 76
        started, t0 = time.monotonic(), self._clock()
        n, sent, next_vitals = len(self.samples), 0, self.vitals_seconds
        if self.simulate_vitals:
            logger.info("readings: SpO2 and blood pressure are simulated, not measured")
        while True:
            # A chunk is due when its last sample would have been recorded: real-time pacing.
            due = started + (sent + self.chunk) / self.hz
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            indices = np.arange(sent, sent + self.chunk) % n
            uv = [int(v) for v in self.samples[indices]]
            yield EcgReading(kind="ecg", t=t0 + sent / self.hz, hz=self.hz, lead=self.lead, uv=uv)
            sent += self.chunk
            if sent / self.hz < next_vitals:
                continue
            next_vitals += self.vitals_seconds
            now = self._clock()
            hr = self.heart_rate_at(sent)
            if hr is None:
                simulated_hr = min(90.0, max(60.0, simulated_hr + rng.uniform(-1.0, 1.0)))
                yield HrReading(kind="hr", t=now, value=round(simulated_hr), simulated=True)
            else:
                yield HrReading(kind="hr", t=now, value=hr)
            if not self.simulate_vitals:
                continue
            spo2 = _walk(rng, spo2, 94, 99)
            systolic = _walk(rng, systolic, 118, 138)
            diastolic = _walk(rng, diastolic, 70, 84)
            yield Spo2Reading(kind="spo2", t=now, value=spo2, simulated=True)
            yield BpReading(kind="bp", t=now, systolic=systolic, diastolic=diastolic, simulated=True)


def _walk(rng: random.Random, value: int, low: int, high: int) -> int:
    """One step of a bounded random walk that moves on about one tick in five."""
    step = rng.choices((-1, 0, 1), weights=(1, 8, 1))[0]
    return min(high, max(low, value + step))


class ReadingsChannels:
    """The `readings` data channels of one participant's mesh, by remote participant id: sends
    to every open one and reports what arrives on any of them to `on_reading`."""

    def __init__(self, on_reading: Callable[[str, Reading], None] | None = None) -> None:
        self.on_reading = on_reading
        self._channels: dict[str, list[RTCDataChannel]] = {}

    def add(self, participant_id: str, channel: RTCDataChannel) -> bool:
        """Use this channel if it is a readings channel; returns whether it was."""
        if channel.label != CHANNEL_LABEL:
            return False
        self._channels.setdefault(participant_id, []).append(channel)
        channel.on("message", lambda data: self._received(participant_id, data))
        return True

    def discard(self, participant_id: str) -> None:
        self._channels.pop(participant_id, None)

    def broadcast(self, reading: Reading) -> int:
        """Send one reading to every open channel; returns how many got it."""
        payload, sent = encode_reading(reading), 0
        for channels in list(self._channels.values()):
            for channel in channels:
                # A congested channel skips readings: a late ECG chunk is worth less than a live one.
                if channel.readyState == "open" and channel.bufferedAmount < MAX_BUFFERED_BYTES:
                    channel.send(payload)
                    sent += 1
        return sent

    async def pump(self, stream: AsyncIterable[Reading]) -> None:
        """Broadcast every reading of `stream` until cancelled."""
        async for reading in stream:
            self.broadcast(reading)

    def _received(self, participant_id: str, data: str | bytes) -> None:
        try:
            reading = decode_reading(data)
        except ValueError as exc:
            logger.warning("bad reading from %s: %s", participant_id, exc)
            return
        if self.on_reading is not None:
            self.on_reading(participant_id, reading)
