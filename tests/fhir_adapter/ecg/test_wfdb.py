"""WFDB records: the two PhysioNet samples against wfdb's own physical values, and damaged uploads."""

from __future__ import annotations

import time

import numpy as np
import pytest
from fhir_adapter.ecg import EcgFormatError, ecg_observation, read_ecg
from fhir_adapter.ecg.wfdb_reader import wfdb  # imported through the reader, which silences its import warning

from tests.fhir_adapter.ecg.support import DATA, assert_within_one_quantum, data_bytes, sample_recording, upload


def physical(record: str) -> tuple[list[str], np.ndarray]:
    data_bytes(f"{record}.hea")
    source = wfdb.rdrecord(str(DATA / record))
    return list(source.sig_name), source.p_signal


def test_mitbih_100_is_two_leads_of_thirty_minutes_at_360_hz() -> None:
    recording = sample_recording("mitbih-100")
    assert recording.lead_names == ("MLII", "V5")
    assert recording.sampling_rate == 360
    assert recording.n_samples == 650_000
    assert recording.source_format == "wfdb"
    lead = recording.lead("MLII")
    assert (lead.gain, lead.baseline, lead.adc_range) == (200.0, 1024.0, (0, 2047))


def test_mitbih_100_matches_wfdb_physical_values_exactly() -> None:
    names, values = physical("100")
    recording = sample_recording("mitbih-100")
    for index, lead in enumerate(recording.leads):
        assert np.max(np.abs(lead.millivolts() - values[:, index])) * lead.gain < 1e-9, names[index]


def test_mitbih_100_observation_carries_ten_seconds_within_one_quantum() -> None:
    _, values = physical("100")
    observation = ecg_observation(sample_recording("mitbih-100"), subject_reference="Patient/p1")
    start, stop = 0, 3600  # the first 10 s window is clean (see test_extract)
    expected = {"MLII": values[start:stop, 0] * 1000, "V5": values[start:stop, 1] * 1000}
    assert_within_one_quantum(observation, expected)


def test_ptb_s0010_has_twelve_leads_and_three_frank_leads_from_two_files() -> None:
    recording = sample_recording("ptb-s0010")
    assert recording.lead_names == (
        *("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"),
        *("vx", "vy", "vz"),
    )
    assert (recording.sampling_rate, recording.n_samples) == (1000, 38_400)
    assert "acute" in recording.metadata["comments"].lower()


def test_ptb_s0010_observation_is_whole_and_within_one_quantum() -> None:
    names, values = physical("s0010_re")
    recording = sample_recording("ptb-s0010")
    observation = ecg_observation(recording, subject_reference="Patient/p1")
    expected = {lead.name: values[:, names.index(raw)] * 1000 for lead, raw in zip(recording.leads, names, strict=True)}
    assert_within_one_quantum(observation, expected)


def hea_100(**replace: str) -> bytes:
    text = data_bytes("100.hea").decode()
    for old, new in replace.items():
        text = text.replace(old.replace("_", " "), new)
    return text.encode()


def refused(files: dict[str, bytes]) -> EcgFormatError:
    with pytest.raises(EcgFormatError) as caught:
        read_ecg(files)
    assert caught.value.reason
    return caught.value


def test_a_signal_file_shorter_than_the_header_says_is_refused() -> None:
    files = upload("100.hea", "100.dat")
    files["100.dat"] = files["100.dat"][:-3000]
    error = refused(files)
    assert error.code == "size-mismatch"
    assert "100.dat" in error.reason and "650000 samples" in error.reason


def test_a_checksum_mismatch_is_refused() -> None:
    files = upload("100.hea", "100.dat")
    damaged = bytearray(files["100.dat"])
    damaged[300_000] ^= 0x0F
    files["100.dat"] = bytes(damaged)
    assert refused(files).code == "checksum"


def test_a_missing_signal_file_is_refused_by_name() -> None:
    error = refused({"100.hea": data_bytes("100.hea")})
    assert error.code == "missing-file" and "100.dat" in error.reason
    error = refused(upload("s0010_re.hea", "s0010_re.dat"))
    assert error.code == "missing-file" and "s0010_re.xyz" in error.reason


def test_a_tiny_file_claiming_billions_of_samples_is_refused_before_reading() -> None:
    files = {"big.hea": b"big 12 500 2000000000\n" + b"big.dat 16 200 16 0 0 0 0 I\n" * 12, "big.dat": b"\0" * 1000}
    started = time.perf_counter()
    assert refused(files).code == "size-mismatch"
    assert time.perf_counter() - started < 1


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (b"x 2 10 1000\nx.dat 16 200 16 0 0 0 0 I\nx.dat 16 200 16 0 0 0 0 II\n", "sampling-rate"),
        (b"x 2 0 1000\nx.dat 16 200 16 0 0 0 0 I\nx.dat 16 200 16 0 0 0 0 II\n", "sampling-rate"),
        (b"x 2 50000 1000\nx.dat 16 200 16 0 0 0 0 I\nx.dat 16 200 16 0 0 0 0 II\n", "sampling-rate"),
        (b"x 0 500 1000\n", "no-leads"),
        (b"x 2 500 1000\nx.dat 16 200 16 0 0 0 0 I\n", "malformed"),
        (b"\x00\xff garbage", "malformed"),
        (b"x 1 500 1000\nx.dat 516 200 16 0 0 0 0 I\n", "unsupported"),
        (b"x/2 2 500 1000\nx_1 500\nx_2 500\n", "unsupported"),
        (b"x 1 500 1000\n../x.dat 16 200 16 0 0 0 0 I\n", "malformed"),
    ],
)
def test_bad_headers_are_refused(header: bytes, code: str) -> None:
    assert refused({"x.hea": header, "x.dat": b"\0" * 4000}).code == code


def test_non_voltage_signals_are_dropped_and_named() -> None:
    header = b"x 2 500 1000\nx.dat 16 200/mV 16 0 0 24500 0 II\nx.dat 16 10/mmHg 16 0 0 0 0 ABP\n"
    samples = np.zeros((1000, 2), dtype="<i2")
    samples[:, 0] = np.arange(1000) % 50
    recording = read_ecg({"x.hea": header, "x.dat": samples.tobytes()})
    assert recording.lead_names == ("II",)
    assert recording.metadata["dropped_signals"] == "ABP (mmHg)"


def test_only_non_voltage_signals_means_no_leads() -> None:
    header = b"x 1 500 1000\nx.dat 16 10/mmHg 16 0 0 0 0 ABP\n"
    assert refused({"x.hea": header, "x.dat": b"\0" * 2000}).code == "no-leads"


def test_a_start_time_in_the_header_is_kept_without_a_zone() -> None:
    header = b"x 1 500 1000 08:30:05 01/03/2026\nx.dat 16 200 16 0 0 0 0 II\n"
    recording = read_ecg({"x.hea": header, "x.dat": b"\0" * 2000})
    assert recording.start is not None and recording.start.isoformat() == "2026-03-01T08:30:05"
