"""ECG files to FHIR: read WFDB, HL7 aECG, SCP-ECG, DICOM waveform and CSV, build the ECG Observation.

The public API::

    read_ecg(files: Mapping[str, bytes], *, sampling_rate: float | None = None, csv_units: str = "uV")
        -> EcgRecording
        # files by upload name ({"100.hea": ..., "100.dat": ...}); the format is detected from names and
        # magic bytes (detect.py); sampling_rate and csv_units are for CSV only
    display_extract(recording, seconds=10.0) -> EcgRecording
        # the long-recording rule (extract.py): whole up to 60 s, else the first clean 10 s window
    ecg_observation(recording, *, subject_reference, device_reference=None, effective=None,
                    device_timezone=None, source_document_reference=None, extra_components=(),
                    status="final") -> dict
        # FHIR R4 Observation JSON of display_extract(recording), one SampledData component per lead,
        # extra_components (automated measurements) appended after the leads

    EcgRecording(leads, sampling_rate, source_format, start, metadata, offset_s, source_duration_s)
    Lead(name, samples, gain, baseline, adc_range)   # mV = (samples - baseline) / gain
    EcgFormatError(code, reason)                     # every refusal; the caller quarantines the input

``EcgFormatError.code`` is one of: unknown-format, missing-file, size-mismatch, checksum, truncated,
malformed, unsafe-xml, unsupported, no-waveform, no-leads, lead-length, sampling-rate, bad-value,
too-short, too-large.

Accepted sampling rates are 100 Hz to 20 kHz (recording.py says why); a recording has 1 to 256 leads of
equal length and lasts at least one second. Each reader's module docstring lists what it supports and
refuses. This package knows ECG formats and FHIR, nothing of nursing homes; it never imports ``bridge``.
"""

from __future__ import annotations

from fhir_adapter.ecg.detect import detect_format, read_ecg
from fhir_adapter.ecg.extract import display_extract, needs_extract
from fhir_adapter.ecg.observation import ecg_observation
from fhir_adapter.ecg.recording import EcgFormatError, EcgRecording, Lead

__all__ = [
    "EcgFormatError",
    "EcgRecording",
    "Lead",
    "detect_format",
    "display_extract",
    "ecg_observation",
    "needs_extract",
    "read_ecg",
]
