"""What every recording must be, whatever its format; lead names and their codes; format detection."""

from __future__ import annotations

import numpy as np
import pytest
from fhir_adapter.ecg import EcgFormatError, EcgRecording, Lead, detect_format, read_ecg
from fhir_adapter.ecg import detect as detect_module
from fhir_adapter.ecg.lead_codes import lead_by_number, lead_code, lead_concept, normalise_lead_name
from fhir_adapter.ecg.timestamps import parse_compact_datetime

SECOND = np.arange(500, dtype=np.int64) % 40


def lead(name: str = "II", samples: np.ndarray = SECOND, gain: float = 200.0) -> Lead:
    return Lead(name, samples, gain)


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: EcgRecording((), 500, "csv"), "no-leads"),
        (lambda: EcgRecording((lead("I"), lead("II", SECOND[:400])), 500, "csv"), "lead-length"),
        (lambda: EcgRecording((lead("I"), lead("I")), 500, "csv"), "malformed"),
        (lambda: EcgRecording((lead(),), 99.9, "csv"), "sampling-rate"),
        (lambda: EcgRecording((lead(),), 20_001, "csv"), "sampling-rate"),
        (lambda: EcgRecording((lead(),), float("nan"), "csv"), "sampling-rate"),
        (lambda: EcgRecording((lead(),), -500, "csv"), "sampling-rate"),
        (lambda: EcgRecording((lead(),), 1000, "csv"), "too-short"),
        (lambda: EcgRecording(tuple(lead(f"L{i}") for i in range(257)), 500, "csv"), "too-large"),
        (lambda: lead(gain=0), "malformed"),
        (lambda: lead(gain=float("inf")), "malformed"),
        (lambda: lead(" "), "malformed"),
        (lambda: Lead("II", np.zeros((2, 500), dtype=np.int64), 200.0), "malformed"),
        (lambda: Lead("II", np.zeros(500) + 0.5, 200.0), "malformed"),
    ],
)
def test_impossible_recordings_are_refused(make: object, code: str) -> None:
    with pytest.raises(EcgFormatError) as caught:
        make()  # type: ignore[operator]
    assert caught.value.code == code
    assert str(caught.value).startswith(code + ": ")


def test_samples_are_copied_and_read_only() -> None:
    source = SECOND.copy()
    one = lead(samples=source)
    source[0] = 99
    assert one.samples[0] == 0
    with pytest.raises(ValueError, match="read-only"):
        one.samples[0] = 1
    assert one.millivolts()[3] == pytest.approx(3 / 200)


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("MDC_ECG_LEAD_AVF", "aVF"),
        ("avf", "aVF"),
        ("Lead aVF", "aVF"),
        ("i", "I"),
        ("DIII", "III"),
        ("v6", "V6"),
        ("V4R", "V4R"),
        ("MLII", "MLII"),
        (" vx ", "vx"),
    ],
)
def test_lead_names_are_normalised(raw: str, name: str) -> None:
    assert normalise_lead_name(raw) == name


def test_lead_codes_follow_mdc_electric_potential_terms() -> None:
    expected = {"I": 131329, "II": 131330, "III": 131389, "aVR": 131390, "aVL": 131391, "aVF": 131392}
    expected |= {f"V{i}": 131330 + i for i in range(1, 7)}
    for name, mdc in expected.items():
        known = lead_code(name)
        assert known is not None and known.mdc_code == mdc
    assert lead_concept("I")["coding"] == [
        {"system": "urn:iso:std:iso:11073:10101", "code": "131329", "display": "MDC_ECG_ELEC_POTL_I"},
        {"system": "http://loinc.org", "code": "LP7386-8", "display": "Lead I"},
    ]
    assert lead_concept("aVR")["coding"][0]["display"] == "MDC_ECG_ELEC_POTL_AVR"
    assert lead_concept("MLII") == {
        "coding": [{"system": "urn:iso:std:iso:11073:10101", "code": "131328", "display": "MDC_ECG_ELEC_POTL"}],
        "text": "MLII",
    }
    assert (lead_by_number(61), lead_by_number(3), lead_by_number(250)) == ("III", "V1", None)


def test_compact_timestamps() -> None:
    assert parse_compact_datetime("20021122091000").isoformat() == "2002-11-22T09:10:00"  # type: ignore[union-attr]
    aware = parse_compact_datetime("20260301083005.25+0800")
    assert aware is not None and aware.isoformat() == "2026-03-01T08:30:05.250000+08:00"
    assert [parse_compact_datetime(t) for t in ("", None, "20021122", "2002-11-22", "20021399000000")] == [None] * 5


@pytest.mark.parametrize(
    ("files", "kind"),
    [
        ({"100.hea": b"", "100.dat": b""}, "wfdb"),
        ({"x.bin": b"\0" * 128 + b"DICM"}, "dicom"),
        ({"x.dcm": b"anything"}, "dicom"),
        ({"x": b"\0" * 8 + b"\0\0" + b"\0" * 6 + b"SCPECG"}, "scp-ecg"),
        ({"x.SCP": b"anything"}, "scp-ecg"),
        ({"x.txt": b"\xef\xbb\xbf  <?xml version='1.0'?><a/>"}, "hl7-aecg"),
        ({"x.csv": b"I\n1\n"}, "csv"),
    ],
)
def test_formats_are_detected_from_content_and_names(files: dict[str, bytes], kind: str) -> None:
    assert detect_format(files) == kind


@pytest.mark.parametrize(
    ("files", "code"),
    [
        ({}, "unknown-format"),
        ({"a.csv": b"I\n1", "b.csv": b"I\n1"}, "unknown-format"),
        ({"ecg.pdf": b"%PDF-1.7 ..."}, "unknown-format"),
        ({"ecg.csv": b""}, "truncated"),
    ],
)
def test_unknown_or_empty_uploads_are_refused(files: dict[str, bytes], code: str) -> None:
    with pytest.raises(EcgFormatError) as caught:
        read_ecg(files)
    assert caught.value.code == code


def test_upload_names_lose_their_folders() -> None:
    rows = "\n".join(str(i % 30) for i in range(500))
    recording = read_ecg({"C:\\exports\\today\\ecg.csv": f"II\n{rows}".encode()}, sampling_rate=500)
    assert recording.lead_names == ("II",)


def test_uploads_beyond_the_library_ceiling_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(detect_module, "MAX_UPLOAD_BYTES", 100)
    with pytest.raises(EcgFormatError) as caught:
        read_ecg({"ecg.csv": b"I\n" + b"1\n" * 100})
    assert caught.value.code == "too-large"


def test_a_reader_bug_still_surfaces_as_a_format_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(data: bytes, **_: object) -> EcgRecording:
        raise IndexError("a bug")

    monkeypatch.setattr(detect_module, "read_csv", broken)
    with pytest.raises(EcgFormatError) as caught:
        read_ecg({"ecg.csv": b"I\n1\n"}, sampling_rate=500)
    assert (caught.value.code, "IndexError" in caught.value.reason) == ("malformed", True)
