"""Automated ECG measurements against signals whose true values are known: the reference beat annotations
of MIT-BIH record 100, neurokit2's ecgsyn at set heart rates, and beat trains built here with chosen PR,
QRS and QT intervals, RR sequences with and without P waves, and signals that are not ECGs at all."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from fhir_adapter.ecg.measurements import EcgFlag, EcgMeasurements, measure_ecg, qtc_bazett, qtc_fridericia
from fhir_adapter.ecg.measurements_rules import flags_for, long_qtc_threshold_ms

REPO = Path(__file__).resolve().parents[3]
RECORD_100 = REPO.parent / "shared" / "data" / "ecg" / "100"
# MIT-BIH beat annotation symbols (normal and abnormal beats); the rest ("+" rhythm change, "~" noise,
# "|" artefact, ...) mark no beat and are left out of the reference.
BEAT_SYMBOLS = frozenset("NLRBAaJSVrFejnE/fQ?")
WINDOW_S = 10.0
WINDOWS = 30
HEART_RATE_TOLERANCE_BPM = 2.0
# PR gets 5 ms more: at slow rates neurokit2's dwt works at a coarser scale and puts the QRS onset about
# 10 ms early while the P onset of a rounded P wave comes about 7 ms late (40 /min: PR 20 ms short).
INTERVAL_TOLERANCE_MS = {"PR": 25.0, "QRS": 20.0, "QT": 20.0}


# --- signals with known values -----------------------------------------------------------------------


def _bump(t: np.ndarray, start: float, rise: float, fall: float, amplitude: float) -> np.ndarray:
    """A raised-cosine wave: zero before `start` and after `start + rise + fall`, so it has exact bounds."""
    up = (t >= start) & (t < start + rise)
    down = (t >= start + rise) & (t <= start + rise + fall)
    wave = np.zeros_like(t)
    wave[up] = amplitude * 0.5 * (1 - np.cos(np.pi * (t[up] - start) / rise))
    wave[down] = amplitude * 0.5 * (1 + np.cos(np.pi * (t[down] - start - rise) / fall))
    return wave


def beat_train(
    rate: float,
    rr_s: float | np.ndarray,
    *,
    pr: float = 0.16,
    qrs: float = 0.09,
    qt: float = 0.40,
    p_waves: bool = True,
    t_mv: float = 0.35,
    seconds: float = 10.0,
    noise_mv: float = 0.02,
    seed: int = 0,
) -> np.ndarray:
    """Beats with exact intervals (seconds): P wave 100 ms starting PR before the QRS onset; a Q-R-S of
    width `qrs`; a T wave (slow rise, faster fall, as real T waves) ending QT after the QRS onset."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    x = np.zeros_like(t)
    rrs = np.broadcast_to(np.asarray(rr_s, dtype=float), (1000,)) if np.ndim(rr_s) == 0 else np.asarray(rr_s)
    onset, index = 0.4, 0
    while onset + 0.7 < seconds:
        if p_waves:
            x += _bump(t, onset - pr, 0.05, 0.05, 0.15)
        corners = onset + np.array([0.0, 0.15, 0.5, 0.78, 1.0]) * qrs
        inside = (t >= corners[0]) & (t <= corners[-1])
        x[inside] += np.interp(t[inside], corners, [0.0, -0.1, 1.2, -0.25, 0.0])
        width = 0.18 * qt / 0.4
        x += _bump(t, onset + qt - width, width * 2 / 3, width / 3, t_mv)
        onset += float(rrs[index])
        index += 1
    return x + rng.normal(0.0, noise_mv, t.size)


