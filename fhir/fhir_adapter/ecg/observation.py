"""The FHIR R4 Observation of an ECG, after the FHIR ECG example (observation-example-sample-data).

- ``code``: LOINC 11524-6 "EKG study"; ``category``: procedure.
- One component per lead, in the recording's order, coded as in ``lead_codes`` (MDC electric potential of
  the lead, plus the LOINC lead Part code for the twelve standard leads), valued by SampledData:
  ``origin`` in microvolts (UCUM ``uV``), ``period`` in ms, ``factor`` = one ADC unit in microvolts,
  ``data`` the source's integer samples minus the (rounded) ADC baseline, so
  ``origin + factor * data`` is the source's value exactly. ``lowerLimit``/``upperLimit`` are the ADC's
  range when the format states it (WFDB, DICOM), else the range the lead's samples span.
- The automated measurements (``extra_components``) follow the leads, unchanged.
- Long recordings follow ``extract.display_extract``: the Observation then carries the window, says so in
  ``note``, and ``derivedFrom`` points at the whole file when the caller gives its DocumentReference.
- ``effectiveDateTime``: the time of the first sample shown. From ``effective`` (aware; the start of the
  whole recording) or the recording's own start; a device clock without a zone gets ``device_timezone``,
  and without one only its date is kept (FHIR requires a zone on any time of day).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any

from fhir_adapter.ecg.extract import display_extract
from fhir_adapter.ecg.lead_codes import LOINC_SYSTEM, lead_concept
from fhir_adapter.ecg.recording import EcgRecording, Lead

logger = logging.getLogger(__name__)

UCUM = "http://unitsofmeasure.org"
ECG_STUDY = {"system": LOINC_SYSTEM, "code": "11524-6", "display": "EKG study"}
PROCEDURE = {
    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
    "code": "procedure",
    "display": "Procedure",
}
_FORMAT_NAMES = {
    "wfdb": "WFDB",
    "hl7-aecg": "HL7 aECG",
    "scp-ecg": "SCP-ECG",
    "dicom": "DICOM waveform",
    "csv": "CSV",
}


def ecg_observation(
    recording: EcgRecording,
    *,
    subject_reference: str,
    device_reference: str | None = None,
    effective: datetime | None = None,
    device_timezone: tzinfo | None = None,
    source_document_reference: str | None = None,
    extra_components: Sequence[Mapping[str, Any]] = (),
    status: str = "final",
) -> dict[str, Any]:
    """The Observation JSON (no id: the store assigns it) of ``display_extract(recording)``."""
    if effective is not None and effective.utcoffset() is None:
        raise ValueError("effective must carry a time zone")
    shown = display_extract(recording)
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "status": status,
        "category": [{"coding": [PROCEDURE]}],
        "code": {"coding": [ECG_STUDY], "text": "ECG"},
        "subject": {"reference": subject_reference},
    }
    when = _effective(shown, effective, device_timezone)
    if when:
        observation["effectiveDateTime"] = when
    device = _device(shown, device_reference)
    if device:
        observation["device"] = device
    if source_document_reference:
        observation["derivedFrom"] = [{"reference": source_document_reference}]
    observation["note"] = [{"text": _note(shown)}]
    observation["component"] = [lead_component(lead, shown.sampling_rate) for lead in shown.leads] + [
        dict(component) for component in extra_components
    ]
    return observation


def lead_component(lead: Lead, sampling_rate: float) -> dict[str, Any]:
    return {"code": lead_concept(lead.name), "valueSampledData": sampled_data(lead, sampling_rate)}


def sampled_data(lead: Lead, sampling_rate: float) -> dict[str, Any]:
    quantum = lead.quantum_uv
    zero = round(lead.baseline)
    low, high = lead.adc_range or (int(lead.samples.min()), int(lead.samples.max()))
    return {
        "origin": {"value": _decimal((zero - lead.baseline) * quantum), "unit": "µV", "system": UCUM, "code": "uV"},
        "period": _decimal(1000.0 / sampling_rate),
        "factor": _decimal(quantum),
        "lowerLimit": _decimal((low - lead.baseline) * quantum),
        "upperLimit": _decimal((high - lead.baseline) * quantum),
        "dimensions": 1,
        "data": " ".join(map(str, (lead.samples - zero).tolist())),
    }


def _decimal(value: float) -> float | int:
    """Twelve significant digits (far below one quantum), integral values as JSON integers."""
    rounded = float(f"{value:.12g}")
    return int(rounded) if rounded.is_integer() and abs(rounded) < 1e15 else rounded


def _effective(shown: EcgRecording, effective: datetime | None, zone: tzinfo | None) -> str | None:
    if effective is not None:
        return (effective + timedelta(seconds=shown.offset_s)).isoformat()
    start = shown.start
    if start is None:
        return None
    if start.utcoffset() is not None:
        return start.isoformat()
    if zone is not None:
        return start.replace(tzinfo=zone).isoformat()
    logger.info("ECG start %s has no time zone and none was given; only its date is kept", start)
    return start.date().isoformat()


def _device(shown: EcgRecording, reference: str | None) -> dict[str, str] | None:
    if reference:
        return {"reference": reference}
    described = " ".join(shown.metadata[key] for key in ("manufacturer", "device_model") if key in shown.metadata)
    return {"display": described} if described else None


def _note(shown: EcgRecording) -> str:
    source = _FORMAT_NAMES.get(shown.source_format, shown.source_format)
    described = f"{len(shown.leads)} leads at {shown.sampling_rate:g} Hz ({source} file)"
    if not shown.is_extract:
        return f"{described}, whole recording ({shown.duration_s:g} s)."
    return (
        f"{described}: a {shown.duration_s:g} s extract starting at {shown.offset_s:g} s of a "
        f"{shown.source_duration_s:g} s recording (the first window without clipping or a flat lead); "
        "the complete recording is kept as the source document."
    )
