"""DICOM waveform objects (12-lead ECG, general ECG): one multiplex group of the Waveform Sequence.

The group read is the one labelled RHYTHM if any, else the one with the most samples (a median-beat
group is short). Raw samples come from pydicom's ``multiplex_array(as_raw=True)``; each channel's
calibration follows PS3.3 C.10.9.1.4: value = raw x Channel Sensitivity x Correction Factor + Channel
Baseline, in the Channel Sensitivity Units (UCUM uV, mV or V). Lead names come from the channel source
code: SCPECG "5.6.3-9-n" or MDC "2:n" lead numbers, else the code meaning ("Lead I").

Before pydicom reshapes anything, the group's declared channels x samples x bytes is checked against the
Waveform Data actually present, so a header claiming millions of samples cannot make it allocate them.
Refused: files that are not DICOM, without a Waveform Sequence, groups with missing elements, sample
interpretations other than signed/unsigned 8/16/32-bit, channels not in voltage units.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from io import BytesIO
from typing import Any

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.waveforms.numpy_handler import multiplex_array

from fhir_adapter.ecg.lead_codes import lead_by_number, normalise_lead_name
from fhir_adapter.ecg.recording import EcgFormatError, EcgRecording, Lead, check_lead_count, check_sampling_rate
from fhir_adapter.ecg.timestamps import parse_compact_datetime

logger = logging.getLogger(__name__)

_MV_PER_UNIT = {"V": 1000.0, "mV": 1.0, "uV": 1e-3, "nV": 1e-6}
# (bits allocated, sample interpretation) pydicom decodes, and whether the samples are signed
_SAMPLE_KINDS = {
    (8, "SB"): True,
    (8, "UB"): False,
    (16, "SS"): True,
    (16, "US"): False,
    (32, "SL"): True,
    (32, "UL"): False,
}
_REQUIRED = (
    "NumberOfWaveformChannels",
    "NumberOfWaveformSamples",
    "SamplingFrequency",
    "WaveformBitsAllocated",
    "WaveformSampleInterpretation",
    "WaveformData",
    "ChannelDefinitionSequence",
)
_SCP_LEAD = re.compile(r"^5\.6\.3-9-(\d+)$")
_MDC_LEAD = re.compile(r"^2:(\d+)$")


def read_dicom(data: bytes) -> EcgRecording:
    try:
        ds = dcmread(BytesIO(data))
    except InvalidDicomError as exc:
        raise EcgFormatError("unknown-format", f"not a DICOM file ({exc})") from None
    except Exception as exc:
        raise EcgFormatError("malformed", f"the DICOM file cannot be parsed ({exc})") from None
    try:
        return _recording(ds)
    except EcgFormatError:
        raise
    except Exception as exc:
        raise EcgFormatError("malformed", f"the DICOM waveform cannot be read ({exc})") from None


def _recording(ds: Dataset) -> EcgRecording:
    groups = list(ds.get("WaveformSequence") or [])
    if not groups:
        raise EcgFormatError("no-waveform", "the DICOM file has no Waveform Sequence (not a waveform object)")
    index = _choose_group(groups)
    group = groups[index]
    missing = [name for name in _REQUIRED if name not in group]
    if missing:
        raise EcgFormatError("malformed", f"the DICOM waveform group lacks {', '.join(missing)}")
    channels, samples = int(group.NumberOfWaveformChannels), int(group.NumberOfWaveformSamples)
    check_lead_count(channels)
    rate = check_sampling_rate(float(group.SamplingFrequency))
    bits, interpretation = int(group.WaveformBitsAllocated), str(group.WaveformSampleInterpretation)
    if (bits, interpretation) not in _SAMPLE_KINDS:
        raise EcgFormatError("unsupported", f"DICOM waveform samples {interpretation}/{bits} bits are not supported")
    needed = channels * samples * bits // 8
    if len(group.WaveformData) < needed:
        raise EcgFormatError(
            "size-mismatch",
            f"the DICOM waveform declares {channels} channels x {samples} samples ({needed} bytes) "
            f"but holds {len(group.WaveformData)} bytes",
        )
    definitions = list(group.ChannelDefinitionSequence)
    if len(definitions) != channels:
        raise EcgFormatError("malformed", f"{channels} channels declared but {len(definitions)} channels defined")
    raw = np.asarray(multiplex_array(ds, index, as_raw=True), dtype=np.int64)
    signed = _SAMPLE_KINDS[(bits, interpretation)]
    leads = tuple(_lead(ch, raw[:, i], i, signed) for i, ch in enumerate(definitions))
    return EcgRecording(leads, rate, "dicom", _start(ds, group), _device(ds))


def _choose_group(groups: list[Dataset]) -> int:
    for index, group in enumerate(groups):
        if "RHYTHM" in str(group.get("MultiplexGroupLabel", "")).upper():
            return index
    return max(range(len(groups)), key=lambda i: int(groups[i].get("NumberOfWaveformSamples", 0) or 0))


def _lead(channel: Dataset, samples: Any, index: int, signed: bool) -> Lead:
    name = _channel_name(channel, index)
    units = channel.get("ChannelSensitivityUnitsSequence") or []
    unit = str(units[0].get("CodeValue", "")) if units else ""
    if unit not in _MV_PER_UNIT:
        raise EcgFormatError("unsupported", f"DICOM channel {name}: sensitivity unit {unit!r} is not a voltage")
    sensitivity = float(channel.get("ChannelSensitivity", 1.0) or 1.0)
    correction = float(channel.get("ChannelSensitivityCorrectionFactor", 1.0) or 1.0)
    quantum_mv = sensitivity * correction * _MV_PER_UNIT[unit]
    if quantum_mv <= 0:
        raise EcgFormatError("malformed", f"DICOM channel {name}: sensitivity must be positive")
    baseline = -float(channel.get("ChannelBaseline", 0.0) or 0.0) / (sensitivity * correction)
    stored = int(channel.get("WaveformBitsStored", 0) or 0)
    adc_range = None
    if stored:
        adc_range = (-(2 ** (stored - 1)), 2 ** (stored - 1) - 1) if signed else (0, 2**stored - 1)
    return Lead(name, samples, 1.0 / quantum_mv, baseline, adc_range)


def _channel_name(channel: Dataset, index: int) -> str:
    sources = channel.get("ChannelSourceSequence") or []
    if not sources:
        return f"channel {index + 1}"
    source = sources[0]
    code = str(source.get("CodeValue", ""))
    match = _SCP_LEAD.match(code) or _MDC_LEAD.match(code)
    if match:
        known = lead_by_number(int(match.group(1)))
        if known:
            return known
    meaning = str(source.get("CodeMeaning", "")).strip()
    return normalise_lead_name(meaning) if meaning else f"channel {index + 1}"


def _start(ds: Dataset, group: Dataset) -> datetime | None:
    start = parse_compact_datetime(str(ds.get("AcquisitionDateTime", "") or ""))
    if start is None:
        date, time = str(ds.get("ContentDate", "") or ""), str(ds.get("ContentTime", "") or "")
        start = parse_compact_datetime(date + time) if date and time else None
    offset_ms = float(group.get("MultiplexGroupTimeOffset", 0.0) or 0.0)
    return start + timedelta(milliseconds=offset_ms) if start and offset_ms else start


def _device(ds: Dataset) -> dict[str, str]:
    found = {"device_model": ds.get("ManufacturerModelName"), "manufacturer": ds.get("Manufacturer")}
    return {key: str(value).strip() for key, value in found.items() if value and str(value).strip()}
