"""An ECG Observation as the portal's viewer needs it: leads in microvolts, and the measurements.

The FHIR ECG pattern: one component per lead with ``valueSampledData`` (physical value = origin + factor ×
sample), the lead coded in MDC, and measurement components (heart rate, PR, QRS, QT, QTc, flags) beside
them. Devices and converters code leads differently (the MDC potential term 131328 + lead number, the
lead term 131072 + lead number, or only a display such as ``MDC_ECG_LEAD_AVF``), so each is accepted.

Only the first ``DISPLAY_SECONDS`` of each lead are handed to the page (a 30-minute Holter record would
otherwise put millions of numbers into the HTML), and leads sampled above ``MAX_DISPLAY_RATE_HZ`` are
averaged down: at 25 mm/s a tablet draws about 100 pixels a second, so 500 Hz is already five samples
a pixel, and averaging pairs of 1 kHz samples loses under 0.5 dB at 100 Hz.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from typing import Any

from bridge.directory.chart import concept_text

logger = logging.getLogger(__name__)

MDC_SYSTEMS = frozenset({"urn:oid:2.16.840.1.113883.6.24", "urn:iso:std:iso:11073:10101"})
MDC_ELEC_POTL = 131328  # MDC_ECG_ELEC_POTL: the potential of a lead is 131328 + its lead number
MDC_LEAD = 131072  # MDC_ECG_LEAD: the lead itself, which some senders use for its signal
ECG_CODE = "131328"
DISPLAY_SECONDS = 10.0
MAX_DISPLAY_RATE_HZ = 500.0
STANDARD_12 = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
# SCP-ECG / MDC lead numbers of the leads the viewer lays out.
_LEAD_NUMBERS = {1: "I", 2: "II", 61: "III", 62: "aVR", 63: "aVL", 64: "aVF"} | {2 + n: f"V{n}" for n in range(1, 7)}
_BY_KEY = {name.upper(): name for name in STANDARD_12}
_PREFIX = re.compile(r"^(MDC_ECG_LEAD_|MDC_ECG_ELEC_POTL_|LEAD[ _-]?)", re.IGNORECASE)
_TO_MICROVOLTS = {"uv": 1.0, "µv": 1.0, "μv": 1.0, "mv": 1000.0, "v": 1_000_000.0}

# Measurement codes -> message key (the label on the page); LOINC where LOINC has the measurement,
# else the local codes of fhir_adapter/ecg/measurements_fhir.py.
MEASUREMENT_KEYS = {
    "8867-4": "results.ecg.m.heart_rate",
    "rr-interval": "results.ecg.m.rr",
    "8625-6": "results.ecg.m.pr",
    "8633-0": "results.ecg.m.qrs",
    "8634-8": "results.ecg.m.qt",
    "8636-3": "results.ecg.m.qtc",
    "76635-2": "results.ecg.m.qtc_bazett",
    "76634-5": "results.ecg.m.qtc_fridericia",
    "rr-irregularity": "results.ecg.m.rr_irregularity",
    "beats": "results.ecg.m.beats",
}
FINDING_KEYS = {
    "bradycardia": "results.ecg.finding.bradycardia",
    "tachycardia": "results.ecg.finding.tachycardia",
    "irregular_rhythm": "results.ecg.finding.irregular_rhythm",
    "long_qtc": "results.ecg.finding.long_qtc",
}
FLAG_CODES = frozenset({"H", "L", "HH", "LL", "A", "AA"})


@dataclass(frozen=True)
class EcgLead:
    name: str  # I .. V6 when recognised (the layout places it), else the sender's name
    label: str  # what the strip is labelled with
    period_ms: float
    samples: list[int | None]  # microvolts; None where the sender marked a sample unusable

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "period_ms": self.period_ms, "samples": self.samples}


@dataclass(frozen=True)
class EcgMeasurement:
    key: str  # message key of the label, or "" (then `label` is the sender's text)
    label: str
    value: str  # "" when not measured
    unit: str
    flag: str = ""  # H, L, ...
    absent: str = ""  # why it was not measured


@dataclass(frozen=True)
class EcgFinding:
    key: str
    label: str


@dataclass
class EcgStudy:
    resource: str  # Observation/<id>
    at: str
    date: str
    title: str
    note: str
    leads: list[EcgLead] = field(default_factory=list)
    measurements: list[EcgMeasurement] = field(default_factory=list)
    findings: list[EcgFinding] = field(default_factory=list)
    automated: bool = False
    duration_s: float = 0.0  # of the stored samples
    shown_s: float = 0.0  # handed to the page

    @property
    def layout(self) -> str:
        """12-lead (3 × 4 of 2.5 s and a rhythm strip) when all twelve are there, else one strip a lead."""
        names = {lead.name for lead in self.leads}
        return "12-lead" if names.issuperset(STANDARD_12) else "strips"

    @property
    def lead_names(self) -> list[str]:
        return [lead.name for lead in self.leads]

    def data(self) -> dict[str, Any]:
        return {"layout": self.layout, "leads": [lead.as_json() for lead in self.leads]}


def is_ecg(observation: dict[str, Any]) -> bool:
    if "valueSampledData" in observation:
        return True
    return any("valueSampledData" in c for c in observation.get("component", []))


def lead_name(concept: dict[str, Any] | None) -> str:
    """The standard name of a lead's concept (I .. V6), or the sender's own text."""
    concept = concept or {}
    for coding in concept.get("coding", []):
        if coding.get("system") in MDC_SYSTEMS and str(coding.get("code", "")).isdigit():
            code = int(coding["code"])
            for base in (MDC_ELEC_POTL, MDC_LEAD):
                if code - base in _LEAD_NUMBERS:
                    return _LEAD_NUMBERS[code - base]
    for raw in [c.get("display", "") for c in concept.get("coding", [])] + [concept.get("text", "")]:
        known = _BY_KEY.get(_PREFIX.sub("", str(raw).strip()).upper())
        if known:
            return known
    return concept_text(concept) or "?"


def _lead_label(name: str, concept: dict[str, Any] | None) -> str:
    # A modified lead (MIT-BIH's MLII, coded as II) keeps its own name on the strip.
    text = str((concept or {}).get("text", "")).strip()
    if text and _BY_KEY.get(_PREFIX.sub("", text).upper()) != name:
        return text
    return name


def _unit_scale(origin: dict[str, Any], values: list[float | None]) -> float:
    unit = str(origin.get("code") or origin.get("unit") or "").strip().lower()
    if unit in _TO_MICROVOLTS:
        return _TO_MICROVOLTS[unit]
    # No unit: an ECG never reaches 50 mV, and a real one in microvolts exceeds 50 µV somewhere.
    peak = max((abs(v) for v in values if v is not None), default=0.0)
    logger.info("ECG lead without a unit, read as %s", "µV" if peak > 50 else "mV")
    return 1.0 if peak > 50 else 1000.0


def _decimate(samples: list[float | None], factor: int) -> list[float | None]:
    if factor <= 1:
        return samples
    out: list[float | None] = []
    for start in range(0, len(samples) - factor + 1, factor):
        chunk = [v for v in samples[start : start + factor] if v is not None]
        out.append(sum(chunk) / len(chunk) if chunk else None)
    return out


def read_lead(concept: dict[str, Any] | None, sampled: dict[str, Any]) -> tuple[EcgLead, float] | None:
    """The lead for the page and the seconds stored, or None when the data cannot be drawn."""
    if int(sampled.get("dimensions", 1)) != 1 or not sampled.get("period"):
        logger.warning("ECG lead skipped: %s dimensions, period %s", sampled.get("dimensions"), sampled.get("period"))
        return None
    origin = sampled.get("origin") or {}
    base = float(origin.get("value", 0))
    factor = float(sampled.get("factor", 1))
    physical: list[float | None] = []
    for token in str(sampled.get("data", "")).split():
        try:
            physical.append(base + factor * float(token))
        except ValueError:  # E (error), L / U (beyond the limits): a gap, not a zero
            physical.append(None)
    period = float(sampled["period"])
    stored_s = len(physical) * period / 1000
    physical = physical[: round(DISPLAY_SECONDS * 1000 / period)]
    step = max(1, math.ceil((1000 / period) / MAX_DISPLAY_RATE_HZ))
    scale = _unit_scale(origin, physical)
    samples = [None if v is None else round(v * scale) for v in _decimate(physical, step)]
    name = lead_name(concept)
    return EcgLead(name, _lead_label(name, concept), period * step, samples), stored_s


def _code(concept: dict[str, Any]) -> str:
    for coding in concept.get("coding", []):
        if coding.get("code"):
            return str(coding["code"])
    return ""


def _number(value: Any) -> str:
    return str(value) if isinstance(value, int) else f"{float(value):.10g}"


def _measurement(component: dict[str, Any]) -> EcgMeasurement:
    concept = component.get("code", {})
    label = concept_text(concept).removesuffix("(automated)").strip()
    key = MEASUREMENT_KEYS.get(_code(concept), "")
    flag = next(
        (
            str(c["code"])
            for i in component.get("interpretation", [])
            for c in i.get("coding", [])
            if c.get("code") in FLAG_CODES
        ),
        "",
    )
    if "valueQuantity" in component:
        q = component["valueQuantity"]
        value = f"{q.get('comparator', '')}{_number(q.get('value', ''))}" if "value" in q else ""
        return EcgMeasurement(key, label, value, str(q.get("unit") or q.get("code") or ""), flag)
    if "valueInteger" in component:
        return EcgMeasurement(key, label, str(component["valueInteger"]), "", flag)
    if "valueString" in component:
        return EcgMeasurement(key, label, str(component["valueString"]), "", flag)
    if "valueCodeableConcept" in component:
        return EcgMeasurement(key, label, concept_text(component["valueCodeableConcept"]), "", flag)
    absent = component.get("dataAbsentReason")
    return EcgMeasurement(key, label, "", "", flag, concept_text(absent) if absent else "")


def _finding(component: dict[str, Any]) -> EcgFinding:
    concept = component.get("valueCodeableConcept", {})
    return EcgFinding(FINDING_KEYS.get(_code(concept), ""), concept_text(concept))


def _automated(observation: dict[str, Any]) -> bool:
    method = observation.get("method") or {}
    if any(c.get("code") == "automated" for c in method.get("coding", [])):
        return True
    texts = [str(method.get("text", ""))] + [
        str(c.get("code", {}).get("text", "")) for c in observation.get("component", [])
    ]
    return any("automated" in text.lower() for text in texts)


def ecg_study(observation: dict[str, Any], at: str, date: str) -> EcgStudy:
    """`at` (ISO instant) and `date` (for people) come from the caller, who dates every result alike."""
    study = EcgStudy(
        resource=f"Observation/{observation.get('id', '')}",
        at=at,
        date=date,
        title=concept_text(observation.get("code")),
        note=" ".join(str(n.get("text", "")) for n in observation.get("note", [])).strip(),
        automated=_automated(observation),
    )
    # A single-lead ECG may carry its samples in the Observation's own value.
    parts = ([observation] if "valueSampledData" in observation else []) + observation.get("component", [])
    for part in parts:
        if "valueSampledData" in part:
            read = read_lead(part.get("code"), part["valueSampledData"])
            if read is not None:
                lead, stored_s = read
                study.leads.append(lead)
                study.duration_s = max(study.duration_s, stored_s)
                study.shown_s = max(study.shown_s, len(lead.samples) * lead.period_ms / 1000)
        elif "valueCodeableConcept" in part and _code(part.get("code", {})) == "flag":
            study.findings.append(_finding(part))
        else:
            study.measurements.append(_measurement(part))
    return study
