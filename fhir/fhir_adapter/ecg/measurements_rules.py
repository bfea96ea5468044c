"""The clinical rules of `fhir_adapter.ecg.measurements`: QTc formulas, flag thresholds and their sources.

- QTc (Bazett 1920): QT / sqrt(RR in seconds). QTc (Fridericia 1920): QT / cbrt(RR in seconds). RR is the
  mean RR interval of the analysed beats.
- bradycardia: heart rate < 50 /min. The 2018 ACC/AHA/HRS bradycardia guideline (Kusumoto et al., J Am Coll
  Cardiol 2019;74:e51) defines sinus bradycardia as a rate below 50 /min rather than the older 60, because
  rates of 50-59 are common and harmless in older adults and under beta blockers, as in a nursing home.
- tachycardia: heart rate > 100 /min (2015 ACC/AHA/HRS SVT guideline, Page et al.: sinus tachycardia is a
  sinus rate above 100 /min).
- long_qtc: QTc (Bazett) > 450 ms for men, > 470 ms for women (Goldenberg, Moss, Zareba, J Cardiovasc
  Electrophysiol 2006;17:333, "prolonged" above the borderline band). With sex unknown, > 470 ms: most
  nursing-home residents are women, a normal woman's QTc up to 470 ms should not raise a flag, and the value
  itself and the sex-independent critical limit (QTc > 500 ms, applied elsewhere) still reach the doctor.
  Bazett because those thresholds were derived with it.
- irregular_rhythm (suggests atrial fibrillation): the two ECG signs of atrial fibrillation together,
  irregular RR intervals and no distinct repeating P waves (the 2020 ESC AF guideline's ECG definition).
  Irregular: at least 6 RR intervals and RMSSD / mean RR > 0.10. No repeating P waves: less than 40% of
  the power between R - 300 ms and R - 80 ms repeats from beat to beat (measurements_signal.
  p_wave_coherence; sinus rhythm scores 0.7-1.0, synthetic fibrillation below 0.2). An ectopic beat in sinus rhythm
  raises RMSSD but keeps the P waves, so it does not flag; sinus arrhythmia keeps its P waves too. The
  thresholds were set on MIT-BIH record 100 (sinus rhythm with atrial premature beats: never flagged) and
  synthetic fibrillation; no atrial-fibrillation recording was available to validate them.
"""

from __future__ import annotations

import math
from enum import StrEnum


class EcgFlag(StrEnum):
    BRADYCARDIA = "bradycardia"
    TACHYCARDIA = "tachycardia"
    IRREGULAR_RHYTHM = "irregular_rhythm"
    LONG_QTC = "long_qtc"


BRADYCARDIA_BELOW_BPM = 50.0
TACHYCARDIA_ABOVE_BPM = 100.0
LONG_QTC_ABOVE_MS: dict[str, float] = {"male": 450.0, "female": 470.0}
LONG_QTC_ABOVE_MS_SEX_UNKNOWN = 470.0
IRREGULAR_MIN_RR_INTERVALS = 6
IRREGULAR_ABOVE_NRMSSD = 0.10
P_WAVES_PRESENT_FROM = 0.4  # p_wave_coherence of the stretches before the QRS

FLAG_DESCRIPTIONS = {
    EcgFlag.BRADYCARDIA: f"Bradycardia: heart rate below {BRADYCARDIA_BELOW_BPM:g} /min",
    EcgFlag.TACHYCARDIA: f"Tachycardia: heart rate above {TACHYCARDIA_ABOVE_BPM:g} /min",
    EcgFlag.IRREGULAR_RHYTHM: "Irregular rhythm without P waves, suggests atrial fibrillation",
    EcgFlag.LONG_QTC: "Long QTc (Bazett above 450 ms for men, 470 ms for women or sex unknown)",
}


def qtc_bazett(qt_ms: float, rr_ms: float) -> float:
    return qt_ms / math.sqrt(rr_ms / 1000.0)


def qtc_fridericia(qt_ms: float, rr_ms: float) -> float:
    return qt_ms / math.cbrt(rr_ms / 1000.0)


def long_qtc_threshold_ms(sex: str | None) -> float:
    """The QTc (Bazett) above which `long_qtc` is raised; `sex` as FHIR's administrative gender."""
    return LONG_QTC_ABOVE_MS.get((sex or "").lower(), LONG_QTC_ABOVE_MS_SEX_UNKNOWN)


def flags_for(
    *,
    heart_rate_bpm: float | None,
    qtc_bazett_ms: float | None,
    rr_intervals: int,
    rr_irregularity: float | None,
    p_waves_present: bool | None,
    sex: str | None,
) -> frozenset[EcgFlag]:
    flags: set[EcgFlag] = set()
    if heart_rate_bpm is not None:
        if heart_rate_bpm < BRADYCARDIA_BELOW_BPM:
            flags.add(EcgFlag.BRADYCARDIA)
        if heart_rate_bpm > TACHYCARDIA_ABOVE_BPM:
            flags.add(EcgFlag.TACHYCARDIA)
    if qtc_bazett_ms is not None and qtc_bazett_ms > long_qtc_threshold_ms(sex):
        flags.add(EcgFlag.LONG_QTC)
    if (
        rr_irregularity is not None
        and rr_intervals >= IRREGULAR_MIN_RR_INTERVALS
        and rr_irregularity > IRREGULAR_ABOVE_NRMSSD
        and p_waves_present is False
    ):
        flags.add(EcgFlag.IRREGULAR_RHYTHM)
    return frozenset(flags)
