"""Signal steps behind `fhir_adapter.ecg.measurements`: filtering, R peaks, delineation, T end, P-wave check.

neurokit2 is untyped and slow to import (about 1.5 s: it pulls pandas, scikit-learn and matplotlib), so it
is imported on first use and only reached through the typed helpers here. Its warnings (NeuroKitWarning,
pandas FutureWarning) are silenced around each call: the test suite turns warnings into errors, and they
concern the library's internals, not the caller's data.

Where this departs from calling neurokit2 plainly, and the measured reason:
- R peaks: `ecg_peaks` (method "neurokit") drops a beat in the first 0.3 s of a window (its minimum-delay
  check starts from sample 0), ignores a QRS with no positive peak (a negative PVC in MIT-BIH record 100 is
  missed), at the end of a window turns a truncated QRS into a small false peak, and at slow rates can take
  T waves for beats. The window start is padded, peaks far smaller or gentler than the typical QRS are
  dropped, and long gaps are searched for a missed QRS.
- P waves count as present when the stretch before the QRS repeats from beat to beat (p_wave_coherence).
- Delineation runs on a gently filtered copy (0.5 Hz high-pass, 50/60 Hz notches): `ecg_clean`'s mains
  filter is a 20 ms moving average applied forwards and backwards, which widened a 90 ms synthetic QRS by
  about 20 ms. The T end comes from the tangent method on the median beat: `ecg_delineate`'s dwt method
  looks for the T peak only up to R + RR/2, so the T wave of a long QT is missed exactly when it matters.
"""

from __future__ import annotations

import importlib
import itertools
import logging
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

START_PAD_S = 0.5  # longer than ecg_peaks' 0.3 s minimum delay, so a first beat is not dropped
QRS_HALF_WINDOW_S = 0.06  # around an R peak: the QRS, for amplitude and template comparisons
MIN_QRS_AMPLITUDE_RATIO = 0.4  # a "beat" smaller than this fraction of the typical QRS is a P or T wave
MIN_QRS_SLOPE_RATIO = 0.45  # a T wave's steepest slope is about a tenth of a QRS's; a PVC's about half
GAP_RATIO = 1.5  # an RR this many times the median may hide a missed beat
GAP_SLOPE_RATIO = 0.5  # a missed QRS has at least half the typical QRS slope
P_WINDOW_S = (0.30, 0.08)  # the P wave lies between R - 300 ms and R - 80 ms at PR intervals of 120-240 ms


def _scipy_signal() -> Any:
    """scipy.signal, imported on first use: it alone takes half a second to import."""
    return importlib.import_module("scipy.signal")


def neurokit() -> Any:
    """The neurokit2 module, imported on first use."""
    return importlib.import_module("neurokit2")


def neurokit_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("neurokit2")
    except PackageNotFoundError:  # pragma: no cover - the package is a declared dependency
        return "unknown"


def _quiet() -> warnings.catch_warnings[None]:
    """Silence neurokit2's and pandas' warnings about their own internals for one library call."""
    return warnings.catch_warnings(action="ignore")


def clean_for_detection(samples: FloatArray, rate: float) -> FloatArray:
    """neurokit2's default cleaning (0.5 Hz high-pass, 50 Hz moving average): what its R detector expects."""
    with _quiet():
        cleaned = neurokit().ecg_clean(samples, sampling_rate=rate, method="neurokit")
    return np.asarray(cleaned, dtype=np.float64)


def clean_for_delineation(samples: FloatArray, rate: float) -> FloatArray:
    """High-pass 0.5 Hz (neurokit2's Butterworth) and narrow zero-phase notches at 50 and 60 Hz."""
    with _quiet():
        out = np.asarray(
            neurokit().signal_filter(samples, sampling_rate=rate, lowcut=0.5, method="butterworth", order=5),
            dtype=np.float64,
        )
    for mains in (50.0, 60.0):
        if mains < 0.45 * rate:
            b, a = _scipy_signal().iirnotch(mains, 30.0, fs=rate)
            out = np.asarray(_scipy_signal().filtfilt(b, a, out), dtype=np.float64)
    return out


def _moving_average(values: FloatArray, width: int) -> FloatArray:
    width = max(width, 1)
    return np.asarray(np.convolve(values, np.ones(width) / width, mode="same"), dtype=np.float64)


