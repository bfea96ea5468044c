"""ECG measurements as FHIR R4 Observation.component entries, and the Observation.method that labels them.

Codes (LOINC codes checked against LOINC's published names; their check digits verified):
    heart rate            LOINC 8867-4   Heart rate                                          /min
    mean RR interval      local rr-interval (LOINC has no code for a mean R-R interval)       ms
    PR interval           LOINC 8625-6   P-R interval                                        ms
    QRS duration          LOINC 8633-0   QRS duration                                        ms
    QT interval           LOINC 8634-8   Q-T interval                                        ms
    QTc Bazett            LOINC 76635-2  Q-T interval corrected based on Bazett formula      ms
    QTc Fridericia        LOINC 76634-5  Q-T interval corrected based on Fridericia formula  ms
    RR irregularity       local rr-irregularity (RMSSD / mean RR)                             %
    beats analysed        local beats (valueInteger)
    each raised flag      local flag, valueCodeableConcept: the flag in the local system, plus SNOMED CT
                          48867003 Bradycardia, 3424008 Tachycardia, 111975006 Prolonged QT interval;
                          irregular_rhythm has no SNOMED coding: it suggests atrial fibrillation, it does not
                          diagnose it.
Local codes are in LOCAL_SYSTEM, under the bridge's code-system namespace.

Automated, said twice: every component's code.text ends in "(automated)", and the Observation's method is
MEASUREMENT_METHOD (R4 components have no method of their own). A value that could not be measured keeps
its component with a dataAbsentReason (not-applicable for PR without P waves, else unknown) and the reason
as text, so a reader sees it was attempted. Heart rate and QTc carry an interpretation (L/H) when flagged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fhir_adapter.ecg.measurements_rules import FLAG_DESCRIPTIONS, EcgFlag
from fhir_adapter.ecg.measurements_signal import neurokit_version

if TYPE_CHECKING:
    from fhir_adapter.ecg.measurements import EcgMeasurements

Json = dict[str, Any]

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
LOCAL_SYSTEM = "https://nhbridge.org/fhir/CodeSystem/ecg-measurement"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"

MEASUREMENT_METHOD: Json = {
    "coding": [{"system": LOCAL_SYSTEM, "code": "automated", "display": "Automated measurement"}],
    "text": (
        f"Automated measurement, not reviewed (neurokit2 {neurokit_version()}: ecg_peaks for R peaks, "
        "ecg_delineate dwt for P and QRS, tangent-method T end)"
    ),
}

_SNOMED_FLAGS = {
    EcgFlag.BRADYCARDIA: ("48867003", "Bradycardia"),
    EcgFlag.TACHYCARDIA: ("3424008", "Tachycardia"),
    EcgFlag.LONG_QTC: ("111975006", "Prolonged QT interval"),
}


def _code(system: str, code: str, display: str) -> Json:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": f"{display} (automated)"}


def _interpretation(code: str, display: str) -> list[Json]:
    return [{"coding": [{"system": INTERPRETATION, "code": code, "display": display}]}]


def _quantity(
    concept: Json, value: float | None, unit: str, decimals: int, absent: tuple[str, str], **extra: Any
) -> Json:
    component: Json = {"code": concept}
    if value is None:
        code, text = absent
        component["dataAbsentReason"] = {
            "coding": [{"system": DATA_ABSENT, "code": code, "display": code.replace("-", " ").capitalize()}],
            "text": text,
        }
        return component
    number = round(value, decimals) if decimals else round(value)
    component["valueQuantity"] = {"value": number, "unit": unit, "system": UCUM, "code": unit}
    component.update(extra)
    return component


def measurement_components(m: EcgMeasurements) -> list[Json]:
    """Observation.component entries for `m`: the measurements in a fixed order, then the raised flags."""
    unknown = ("unknown", m.reason or "not measured")
    pr_absent = ("not-applicable", "no repeating P waves") if m.p_waves_present is False else unknown
    heart_rate_extra: Json = {}
    if EcgFlag.BRADYCARDIA in m.flags:
        heart_rate_extra["interpretation"] = _interpretation("L", "Low")
    elif EcgFlag.TACHYCARDIA in m.flags:
        heart_rate_extra["interpretation"] = _interpretation("H", "High")
    qtc_extra: Json = {"interpretation": _interpretation("H", "High")} if EcgFlag.LONG_QTC in m.flags else {}
    irregularity = None if m.rr_irregularity is None else m.rr_irregularity * 100.0
    components = [
        _quantity(_code(LOINC, "8867-4", "Heart rate"), m.heart_rate_bpm, "/min", 0, unknown, **heart_rate_extra),
        _quantity(_code(LOCAL_SYSTEM, "rr-interval", "Mean R-R interval"), m.rr_ms, "ms", 0, unknown),
        _quantity(_code(LOINC, "8625-6", "P-R interval"), m.pr_ms, "ms", 0, pr_absent),
        _quantity(_code(LOINC, "8633-0", "QRS duration"), m.qrs_ms, "ms", 0, unknown),
        _quantity(_code(LOINC, "8634-8", "Q-T interval"), m.qt_ms, "ms", 0, unknown),
        _quantity(
            _code(LOINC, "76635-2", "Q-T interval corrected based on Bazett formula"),
            m.qtc_bazett_ms,
            "ms",
            0,
            unknown,
            **qtc_extra,
        ),
        _quantity(
            _code(LOINC, "76634-5", "Q-T interval corrected based on Fridericia formula"),
            m.qtc_fridericia_ms,
            "ms",
            0,
            unknown,
        ),
        _quantity(
            _code(LOCAL_SYSTEM, "rr-irregularity", "R-R irregularity (RMSSD / mean R-R)"), irregularity, "%", 1, unknown
        ),
        {"code": _code(LOCAL_SYSTEM, "beats", "Beats analysed"), "valueInteger": m.beats},
    ]
    for flag in sorted(m.flags):
        value: Json = {"coding": [{"system": LOCAL_SYSTEM, "code": flag.value, "display": FLAG_DESCRIPTIONS[flag]}]}
        if flag in _SNOMED_FLAGS:
            code, display = _SNOMED_FLAGS[flag]
            value["coding"].append({"system": SNOMED, "code": code, "display": display})
        value["text"] = FLAG_DESCRIPTIONS[flag]
        components.append({"code": _code(LOCAL_SYSTEM, "flag", "ECG flag"), "valueCodeableConcept": value})
    return components
