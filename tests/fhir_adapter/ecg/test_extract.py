"""The long-recording rule (extract.py): whole up to 60 s, else the first clean 10 s window."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
from fhir_adapter.ecg import EcgRecording, Lead, display_extract, needs_extract
from fhir_adapter.ecg.extract import MAX_SAMPLES_PER_LEAD

from tests.fhir_adapter.ecg.support import sample_recording


def synthetic(seconds: float, rate: float = 500.0, *, flat: tuple[float, float] | None = None) -> EcgRecording:
    """A 1 Hz, 1 mV square-ish wave on two leads, optionally flat (lead off) over ``flat`` seconds of lead II."""
    n = round(seconds * rate)
    wave = np.where((np.arange(n) / rate) % 1.0 < 0.1, 1000, 0).astype(np.int64)  # 1 uV units
    lead_ii = wave.copy()
    if flat:
        lead_ii[round(flat[0] * rate) : round(flat[1] * rate)] = 0
    leads = (Lead("I", wave, 1000.0, 0, (-32768, 32767)), Lead("II", lead_ii, 1000.0, 0, (-32768, 32767)))
    return EcgRecording(leads, rate, "csv", datetime(2026, 3, 1, 8, 0, 0))


def test_recordings_up_to_sixty_seconds_are_kept_whole() -> None:
    for recording in (sample_recording("ptb-s0010"), sample_recording("scp-example"), synthetic(60)):
        assert not needs_extract(recording)
        assert display_extract(recording) is recording


def test_mitbih_100_is_shown_as_its_first_ten_seconds() -> None:
    recording = sample_recording("mitbih-100")
    assert needs_extract(recording)
    shown = display_extract(recording)
    assert (shown.n_samples, shown.offset_s, shown.source_duration_s) == (3600, 0.0, recording.duration_s)
    assert shown.lead_names == recording.lead_names
    assert np.array_equal(shown.lead("MLII").samples, recording.lead("MLII").samples[:3600])
    assert display_extract(shown) is shown  # an extract is short: the rule leaves it alone


def test_a_flat_lead_moves_the_window_to_the_next_clean_one() -> None:
    recording = synthetic(120, flat=(0, 25))
    shown = display_extract(recording)
    assert shown.offset_s == 30.0
    assert shown.start == datetime(2026, 3, 1, 8, 0, 30)
    assert shown.source_duration_s == 120


def test_clipping_at_the_adc_limits_moves_the_window() -> None:
    recording = synthetic(90)
    clipped = recording.lead("I").samples.copy()
    clipped[100] = 32767
    leads = (Lead("I", clipped, 1000.0, 0, (-32768, 32767)), recording.lead("II"))
    assert display_extract(EcgRecording(leads, 500, "csv")).offset_s == 10.0


def test_with_no_clean_window_the_first_is_shown() -> None:
    assert display_extract(synthetic(120, flat=(0, 120))).offset_s == 0.0


def test_other_window_lengths_and_very_high_rates() -> None:
    assert display_extract(synthetic(120), seconds=5).n_samples == 2500
    fast = synthetic(70, rate=10_000)
    assert display_extract(fast).n_samples == MAX_SAMPLES_PER_LEAD  # 10 s would be 100,000: just fits
    faster = synthetic(12, rate=20_000)  # 240,000 samples in 12 s: too many for one FHIR string
    assert needs_extract(faster)
    assert display_extract(faster).n_samples == MAX_SAMPLES_PER_LEAD
    with pytest.raises(ValueError, match="at least"):
        display_extract(synthetic(120), seconds=0.5)
