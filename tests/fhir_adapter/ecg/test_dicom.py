"""DICOM 12-lead ECG waveforms, built here with pydicom (shared/data has no DICOM ECG) and read back."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pytest
from fhir_adapter.ecg import EcgFormatError, ecg_observation, read_ecg
from pydicom import dcmread

from tests.fhir_adapter.ecg.dicom_builder import LEADS, build_dicom, channel, code, group, rhythm_samples
from tests.fhir_adapter.ecg.support import assert_within_one_quantum


def test_a_twelve_lead_dicom_round_trips() -> None:
    data = build_dicom()
    recording = read_ecg({"ecg.dcm": data})
    assert recording.lead_names == tuple(name for name, _ in LEADS)
    assert (recording.sampling_rate, recording.n_samples, recording.source_format) == (500, 5000, "dicom")
    assert recording.start is not None and recording.start.isoformat() == "2026-03-01T08:30:05.250000+08:00"
    assert recording.metadata["device_model"] == "DICOM-12"
    assert recording.lead("II").baseline == -2.5 and recording.lead("II").quantum_uv == 5
    assert np.array_equal(recording.lead("V3").samples, rhythm_samples()[:, 8])


def test_dicom_values_match_pydicom_physical_values_within_one_quantum() -> None:
    data = build_dicom()
    physical = dcmread(BytesIO(data)).waveform_array(0)  # pydicom applies sensitivity and baseline (uV)
    observation = ecg_observation(read_ecg({"ecg.dcm": data}), subject_reference="Patient/p1")
    assert observation["effectiveDateTime"] == "2026-03-01T08:30:05.250000+08:00"
    assert_within_one_quantum(observation, {name: physical[:, i] for i, (name, _) in enumerate(LEADS)})


def test_the_rhythm_group_is_chosen_over_the_median_beat_whatever_the_order() -> None:
    channels = [channel(name, number) for name, number in LEADS]
    groups = [group(rhythm_samples(600), "MEDIAN", channels), group(rhythm_samples(), "RHYTHM", channels)]
    assert read_ecg({"ecg.dcm": build_dicom(groups=groups)}).n_samples == 5000


def test_mdc_coded_channels_and_millivolt_units_are_understood() -> None:
    channels = [channel(name, number, sensitivity="0.0025", unit="mV") for name, number in LEADS]
    for item, (name, number) in zip(channels, LEADS, strict=True):
        item.ChannelSourceSequence = [code(f"2:{number}", "MDC", f"Lead {name}")]
    recording = read_ecg({"ecg.dcm": build_dicom(groups=[group(rhythm_samples(), "RHYTHM", channels)])})
    assert recording.lead_names == tuple(name for name, _ in LEADS)
    assert recording.lead("I").quantum_uv == pytest.approx(2.5)


def refused(data: bytes, name: str = "ecg.dcm") -> EcgFormatError:
    with pytest.raises(EcgFormatError) as caught:
        read_ecg({name: data})
    return caught.value


def test_a_dicom_without_a_waveform_sequence_is_refused() -> None:
    error = refused(build_dicom(waveform=False))
    assert error.code == "no-waveform" and "Waveform Sequence" in error.reason


def test_waveform_data_shorter_than_declared_is_refused() -> None:
    channels = [channel(name, number) for name, number in LEADS]
    short = group(rhythm_samples(), "RHYTHM", channels)
    short.NumberOfWaveformSamples = 5_000_000
    assert refused(build_dicom(groups=[short])).code == "size-mismatch"


def test_channel_definitions_must_match_the_channel_count() -> None:
    channels = [channel(name, number) for name, number in LEADS][:11]
    assert refused(build_dicom(groups=[group(rhythm_samples(), "RHYTHM", channels)])).code == "malformed"


def test_non_voltage_channels_and_absurd_rates_are_refused() -> None:
    channels = [channel(name, number, unit="mm[Hg]") for name, number in LEADS]
    assert refused(build_dicom(groups=[group(rhythm_samples(), "RHYTHM", channels)])).code == "unsupported"
    channels = [channel(name, number) for name, number in LEADS]
    slow = group(rhythm_samples(), "RHYTHM", channels, rate="25")
    assert refused(build_dicom(groups=[slow])).code == "sampling-rate"


def test_a_dcm_that_is_not_dicom_is_refused() -> None:
    assert refused(b"\0" * 50 + b"not dicom at all").code == "unknown-format"
    assert refused(build_dicom()[:400]).code in {"malformed", "size-mismatch", "no-waveform"}
