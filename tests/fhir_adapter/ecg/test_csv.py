"""CSV exports: a column per lead in uV or mV, the rate from the caller or a comment, and bad cells."""

from __future__ import annotations

import numpy as np
import pytest
from fhir_adapter.ecg import EcgFormatError, ecg_observation, read_ecg

from tests.fhir_adapter.ecg.support import assert_within_one_quantum, sample_recording

NAMES = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


def twelve_lead_microvolts() -> np.ndarray:
    # A real ECG (the aECG sample, 2.5 uV steps) so the values have the decimals exports have: 12.5, -7.5.
    aecg = sample_recording("aecg-example")
    return np.stack([aecg.lead(name).millivolts() * 1000 for name in NAMES], axis=1)


def csv_text(values: np.ndarray, names: tuple[str, ...] = NAMES, *, header: str = "", delimiter: str = ",") -> bytes:
    rows = [delimiter.join(names)] + [delimiter.join(f"{v:g}" for v in row) for row in values]
    return (header + "\n".join(rows) + "\n").encode()


def test_a_twelve_lead_csv_in_microvolts_is_read_within_one_quantum() -> None:
    values = twelve_lead_microvolts()
    recording = read_ecg({"ecg.csv": csv_text(values)}, sampling_rate=500)
    assert recording.lead_names == NAMES
    assert (recording.sampling_rate, recording.n_samples, recording.source_format) == (500, 5000, "csv")
    assert recording.leads[0].quantum_uv == pytest.approx(0.1)  # the file's finest step: one decimal
    observation = ecg_observation(recording, subject_reference="Patient/p1")
    assert_within_one_quantum(observation, {name: values[:, i] for i, name in enumerate(NAMES)})


def test_millivolts_a_rate_comment_a_time_column_and_semicolons() -> None:
    values = twelve_lead_microvolts()[:, :2] / 1000  # mV, up to four decimals
    seconds = np.arange(len(values)) / 500
    table = np.column_stack([seconds, values])
    header = "# exported by a test\n# sampling_rate=500\n"
    data = csv_text(table, ("Time (s)", "lead I", "Lead II"), header=header, delimiter=";")
    recording = read_ecg({"ecg.csv": data}, csv_units="mV")
    assert recording.lead_names == ("I", "II")
    assert recording.sampling_rate == 500
    assert np.max(np.abs(recording.lead("I").millivolts() - values[:, 0])) <= recording.lead("I").quantum_uv / 1000


def test_values_finer_than_a_nanovolt_are_rounded_to_it() -> None:
    values = np.array([[0.12345678], [1.5], [-2.25]] * 200)
    text = "II\n" + "\n".join(repr(float(v)) for v in values[:, 0])
    recording = read_ecg({"ecg.csv": text.encode()}, sampling_rate=500)
    lead = recording.lead("II")
    assert lead.quantum_uv == pytest.approx(0.001)
    assert np.max(np.abs(lead.millivolts() * 1000 - values[:, 0])) <= 0.0005 + 1e-12


def refused(data: bytes, **options: object) -> EcgFormatError:
    with pytest.raises(EcgFormatError) as caught:
        read_ecg({"ecg.csv": data}, **options)  # type: ignore[arg-type]
    return caught.value


SECOND = "\n".join(f"{i % 50},{-(i % 50)}" for i in range(500))


@pytest.mark.parametrize(
    ("data", "options", "code"),
    [
        (b"I,II\n" + SECOND.encode(), {}, "sampling-rate"),
        (b"# sampling_rate=250\nI,II\n" + SECOND.encode(), {"sampling_rate": 500}, "sampling-rate"),
        (b"I,II\n" + SECOND.encode(), {"sampling_rate": 0}, "sampling-rate"),
        (b"I,II\n" + SECOND.encode(), {"sampling_rate": 30}, "sampling-rate"),
        (b"I,II\n" + SECOND.encode(), {"sampling_rate": 1e6}, "sampling-rate"),
        (b"I,II\n" + SECOND.encode() + b"\n1,nan", {"sampling_rate": 500}, "bad-value"),
        (b"I,II\n" + SECOND.encode() + b"\n1,inf", {"sampling_rate": 500}, "bad-value"),
        (b"I,II\n" + SECOND.encode() + b"\n1,", {"sampling_rate": 500}, "malformed"),
        (b"I,II\n" + SECOND.encode() + b"\n1,abc", {"sampling_rate": 500}, "malformed"),
        (b"I,II\n" + SECOND.encode() + b"\n1", {"sampling_rate": 500}, "malformed"),
        (b"I,II,III\n" + SECOND.encode(), {"sampling_rate": 500}, "lead-length"),
        (b"I,II\n" + SECOND.encode() + b"\n1,2000000", {"sampling_rate": 500}, "bad-value"),
        (b"I,II\n", {"sampling_rate": 500}, "too-short"),
        (b"", {"sampling_rate": 500}, "truncated"),
        (b"# only a comment\n", {"sampling_rate": 500}, "no-leads"),
        (b"time\n" + b"\n".join(b"%d" % i for i in range(500)), {"sampling_rate": 500}, "no-leads"),
        (b"I,\n" + SECOND.encode(), {"sampling_rate": 500}, "malformed"),
        (b"I,I\n" + SECOND.encode(), {"sampling_rate": 500}, "malformed"),
        (b"I,II\n1,2\n3,4\n", {"sampling_rate": 500}, "too-short"),
        (b"\xff\xfeI\x00", {"sampling_rate": 500}, "malformed"),
        (b"I,II\n" + SECOND.encode(), {"sampling_rate": 500, "csv_units": "V"}, "unsupported"),
    ],
    ids=[
        *("no-rate", "rate-conflict", "zero-rate", "30-hz", "1-mhz", "nan", "infinity", "empty-cell", "text"),
        *("short-row", "missing-column", "one-volt", "header-only", "empty-file", "comment-only", "time-only"),
        *("unnamed-column", "duplicate-lead", "too-short", "utf-16", "volts"),
    ],
)
def test_bad_csv_is_refused(data: bytes, options: dict[str, object], code: str) -> None:
    error = refused(data, **options)
    assert error.code == code, error.reason
