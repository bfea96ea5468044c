"""Readings on the data channel: the wire format, its validation, and the real-time stream."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

from rtc.readings import ReadingsStream, decode_reading, encode_reading, find_r_peaks
from tests.rtc.fake_relay import run

BEAT_SYMBOLS = set("NLRBAaJSVrFejnE/fQ?")  # PhysioNet's beat annotation codes
MIT_BIH_100 = Path(__file__).resolve().parents[3] / "shared" / "data" / "ecg" / "100"


def mit_bih_excerpt(seconds: int = 10) -> tuple[list[int], int]:
    """Lead MLII of MIT-BIH record 100 in microvolts."""
    with warnings.catch_warnings():
        # wfdb calls a pandas API that pandas has deprecated; nothing this test can act on.
        warnings.simplefilter("ignore")
        import wfdb

        record = wfdb.rdrecord(str(MIT_BIH_100), sampto=360 * seconds, channels=[0])
    return [round(v * 1000) for v in record.p_signal[:, 0]], int(record.fs)


def mit_bih_beats(seconds: int = 10) -> list[int]:
    """Where the record's reference annotations put its beats (not its rhythm or noise labels)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import wfdb

        beats = wfdb.rdann(str(MIT_BIH_100), "atr", sampto=360 * seconds)
    return [int(s) for s, symbol in zip(beats.sample, beats.symbol, strict=True) if symbol in BEAT_SYMBOLS]


GOOD: list[dict[str, Any]] = [
    {"kind": "ecg", "t": 1_700_000_000.25, "hz": 250, "lead": "II", "uv": [12, -40, 1200]},
    {"kind": "spo2", "t": 1_700_000_001.0, "value": 97},
    {"kind": "hr", "t": 1_700_000_001.0, "value": 72},
    {"kind": "bp", "t": 1_700_000_001.0, "systolic": 128, "diastolic": 76},
]


@pytest.mark.parametrize("reading", GOOD, ids=lambda r: r["kind"])
def test_round_trip(reading: dict[str, Any]) -> None:
    text = encode_reading(reading)
    assert json.loads(text) == reading
    assert decode_reading(text) == reading
    assert decode_reading(text.encode()) == reading


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"kind": "temp", "t": 1, "value": 37}', "unknown reading kind"),
        ('{"kind": "hr", "t": 1700000000, "value": 72, "unit": "bpm"}', "needs fields"),
        ('{"kind": "hr", "t": 1700000000}', "needs fields"),
        ('{"kind": "hr", "t": "now", "value": 72}', "unix seconds"),
        ('{"kind": "hr", "t": 1700000000, "value": 72.5}', "integer"),
        ('{"kind": "hr", "t": 1700000000, "value": true}', "integer"),
        ('{"kind": "spo2", "t": 1700000000, "value": 101}', "0-100"),
        ('{"kind": "bp", "t": 1700000000, "systolic": 70, "diastolic": 120}', "diastolic <= systolic"),
        ('{"kind": "ecg", "t": 1700000000, "hz": 0, "lead": "II", "uv": [1]}', "hz"),
        ('{"kind": "ecg", "t": 1700000000, "hz": 250, "lead": "", "uv": [1]}', "lead"),
        ('{"kind": "ecg", "t": 1700000000, "hz": 250, "lead": "II", "uv": []}', "uv"),
        ('{"kind": "ecg", "t": 1700000000, "hz": 250, "lead": "II", "uv": [1, "2"]}', "integers"),
        ('{"kind": "ecg", "t": 1700000000, "hz": 250, "lead": "II", "uv": [999999]}', "integers"),
    ],
)
def test_bad_input_is_refused(data: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        decode_reading(data)


@pytest.mark.parametrize(
    "data",
    [
        '{"kind": "spo2", "t": 1.0, "value": 97, "simulated": false}',
        '{"kind": "ecg", "t": 1.0, "hz": 250, "lead": "II", "uv": [1], "simulated": true}',
    ],
)
def test_simulated_is_only_a_true_flag_on_vital_signs(data: str) -> None:
    with pytest.raises(ValueError):
        decode_reading(data)
    assert decode_reading('{"kind": "bp", "t": 1.0, "systolic": 120, "diastolic": 80, "simulated": true}')["simulated"]


def test_encode_refuses_what_decode_would() -> None:
    with pytest.raises(ValueError):
        encode_reading({"kind": "hr", "t": 1_700_000_000, "value": -1})


def test_r_peaks_of_mit_bih_100_match_its_reference_annotations() -> None:
    samples, hz = mit_bih_excerpt(10)
    peaks = find_r_peaks(samples, hz)
    reference = mit_bih_beats(10)  # includes one atrial premature beat
    assert len(peaks) == len(reference)
    assert all(abs(int(p) - int(r)) <= hz * 0.05 for p, r in zip(peaks, reference, strict=True))
    stream = ReadingsStream(samples, hz)
    assert 70 <= (stream.heart_rate_at(hz * 9) or 0) <= 80  # record 100 runs at about 75/min


def test_stream_paces_ecg_chunks_and_sends_vitals_once_a_second() -> None:
    samples, hz = mit_bih_excerpt(3)

    async def body() -> None:
        stream = ReadingsStream(samples, hz, lead="MLII", seed=7)
        started = time.monotonic()
        got: list[dict[str, Any]] = []
        async for reading in stream:
            got.append(dict(reading))
            if sum(r["kind"] == "ecg" for r in got) == 6:
                break
        elapsed = time.monotonic() - started
        assert 1.1 <= elapsed <= 1.6  # six 200 ms chunks, in real time
        ecg = [r for r in got if r["kind"] == "ecg"]
        assert all(len(r["uv"]) == 72 and r["hz"] == 360 and r["lead"] == "MLII" for r in ecg)
        assert [r["uv"] for r in ecg] == [samples[i * 72 : (i + 1) * 72] for i in range(6)]
        assert abs((ecg[1]["t"] - ecg[0]["t"]) - 0.2) < 1e-6
        kinds = [r["kind"] for r in got]
        assert kinds.count("hr") == kinds.count("spo2") == kinds.count("bp") == 1
        for reading in got:
            decode_reading(encode_reading(reading))  # everything it yields is valid on the wire
        vitals = {r["kind"]: r for r in got if r["kind"] != "ecg"}
        assert 94 <= vitals["spo2"]["value"] <= 99
        assert 118 <= vitals["bp"]["systolic"] <= 138 and 70 <= vitals["bp"]["diastolic"] <= 84
        # SpO2 and blood pressure are made up, and say so; the heart rate is measured, and says nothing.
        assert vitals["spo2"]["simulated"] is True and vitals["bp"]["simulated"] is True
        assert "simulated" not in vitals["hr"]

    run(body)


def test_stream_loops_over_a_short_excerpt_and_simulates_hr_without_beats() -> None:
    async def body() -> None:
        flat = [0] * 100  # 0.4 s at 250 Hz: no beats at all
        stream = ReadingsStream(flat, 250, chunk_seconds=0.1, vitals_seconds=0.2, simulate_vitals=False, seed=1)
        got = []
        async for reading in stream:
            got.append(reading)
            if len(got) == 7:
                break
        assert [r["kind"] for r in got] == ["ecg", "ecg", "hr", "ecg", "ecg", "hr", "ecg"]
        hr = [r for r in got if r["kind"] == "hr"]
        assert all(60 <= r["value"] <= 90 and r.get("simulated") is True for r in hr)

    run(body)