def detect_r_peaks(cleaned: FloatArray, rate: float) -> IntArray:
    """R peaks (sample indices, ascending) in a signal cleaned by `clean_for_detection`."""
    pad = _count(START_PAD_S, rate)
    padded = np.concatenate([np.full(pad, cleaned[0]), cleaned])
    try:
        with _quiet():
            _, info = neurokit().ecg_peaks(padded, sampling_rate=rate, method="neurokit")
    except Exception as exc:  # odd input can break the library in many ways: no beats, never a crash
        logger.info("ecg_peaks failed: %r", exc)
        return np.zeros(0, dtype=np.int64)
    peaks = np.asarray(info["ECG_R_Peaks"], dtype=np.int64) - pad
    peaks = peaks[(peaks >= 0) & (peaks < cleaned.size)]
    if peaks.size == 0:
        return peaks
    half = max(_count(QRS_HALF_WINDOW_S, rate), 1)
    slope = np.abs(np.gradient(cleaned))
    windows = [slice(max(p - half, 0), p + half + 1) for p in peaks]
    amplitudes = np.array([np.ptp(cleaned[w]) for w in windows])
    slopes = np.array([slope[w].max() for w in windows])
    # Compared with the 80th percentile, not the median: at slow rates, with a tall or late T wave, the
    # detector can take nearly every T wave for a beat, and half the "beats" being T waves would drag the
    # median down to theirs. A T wave can be half as tall as the QRS, but its slopes are far gentler.
    keep = (amplitudes >= MIN_QRS_AMPLITUDE_RATIO * np.percentile(amplitudes, 80)) & (
        slopes >= MIN_QRS_SLOPE_RATIO * np.percentile(slopes, 80)
    )
    peaks = peaks[keep]
    return _fill_gaps(cleaned, peaks, rate)


def _fill_gaps(cleaned: FloatArray, peaks: IntArray, rate: float) -> IntArray:
    """Add a QRS the detector skipped (e.g. one without a positive peak) inside a long RR interval."""
    if peaks.size < 3:
        return peaks
    slope = _moving_average(np.abs(np.gradient(cleaned)), _count(0.1, rate))
    half = max(_count(0.05, rate), 1)
    typical = float(np.median([slope[max(p - half, 0) : p + half + 1].max() for p in peaks]))
    guard = _count(0.2, rate)
    search = max(_count(QRS_HALF_WINDOW_S, rate), 1)
    found = sorted(int(p) for p in peaks)
    for _ in range(50):  # each pass adds at most one beat; a 60 s window has far fewer missed ones
        median_rr = float(np.median(np.diff(found)))
        added = False
        for before, after in itertools.pairwise(found):
            if after - before <= GAP_RATIO * median_rr or after - before <= 2 * guard:
                continue
            lo, hi = before + guard, after - guard
            candidate = lo + int(np.argmax(slope[lo:hi]))
            if slope[candidate] < GAP_SLOPE_RATIO * typical:
                continue
            window = cleaned[max(candidate - search, 0) : candidate + search + 1]
            level = float(np.median(cleaned[max(candidate - 3 * search, 0) : candidate + 3 * search + 1]))
            beat = max(candidate - search, 0) + int(np.argmax(np.abs(window - level)))
            logger.debug("added a missed QRS at sample %d", beat)
            found.append(beat)
            found.sort()
            added = True
            break
        if not added:
            break
    return np.asarray(found, dtype=np.int64)


def _segments(values: FloatArray, peaks: IntArray, before: int, after: int) -> FloatArray:
    rows = [values[p - before : p + after] for p in peaks if p - before >= 0 and p + after <= values.size]
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), before + after)


def _coherence(rows: FloatArray) -> float | None:
    """How much aligned stretches repeat one another: |mean of the stretches scaled to unit power|^2.
    Near 1 when every stretch holds the same wave, near 1/rows for noise, whose timing is random. Scaling
    keeps one large stretch (a PVC, an intruding T wave) from outweighing all the others."""
    if rows.shape[0] < 3 or rows.shape[1] < 4:
        return None
    norms = np.sqrt(np.sum(rows**2, axis=1))
    if not np.any(norms > 0.0):
        return 0.0  # flat everywhere: nothing repeats
    unit = rows[norms > 0.0] / norms[norms > 0.0, None]
    return float(np.sum(unit.mean(axis=0) ** 2) * unit.shape[0] / rows.shape[0])  # flat stretches count as 0


def qrs_coherence(cleaned: FloatArray, peaks: IntArray, rate: float) -> float | None:
    """Coherence of the QRS complexes (R +- 60 ms) in a signal from `clean_for_delineation`. An ECG scores
    above 0.9 (0.8 with 0.2 mV of added noise), also in atrial fibrillation; peaks picked out of noise score
    below 0.5. A correlation with the median QRS does not separate them: on the smoothed signal the detector
    works on, every window centred on a noise peak looks like a bump."""
    half = max(_count(QRS_HALF_WINDOW_S, rate), 2)
    rows = _segments(cleaned, peaks, half, half + 1)
    return _coherence(rows - rows.mean(axis=1, keepdims=True))


def p_wave_coherence(cleaned: FloatArray, peaks: IntArray, rate: float) -> float | None:
    """Coherence of the detrended stretches R - 300 ms to R - 80 ms: near 1 when every beat has the same P
    wave, low for fibrillatory waves or noise, which have no fixed timing relative to the QRS. (A median-beat
    correlation does not separate these: quasi-periodic 4-8 Hz f waves correlate with it by chance.)"""
    start, stop = (_count(s, rate) for s in P_WINDOW_S)
    rows = _segments(cleaned, peaks, start, -stop)
    if rows.shape[0] < 3 or rows.shape[1] < 4:
        return None
    return _coherence(np.asarray(_scipy_signal().detrend(rows, axis=1), dtype=np.float64))


