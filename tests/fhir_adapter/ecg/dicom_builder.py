"""A 12-lead DICOM ECG made with pydicom for the tests (shared/data has no DICOM ECG)."""

from __future__ import annotations

from io import BytesIO

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from tests.fhir_adapter.ecg.support import sample_recording

TWELVE_LEAD_ECG = "1.2.840.10008.5.1.4.1.1.9.1.1"
# (name, SCP-ECG lead number) in the order 12-lead devices usually write them
LEADS = (("I", 1), ("II", 2), ("III", 61), ("aVR", 62), ("aVL", 63), ("aVF", 64))
LEADS += tuple((f"V{i}", 2 + i) for i in range(1, 7))


def code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def channel(name: str, number: int, *, sensitivity: str = "2.5", baseline: str = "0", unit: str = "uV") -> Dataset:
    item = Dataset()
    item.ChannelSourceSequence = [code(f"5.6.3-9-{number}", "SCPECG", f"Lead {name}")]
    item.ChannelSensitivity = sensitivity
    item.ChannelSensitivityUnitsSequence = [code(unit, "UCUM", unit)]
    item.ChannelSensitivityCorrectionFactor = "1"
    item.ChannelBaseline = baseline
    item.ChannelSampleSkew = "0"
    item.WaveformBitsStored = 16
    return item


def group(samples: np.ndarray, label: str, channels: list[Dataset], rate: str = "500") -> Dataset:
    item = Dataset()
    item.MultiplexGroupLabel = label
    item.WaveformOriginality = "ORIGINAL" if label == "RHYTHM" else "DERIVED"
    item.NumberOfWaveformChannels = samples.shape[1]
    item.NumberOfWaveformSamples = samples.shape[0]
    item.SamplingFrequency = rate
    item.WaveformBitsAllocated = 16
    item.WaveformSampleInterpretation = "SS"
    item.ChannelDefinitionSequence = channels
    item.WaveformData = samples.astype("<i2").tobytes()  # sample-major: C1S1, C2S1, ..., C1S2, ...
    return item


def rhythm_samples(count: int = 5000) -> np.ndarray:
    # The aECG sample's rhythm (a real ECG), as raw 2.5 uV units, one column per lead.
    aecg = sample_recording("aecg-example")
    return np.stack([aecg.lead(name).samples[:count] for name, _ in LEADS], axis=1)


def build_dicom(*, groups: list[Dataset] | None = None, waveform: bool = True) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = TWELVE_LEAD_ECG
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = TWELVE_LEAD_ECG, meta.MediaStorageSOPInstanceUID
    ds.Modality = "ECG"
    ds.Manufacturer, ds.ManufacturerModelName = "Bridge Test", "DICOM-12"
    ds.AcquisitionDateTime = "20260301083005.250+0800"
    if waveform:
        if groups is None:
            channels = [channel(name, number) for name, number in LEADS]
            channels[1] = channel("II", 2, sensitivity="5", baseline="12.5")  # baseline offset, coarser quantum
            median = rhythm_samples(600)
            groups = [group(rhythm_samples(), "RHYTHM", channels), group(median, "MEDIAN", channels)]
        ds.WaveformSequence = groups
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()
