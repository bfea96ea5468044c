"""SCP-ECG: the real sample decodes to a plausible 12-lead ECG, agrees with an independent naive decoder
and with the aECG it was converted from; synthetic files cover the other encodings and the refusals."""

from __future__ import annotations

import struct
import time

import numpy as np
import pytest
from fhir_adapter.ecg import EcgFormatError, ecg_observation, read_ecg

from tests.fhir_adapter.ecg.scp_builder import (
    build_scp,
    crc,
    decode_default_naively,
    undo_second_differences_naively,
)
from tests.fhir_adapter.ecg.support import assert_within_one_quantum, data_bytes, sample_recording

TWELVE = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6", "III", "aVR", "aVL", "aVF")


def test_example_scp_is_twelve_leads_of_ten_seconds_at_500_hz() -> None:
    recording = sample_recording("scp-example")
    assert recording.lead_names == TWELVE
    assert (recording.sampling_rate, recording.n_samples, recording.source_format) == (500, 5000, "scp-ecg")
    assert recording.leads[0].quantum_uv == 2.5
    assert recording.start is not None and recording.start.isoformat() == "2002-11-22T09:10:00"
    assert recording.metadata["device_model"] == "ELI250"


def test_example_scp_is_a_plausible_ecg() -> None:
    recording = sample_recording("scp-example")
    lead = {name: recording.lead(name).samples for name in recording.lead_names}
    # Einthoven and Goldberger: II = I + III, aVR + aVL + aVF = 0, within rounding of the derived leads.
    assert np.max(np.abs(lead["II"] - lead["I"] - lead["III"])) <= 2
    assert np.max(np.abs(lead["aVR"] + lead["aVL"] + lead["aVF"])) <= 3
    for one in recording.leads:
        span = np.ptp(one.millivolts())
        assert 0.3 < span < 5, f"{one.name} spans {span} mV"


def test_example_scp_matches_a_naive_bit_by_bit_decoding() -> None:
    data = data_bytes("scp/Example.scp")
    # Section 6 starts at byte 3819 (1-based, from section 0); its lead table follows the 6-byte preamble.
    body = data[3818 + 16 :]
    avm, interval, order, bimodal = struct.unpack_from("<HHBB", body, 0)
    assert (avm, interval, order, bimodal) == (2500, 2000, 2, 0)
    lengths = struct.unpack_from("<12H", body, 6)
    offset = 6 + 24
    recording = sample_recording("scp-example")
    expected = {}
    for name, length in zip(TWELVE, lengths, strict=True):
        samples = undo_second_differences_naively(decode_default_naively(body[offset : offset + length], 5000))
        expected[name] = samples * avm / 1000.0  # nV per unit to uV
        offset += length
    assert_within_one_quantum(ecg_observation(recording, subject_reference="Patient/p1"), expected)


def test_example_scp_holds_the_same_samples_as_the_aecg_it_came_from() -> None:
    # Same subject, device and time (Clark, ELI250, 2002-11-22 09:10): the SCP file is a conversion.
    scp, aecg = sample_recording("scp-example"), sample_recording("aecg-example")
    for name in TWELVE:
        assert np.array_equal(scp.lead(name).samples, aecg.lead(name).samples), name