def fibrillatory_waves(rate: float, seconds: float, seed: int, amplitude: float = 0.06) -> np.ndarray:
    """Atrial fibrillation's f waves: 4-8 Hz, amplitude-modulated, with no timing tied to the QRS."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    waves = np.zeros_like(t)
    for frequency in rng.uniform(4.0, 8.0, 3):
        phase = rng.uniform(0, 2 * np.pi)
        waves += amplitude / 3 * np.sin(2 * np.pi * frequency * t + phase) * (1 + 0.3 * np.sin(2 * np.pi * 0.3 * t))
    return waves


def ecgsyn(heart_rate: int, seed: int) -> np.ndarray:
    import neurokit2 as nk  # type: ignore[import-untyped]

    with warnings.catch_warnings(action="ignore"):  # neurokit2's own deprecation noise
        signal = nk.ecg_simulate(
            duration=10, sampling_rate=500, heart_rate=heart_rate, heart_rate_std=1, method="ecgsyn", random_state=seed
        )
    return np.asarray(signal, dtype=float)


# --- MIT-BIH record 100 ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def record_100() -> tuple[np.ndarray, float, np.ndarray]:
    wfdb = pytest.importorskip("wfdb")
    if not RECORD_100.with_suffix(".dat").is_file():
        pytest.skip(f"{RECORD_100} is missing")
    with warnings.catch_warnings(action="ignore"):  # wfdb's use of a deprecated pandas keyword
        record = wfdb.rdrecord(str(RECORD_100))
        annotation = wfdb.rdann(str(RECORD_100), "atr")
    beats = np.array(
        [s for s, symbol in zip(annotation.sample, annotation.symbol, strict=True) if symbol in BEAT_SYMBOLS]
    )
    mlii = record.p_signal[:, record.sig_name.index("MLII")]
    return mlii, float(record.fs), beats


def reference_heart_rate(beats: np.ndarray, start: int, stop: int, rate: float) -> float:
    """60 / mean RR of the annotated beats in [start, stop): (beats - 1) intervals over their span."""
    inside = beats[(beats >= start) & (beats < stop)]
    return 60.0 * (inside.size - 1) * rate / float(inside[-1] - inside[0])


def test_heart_rate_matches_the_annotations_of_mit_bih_record_100(
    record_100: tuple[np.ndarray, float, np.ndarray],
) -> None:
    signal, rate, beats = record_100
    width = int(WINDOW_S * rate)
    errors: list[float] = []
    for start in np.linspace(0, signal.size - width, WINDOWS).astype(int):
        measured = measure_ecg({"MLII": signal[start : start + width]}, rate)
        assert measured.heart_rate_bpm is not None, (start, measured.reason)
        errors.append(measured.heart_rate_bpm - reference_heart_rate(beats, start, start + width, rate))
        # sinus rhythm with some atrial premature beats: P waves throughout, never "suggests AF"
        assert measured.p_waves_present is True, start
        assert EcgFlag.IRREGULAR_RHYTHM not in measured.flags, start
    worst = max(abs(e) for e in errors)
    print(f"\nMIT-BIH 100, {WINDOWS} windows of {WINDOW_S:g} s: max heart-rate error {worst:.2f} /min")
    assert worst <= HEART_RATE_TOLERANCE_BPM, [round(e, 2) for e in errors]


# --- heart rate and its flags --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heart_rate", "expected"),
    [
        (40, {EcgFlag.BRADYCARDIA}),
        (60, set()),
        (75, set()),
        (120, {EcgFlag.TACHYCARDIA}),
        (160, {EcgFlag.TACHYCARDIA}),
    ],
)
def test_simulated_heart_rates(heart_rate: int, expected: set[EcgFlag]) -> None:
    measured = measure_ecg({"II": ecgsyn(heart_rate, seed=heart_rate)}, 500)
    assert measured.heart_rate_bpm is not None, measured.reason
    assert abs(measured.heart_rate_bpm - heart_rate) <= HEART_RATE_TOLERANCE_BPM
    assert measured.flags & {EcgFlag.BRADYCARDIA, EcgFlag.TACHYCARDIA} == expected
    assert measured.rr_ms == pytest.approx(60000.0 / measured.heart_rate_bpm)


def test_rate_flags_at_their_thresholds() -> None:
    def rate_flags(heart_rate: float) -> frozenset[EcgFlag]:
        return flags_for(
            heart_rate_bpm=heart_rate,
            qtc_bazett_ms=None,
            rr_intervals=10,
            rr_irregularity=0.0,
            p_waves_present=True,
            sex=None,
        )

    assert rate_flags(49.9) == {EcgFlag.BRADYCARDIA}
    assert rate_flags(50.0) == set()
    assert rate_flags(100.0) == set()
    assert rate_flags(100.1) == {EcgFlag.TACHYCARDIA}


# --- intervals ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rr", "pr", "qrs", "qt"),
    [
        (0.80, 0.16, 0.09, 0.40),
        (1.00, 0.20, 0.12, 0.44),
        (0.60, 0.14, 0.08, 0.34),
        (1.20, 0.24, 0.10, 0.52),
        (0.50, 0.14, 0.08, 0.30),
        (1.50, 0.20, 0.10, 0.48),
    ],
)
def test_intervals_of_beats_with_known_intervals(rr: float, pr: float, qrs: float, qt: float) -> None:
    measured = measure_ecg({"II": beat_train(500, rr, pr=pr, qrs=qrs, qt=qt)}, 500)
    assert measured.reason is None
    assert measured.pr_ms is not None and measured.qrs_ms is not None and measured.qt_ms is not None
    errors = {"PR": measured.pr_ms - pr * 1000, "QRS": measured.qrs_ms - qrs * 1000, "QT": measured.qt_ms - qt * 1000}
    print(f"\nRR {rr * 1000:.0f} ms: errors " + ", ".join(f"{k} {v:+.0f} ms" for k, v in errors.items()))
    assert all(abs(error) <= INTERVAL_TOLERANCE_MS[name] for name, error in errors.items()), errors
    assert measured.heart_rate_bpm == pytest.approx(60 / rr, abs=0.5)
    assert measured.rr_ms is not None
    assert measured.qtc_bazett_ms == pytest.approx(qtc_bazett(measured.qt_ms, measured.rr_ms))
    assert measured.qtc_fridericia_ms == pytest.approx(qtc_fridericia(measured.qt_ms, measured.rr_ms))


def test_qtc_formulas() -> None:
    assert qtc_bazett(400.0, 640.0) == pytest.approx(500.0)  # 400 / sqrt(0.64)
    assert qtc_fridericia(400.0, 512.0) == pytest.approx(500.0)  # 400 / cbrt(0.512)
    assert qtc_bazett(380.0, 1000.0) == qtc_fridericia(380.0, 1000.0) == pytest.approx(380.0)
    assert qtc_bazett(360.0, 1440.0) == pytest.approx(300.0)
    assert qtc_fridericia(270.0, 729.0) == pytest.approx(300.0)


def test_long_qt_is_flagged() -> None:
    long_qt = measure_ecg({"II": beat_train(500, 0.8, qt=0.52)}, 500)
    assert long_qt.qt_ms == pytest.approx(520, abs=INTERVAL_TOLERANCE_MS["QT"])
    assert long_qt.qtc_bazett_ms is not None and long_qt.qtc_bazett_ms > 550
    assert EcgFlag.LONG_QTC in long_qt.flags
    normal = measure_ecg({"II": beat_train(500, 0.8, qt=0.36)}, 500)
    assert normal.qtc_bazett_ms is not None and normal.qtc_bazett_ms < 430
    assert EcgFlag.LONG_QTC not in normal.flags


def test_long_qtc_threshold_depends_on_sex() -> None:
    assert long_qtc_threshold_ms("male") == 450.0
    assert long_qtc_threshold_ms("female") == 470.0
    assert long_qtc_threshold_ms(None) == long_qtc_threshold_ms("unknown") == 470.0

    def qtc_flags(qtc: float, sex: str | None) -> frozenset[EcgFlag]:
        return flags_for(
            heart_rate_bpm=70.0, qtc_bazett_ms=qtc, rr_intervals=10, rr_irregularity=0.0, p_waves_present=True, sex=sex
        )

    assert qtc_flags(460.0, "male") == {EcgFlag.LONG_QTC}
    assert qtc_flags(460.0, "female") == set()
    assert qtc_flags(460.0, None) == set()
    assert qtc_flags(471.0, "female") == {EcgFlag.LONG_QTC}


# --- rhythm -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_irregular_rr_without_p_waves_suggests_atrial_fibrillation(seed: int) -> None:
    rr = np.random.default_rng(seed).uniform(0.4, 1.1, 40)
    signal = beat_train(500, rr, p_waves=False, noise_mv=0.01, seed=seed) + fibrillatory_waves(500, 10.0, seed)
    measured = measure_ecg({"II": signal}, 500)
    assert measured.p_waves_present is False
    assert measured.rr_irregularity is not None and measured.rr_irregularity > 0.1
    assert EcgFlag.IRREGULAR_RHYTHM in measured.flags
    assert measured.pr_ms is None  # no P wave, no PR interval


def test_regular_rhythm_is_not_flagged_with_or_without_p_waves() -> None:
    sinus = measure_ecg({"II": beat_train(500, 0.8)}, 500)
    junctional = measure_ecg({"II": beat_train(500, 0.9, p_waves=False) + fibrillatory_waves(500, 10.0, 1, 0.02)}, 500)
    for measured in (sinus, junctional):
        assert measured.rr_irregularity is not None and measured.rr_irregularity < 0.02
        assert EcgFlag.IRREGULAR_RHYTHM not in measured.flags
    assert sinus.p_waves_present is True


def test_sinus_arrhythmia_keeps_its_p_waves_and_is_not_flagged() -> None:
    rr = 0.85 + 0.12 * np.sin(np.arange(40) * 2 * np.pi / 4.5)
    measured = measure_ecg({"II": beat_train(500, rr, noise_mv=0.03)}, 500)
    assert measured.rr_irregularity is not None and measured.rr_irregularity > 0.1  # irregular RR alone
    assert measured.p_waves_present is True
    assert EcgFlag.IRREGULAR_RHYTHM not in measured.flags


# --- what is not an ECG -------------------------------------------------------------------------------


def _assert_unmeasured(measured: EcgMeasurements) -> None:
    assert measured.heart_rate_bpm is None and measured.rr_ms is None
    assert measured.pr_ms is None and measured.qrs_ms is None and measured.qt_ms is None
    assert measured.qtc_bazett_ms is None and measured.qtc_fridericia_ms is None
    assert measured.flags == frozenset()
    assert measured.reason
    assert "neurokit2" in measured.method


RNG = np.random.default_rng(7)
NOT_ECGS = {
    "flat line": np.zeros(5000),
    "flat line off zero": np.full(5000, 1.7),
    "white noise": RNG.normal(0.0, 0.5, 5000),
    "faint white noise": RNG.normal(0.0, 0.05, 5000),
    "random walk": np.cumsum(RNG.normal(0.0, 0.05, 5000)),
    "smoothed noise": np.convolve(RNG.normal(0.0, 1.0, 5000), np.ones(25) / 25, mode="same"),
    "mains hum": 0.3 * np.sin(2 * np.pi * 50 * np.arange(5000) / 500),
    "one second": beat_train(500, 0.8, seconds=1.0),
    "all missing": np.full(5000, np.nan),
    "no samples": np.zeros(0),
}


@pytest.mark.parametrize("name", NOT_ECGS)
def test_signals_that_are_not_ecgs_give_no_values_and_a_reason(name: str) -> None:
    _assert_unmeasured(measure_ecg({"II": NOT_ECGS[name]}, 500))


def test_unusable_input_gives_a_reason() -> None:
    _assert_unmeasured(measure_ecg({}, 500))
    _assert_unmeasured(measure_ecg({"II": beat_train(500, 0.8)}, 50))
    _assert_unmeasured(measure_ecg({"II": beat_train(500, 0.8)}, float("nan")))
    _assert_unmeasured(measure_ecg({"II": np.array(["a", "b"])}, 500))


def test_a_few_missing_samples_are_bridged() -> None:
    signal = beat_train(500, 0.8)
    signal[1000:1020] = np.nan
    assert measure_ecg({"II": signal}, 500).heart_rate_bpm == pytest.approx(75.0, abs=0.5)


def test_lead_ii_is_preferred_and_a_flat_lead_ii_is_passed_over() -> None:
    fast, slow = beat_train(500, 0.5), beat_train(500, 1.0)
    assert measure_ecg({"V1": fast, "II": slow}, 500).lead == "II"
    assert measure_ecg({"V1": fast, "MLII": slow}, 500).lead == "MLII"
    assert measure_ecg({"V1": fast, "V2": slow}, 500).lead == "V1"
    fallback = measure_ecg({"II": np.zeros(5000), "V1": fast}, 500)
    assert fallback.lead == "V1" and fallback.heart_rate_bpm == pytest.approx(120.0, abs=0.5)


def test_importing_the_module_does_not_import_neurokit2() -> None:
    probe = "import sys, fhir_adapter.ecg.measurements; print('neurokit2' in sys.modules, 'scipy' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "fhir"), str(REPO)])}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, env=env, check=True)
    assert out.stdout.split() == ["False", "False"]
