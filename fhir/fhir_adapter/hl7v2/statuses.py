"""Result status (OBX-11, table 0085), order result status (OBR-25, table 0123) and abnormal flags
(OBX-8, table 0078) in FHIR terms.

Statuses follow the HL7 v2-to-FHIR concept maps. Statuses that mean "no result" (I pending, O order
detail only, N not asked, X cannot be obtained) make the OBX-5 value meaningless, so it is not read.
Flags become codes of the v3 ObservationInterpretation code system, which kept the v2 codes.
"""

from __future__ import annotations

from typing import Any

from fhir_adapter.hl7v2.errors import REQUIRED_FIELD_MISSING, TABLE_VALUE_NOT_FOUND, content_error

INTERPRETATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"

OBSERVATION_STATUS = {
    "C": "corrected",
    "D": "entered-in-error",
    "F": "final",
    "I": "registered",
    "N": "cancelled",
    "O": "registered",
    "P": "preliminary",
    "R": "preliminary",
    "S": "preliminary",
    "U": "final",
    "W": "entered-in-error",
    "X": "cancelled",
}
NO_RESULT = frozenset({"I", "N", "O", "X"})

REPORT_STATUS = {
    "O": "registered",
    "I": "registered",
    "S": "registered",
    "A": "partial",
    "P": "preliminary",
    "C": "corrected",
    "R": "partial",
    "F": "final",
    "X": "cancelled",
    "Y": "unknown",
    "Z": "unknown",
}

INTERPRETATIONS = {
    "N": "Normal",
    "L": "Low",
    "H": "High",
    "LL": "Critical low",
    "HH": "Critical high",
    "A": "Abnormal",
    "AA": "Critical abnormal",
    "<": "Off scale low",
    ">": "Off scale high",
    "U": "Significant change up",
    "D": "Significant change down",
    "B": "Better",
    "W": "Worse",
    "S": "Susceptible",
    "R": "Resistant",
    "I": "Intermediate",
    "POS": "Positive",
    "NEG": "Negative",
    "IND": "Indeterminate",
    "DET": "Detected",
    "ND": "Not detected",
    "E": "Equivocal",
    "RR": "Reactive",
    "NR": "Non-reactive",
    "WR": "Weakly reactive",
}


def observation_status(code: str) -> str:
    """FHIR Observation.status of an OBX-11 code. OBX-11 is required: without it a result could be
    shown as final when it is not, and fields shifted by a sender's mistake often end up here."""
    if not code:
        raise content_error(
            "missing_result_status", "OBX-11 (observation result status) is empty", REQUIRED_FIELD_MISSING
        )
    if code not in OBSERVATION_STATUS:
        raise content_error(
            "unknown_status",
            f"result status {code!r} (OBX-11) is not an HL7 table 0085 code",
            TABLE_VALUE_NOT_FOUND,
        )
    return OBSERVATION_STATUS[code]


def report_status(code: str, observation_statuses: list[str]) -> str:
    """FHIR DiagnosticReport.status of an OBR-25 code; when OBR-25 is empty, what its results say."""
    if code:
        if code not in REPORT_STATUS:
            raise content_error(
                "unknown_status",
                f"result status {code!r} (OBR-25) is not an HL7 table 0123 code",
                TABLE_VALUE_NOT_FOUND,
            )
        return REPORT_STATUS[code]
    statuses = set(observation_statuses)
    for status in ("corrected", "preliminary"):
        if status in statuses:
            return status
    if statuses and statuses <= {"final", "cancelled", "entered-in-error"} and "final" in statuses:
        return "final"
    if statuses and statuses <= {"registered"}:
        return "registered"
    return "unknown"


def interpretation(flag: str) -> dict[str, Any]:
    """A CodeableConcept for one OBX-8 flag; a flag outside table 0078 keeps its text only."""
    display = INTERPRETATIONS.get(flag)
    if display is None:
        return {"text": flag}
    return {"coding": [{"system": INTERPRETATION_SYSTEM, "code": flag, "display": display}]}