def synthetic(count: int = 1000) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(7)
    base = np.cumsum(rng.integers(-3, 4, count))
    spikes = np.zeros(count, dtype=np.int64)
    spikes[::97] = 300  # second differences beyond 8 bits: the 16-bit escape code
    spikes[::53] = 40  # beyond +/-8: the 8-bit escape code
    return {1: base + spikes, 2: -base, 61: base // 2}


@pytest.mark.parametrize("order", [0, 1, 2])
def test_every_difference_order_round_trips(order: int) -> None:
    leads = synthetic()
    recording = read_ecg({"x.scp": build_scp(leads, order=order)})
    assert recording.lead_names == ("I", "II", "III")
    for (_, samples), lead in zip(leads.items(), recording.leads, strict=True):
        assert np.array_equal(lead.samples, samples)
    assert recording.start is not None and recording.start.isoformat() == "2026-03-01T08:30:05"


def test_a_file_without_section_2_uses_the_default_table() -> None:
    leads = synthetic()
    recording = read_ecg({"x.scp": build_scp(leads, huffman_tables=None)})
    assert np.array_equal(recording.lead("I").samples, leads[1])


def test_unknown_lead_numbers_keep_their_number() -> None:
    recording = read_ecg({"x.scp": build_scp({200: synthetic()[1]})})
    assert recording.lead_names == ("SCP lead 200",)


def test_decoding_60000_samples_is_fast() -> None:
    data = data_bytes("scp/Example.scp")
    started = time.perf_counter()
    read_ecg({"Example.scp": data})
    assert time.perf_counter() - started < 1.0


def refused(data: bytes) -> EcgFormatError:
    with pytest.raises(EcgFormatError) as caught:
        read_ecg({"upload.scp": data})
    return caught.value


def test_a_truncated_file_is_refused() -> None:
    data = data_bytes("scp/Example.scp")
    for cut in (20, 200, 5000, len(data) - 10):
        assert refused(data[:cut]).code == "truncated"


def test_a_changed_byte_fails_the_crc() -> None:
    data = bytearray(data_bytes("scp/Example.scp"))
    data[20_000] ^= 0x01
    assert refused(bytes(data)).code == "checksum"


def _fix_crcs(data: bytes) -> bytes:
    """Every CRC recomputed after a test edited the file (builder files have 12 section pointers)."""
    out = bytearray(data)
    for offset in range(6 + 16, 6 + 136, 10):
        _, length, index = struct.unpack_from("<HII", out, offset)
        if length and index:
            start = index - 1
            struct.pack_into("<H", out, start, crc(bytes(out[start + 2 : start + length])))
    struct.pack_into("<H", out, 0, crc(bytes(out[2:])))
    return bytes(out)


def _section_start(data: bytes, wanted: int) -> int:
    for offset in range(6 + 16, 6 + 136, 10):
        section_id, _, index = struct.unpack_from("<HII", data, offset)
        if section_id == wanted:
            return index - 1
    raise AssertionError(f"no section {wanted}")


def test_lead_data_shorter_than_its_samples_is_refused_even_with_good_crcs() -> None:
    data = bytearray(build_scp({1: np.zeros(100_000, dtype=np.int64)}))  # zeros: one bit per sample
    # Section 6 now says the lead's code takes 6250 bytes: 50,000 bits for 100,000 samples.
    struct.pack_into("<H", data, _section_start(bytes(data), 6) + 16 + 6, 6250)
    assert refused(_fix_crcs(bytes(data))).code == "truncated"


def test_a_claim_of_more_samples_than_bits_is_refused_without_allocating() -> None:
    data = bytearray(build_scp({1: np.zeros(1000, dtype=np.int64)}))
    index = data.index(struct.pack("<IIB", 1, 1000, 1))
    struct.pack_into("<I", data, index + 4, 4_000_000_000)  # section 3: four billion samples
    started = time.perf_counter()
    assert refused(_fix_crcs(bytes(data))).code == "truncated"
    assert time.perf_counter() - started < 1


@pytest.mark.parametrize(
    ("options", "code", "words"),
    [
        ({"flags": 0b1100101}, "unsupported", "reference beat"),
        ({"huffman_tables": 1}, "unsupported", "Huffman"),
        ({"bimodal": 1}, "unsupported", "bimodal"),
        ({"interval_us": 50_000}, "sampling-rate", "20 Hz"),
        ({"avm_nv": 0}, "malformed", "multiplier"),
        ({"order": 3}, "unsupported", "difference"),
    ],
)
def test_what_is_not_supported_is_refused_clearly(options: dict[str, int], code: str, words: str) -> None:
    error = refused(build_scp(synthetic(), **options))
    assert (error.code, words in error.reason) == (code, True), error.reason


def test_leads_over_different_sample_ranges_are_refused() -> None:
    data = bytearray(build_scp(synthetic()))
    index = data.index(struct.pack("<IIB", 1, 1000, 2))
    struct.pack_into("<I", data, index + 4, 900)
    assert refused(_fix_crcs(bytes(data))).code == "lead-length"
