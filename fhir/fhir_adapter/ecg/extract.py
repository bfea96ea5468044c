"""The long-recording rule: what part of an ECG its Observation carries.

- A recording of at most ``WHOLE_LIMIT_S`` (60 s) and at most ``MAX_SAMPLES_PER_LEAD`` (100,000) samples
  per lead is carried whole: every resting 12-lead ECG (10 s) and PTB's 38.4 s records.
- A longer one (Holter or monitor strips such as MIT-BIH record 100, 30 min) is carried as one window of
  ``seconds`` (10 s by default; shortened to 100,000 samples at very high rates, because a FHIR string
  stops at 1 MB). The window is the **first clean** one among those starting at 0, ``seconds``,
  2 x ``seconds``, ...: clean means no lead touches its ADC limits (clipping, lead-off rails) and no lead
  is flat in any 2 s of the window (peak-to-peak under 0.05 mV: a disconnected electrode; 2 s hold a beat
  down to 30/min). If no window is clean, the first.

The caller keeps the original file whole (a DocumentReference the Observation's ``derivedFrom`` points
to); the extract says where it came from in ``offset_s`` and ``source_duration_s``.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

import numpy as np

from fhir_adapter.ecg.recording import MIN_DURATION_S, EcgRecording, Lead

logger = logging.getLogger(__name__)

WHOLE_LIMIT_S = 60.0
MAX_SAMPLES_PER_LEAD = 100_000
FLAT_PEAK_TO_PEAK_MV = 0.05
FLAT_CHECK_S = 2.0


def needs_extract(recording: EcgRecording) -> bool:
    return recording.duration_s > WHOLE_LIMIT_S or recording.n_samples > MAX_SAMPLES_PER_LEAD


def display_extract(recording: EcgRecording, seconds: float = 10.0) -> EcgRecording:
    """The recording itself when the rule keeps it whole, else its first clean window of ``seconds``."""
    if not needs_extract(recording):
        return recording
    if seconds < MIN_DURATION_S:
        raise ValueError(f"an extract must last at least {MIN_DURATION_S:g} s")
    length = min(round(seconds * recording.sampling_rate), MAX_SAMPLES_PER_LEAD, recording.n_samples)
    parts = max(1, int(length / recording.sampling_rate // FLAT_CHECK_S))
    start = _first_clean_window(recording.leads, length, parts) * length
    return _window(recording, start, start + length)


def _first_clean_window(leads: tuple[Lead, ...], length: int, parts: int) -> int:
    """Index of the first clean window of ``length`` samples, each checked for flatness in ``parts`` parts."""
    windows = leads[0].samples.size // length
    part = length // parts
    clean = np.ones(windows, dtype=bool)
    for lead in leads:
        blocks = lead.samples[: windows * length].reshape(windows, length)
        pieces = blocks[:, : parts * part].reshape(windows, parts, part)
        spans = pieces.max(axis=2) - pieces.min(axis=2)
        clean &= (spans / lead.gain >= FLAT_PEAK_TO_PEAK_MV).all(axis=1)
        if lead.adc_range is not None:
            clean &= (blocks.min(axis=1) > lead.adc_range[0]) & (blocks.max(axis=1) < lead.adc_range[1])
    if not clean.any():
        logger.info("no clean %d-sample window in the recording; the first is shown", length)
        return 0
    return int(np.argmax(clean))


def _window(recording: EcgRecording, start: int, stop: int) -> EcgRecording:
    offset_s = recording.offset_s + start / recording.sampling_rate
    return replace(
        recording,
        leads=tuple(lead.window(start, stop) for lead in recording.leads),
        start=recording.start + timedelta(seconds=start / recording.sampling_rate) if recording.start else None,
        offset_s=offset_s,
        source_duration_s=recording.source_duration_s or recording.duration_s,
    )