@dataclass(frozen=True)
class Delineation:
    """Per beat, seconds relative to its R peak (NaN where not found)."""

    p_onset: FloatArray
    qrs_onset: FloatArray
    qrs_offset: FloatArray


def delineate(cleaned: FloatArray, peaks: IntArray, rate: float) -> Delineation | None:
    """P onset and QRS bounds by neurokit2's `ecg_delineate(method="dwt")`, None if it fails.

    The signal is padded before the first beat so that no point lands at or before sample 0: neurokit2
    drops such points from its lists, which would misalign them with the R peaks."""
    pad = _count(1.0, rate)
    padded = np.concatenate([np.full(pad, cleaned[0]), cleaned])
    shifted = peaks + pad
    try:
        with _quiet():
            _, waves = neurokit().ecg_delineate(padded, shifted, sampling_rate=rate, method="dwt")
    except Exception as exc:  # the library fails in many ways on odd input: report, never raise
        logger.info("ecg_delineate failed: %r", exc)
        return None

    def relative(key: str) -> FloatArray:
        values = np.asarray(waves.get(key, []), dtype=np.float64)
        if values.shape != shifted.shape:
            return np.full(shifted.shape, np.nan)
        values[values < pad] = np.nan  # inside the padding: not part of the recording
        return (values - shifted) / rate

    return Delineation(relative("ECG_P_Onsets"), relative("ECG_R_Onsets"), relative("ECG_R_Offsets"))


def t_end_tangent(
    cleaned: FloatArray,
    peaks: IntArray,
    rate: float,
    qrs_onset_s: float,
    qrs_offset_s: float,
    p_onset_s: float | None = None,
) -> float | None:
    """End of the T wave, seconds after the R peak, on the median beat: where the tangent at the steepest
    point of the T wave's descending limb meets the isoelectric level of the PR segment (the tangent method).

    The T peak is the most prominent peak of either polarity between the QRS end and R + 0.7 RR (at most
    650 ms): prominence rather than height, so that a depressed ST segment is not taken for the T wave,
    and 0.7 RR so that the next P wave is not (it starts about RR - 250 ms after this R peak; earlier when
    `p_onset_s`, the P onset relative to R, is known, the search stops there)."""
    rr = float(np.median(np.diff(peaks))) / rate
    before, after = max(0.12, 0.05 - qrs_onset_s), min(0.7 * rr, 0.65) + 0.25
    rows = _segments(cleaned, peaks, _count(before, rate), _count(after, rate))
    if rows.shape[0] < 3:
        return None
    scipy_signal = _scipy_signal()
    beat = np.asarray(scipy_signal.savgol_filter(np.median(rows, axis=0), _odd(_count(0.04, rate)), 2))
    zero = _count(before, rate)  # index of the R peak in `beat`
    onset = zero + _count(qrs_onset_s, rate)
    baseline = float(np.median(beat[max(onset - _count(0.03, rate), 0) : max(onset - _count(0.005, rate), 1)]))
    lo = zero + _count(max(qrs_offset_s, 0.03) + 0.06, rate)
    hi = zero + _count(min(0.7 * rr, 0.65, rr + p_onset_s if p_onset_s is not None else 1.0), rate)
    if hi - lo < 3:
        return None
    best: tuple[float, int, float] | None = None  # (prominence, index, sign)
    for sign in (1.0, -1.0):
        found, props = scipy_signal.find_peaks(sign * (beat[lo:hi] - baseline), prominence=0.0)
        for index, prominence in zip(found, props["prominences"], strict=True):
            if best is None or prominence > best[0]:
                best = (float(prominence), lo + int(index), sign)
    if best is None:
        return None
    _, peak, sign = best
    slope = np.gradient(beat) * rate  # mV per second
    next_qrs = zero + _count(rr + qrs_onset_s - 0.02, rate)  # at fast rates the next QRS comes within 200 ms
    descent = -sign * slope[peak : min(peak + _count(0.2, rate), next_qrs)]  # the descending limb only
    if descent.size < 3 or float(descent.max()) <= 0.0:
        return None
    steepest = peak + int(np.argmax(descent))
    t_end = (steepest + (baseline - beat[steepest]) * rate / slope[steepest] - zero) / rate
    plausible = (peak - zero) / rate < t_end < rr + qrs_onset_s  # after the T peak, before the next QRS
    return float(t_end) if np.isfinite(t_end) and plausible else None


def _count(seconds: float, rate: float) -> int:
    """Samples in `seconds` at `rate`."""
    return round(seconds * rate)


def _odd(n: int) -> int:
    n = max(n, 5)
    return n if n % 2 else n + 1
