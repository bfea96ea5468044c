"""What in one Observation is critical: values beyond the limits table, and the laboratory's own flags.

An Observation is looked at as a whole and component by component: an ECG carries heart rate and QTc
as components, a laboratory panel may carry analytes the same way. A part is critical when its
quantity, converted to the analyte's canonical unit, is beyond a limit of the table, or when the
laboratory interpreted it as critical (v3-ObservationInterpretation LL, HH or AA; HL7 v2 OBX-8 carries
the same codes), whether or not the bridge knows the analyte.

Each finding has a `key`: the measured concept and the value (in the canonical unit when it converts).
A corrected version of an Observation with the same values yields the same keys, so it alerts no one
again; a corrected value yields a new key.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from fhir_adapter.store.indexing import parse_fhir_date

from bridge.results.critical_limits import LOINC, Analyte, LimitsTable, crossed, limit_text

logger = logging.getLogger(__name__)

INTERPRETATION_SYSTEMS = frozenset(
    {
        "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
        "http://terminology.hl7.org/CodeSystem/v2-0078",
    }
)
CRITICAL_FLAGS: dict[str, Literal["low", "high", "abnormal"]] = {"LL": "low", "HH": "high", "AA": "abnormal"}
# A registered (not yet resulted), cancelled or erroneous Observation has no value to act on.
REVIEWED_STATUSES = frozenset({"preliminary", "final", "amended", "corrected"})


@dataclass(frozen=True)
class Finding:
    key: str  # the concept and the value: the same in a corrected version with the same value
    code: str  # the LOINC code, or system|code
    name: str  # the analyte's name from the table (Chinese), else the concept's text
    value: str  # as reported, e.g. "6.8 mmol/L" or "< 1.0 10*9/L"; "" for a flag without a value
    limit: str  # the limit crossed, e.g. "> 6.2 mmol/L", or the laboratory's flag (LL, HH, AA)
    side: Literal["low", "high", "abnormal"]
    analyte: str | None  # the key of the limits table, when the table knows the concept
    flag: str | None  # the laboratory's critical flag, when it gave one

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def critical_findings(observation: dict[str, Any], table: LimitsTable) -> list[Finding]:
    if observation.get("status") not in REVIEWED_STATUSES:
        return []
    parts = [observation, *observation.get("component", [])]
    findings = [f for part in parts if (f := _finding(part, table, observation.get("id", "?"))) is not None]
    # One finding per concept and value: an Observation that repeats itself in a component counts once.
    return list({f.key: f for f in findings}.values())


def result_time(observation: dict[str, Any]) -> datetime | None:
    """When the result was taken (effective), else when it was issued."""
    period = observation.get("effectivePeriod") or {}
    for text in (
        observation.get("effectiveDateTime"),
        observation.get("effectiveInstant"),
        period.get("start"),
        observation.get("issued"),
    ):
        parsed = parse_fhir_date(text) if isinstance(text, str) else None
        if parsed is not None:
            return parsed[0]
    return None


def _finding(part: dict[str, Any], table: LimitsTable, observation_id: str) -> Finding | None:
    concept = part.get("code") or {}
    flag = _critical_flag(part)
    matched = table.match(concept)
    quantity = part.get("valueQuantity") or {}
    raw = quantity.get("value")
    number = float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None
    value = _quantity_text(quantity) if number is not None else ""
    code = _code_of(concept)
    key = f"{code}|{value or flag}"
    side: Literal["low", "high", "abnormal"] | None = None
    limit = ""
    if matched is not None and number is not None:
        name, analyte = matched
        canonical = _canonical(analyte, quantity, number)
        if canonical is None:
            logger.warning(
                "Observation/%s: %s in unit %r cannot be checked against its critical limits",
                observation_id,
                name,
                quantity.get("code") or quantity.get("unit"),
            )
        else:
            key = f"{code}|{quantity.get('comparator', '')}{canonical:.6g} {analyte.unit}"
            crossed_side = crossed(analyte, canonical, quantity.get("comparator"))
            if crossed_side is not None:
                side, limit = crossed_side, limit_text(analyte, crossed_side)
    if side is None and flag is not None:
        side, limit = CRITICAL_FLAGS[flag], flag
    if side is None:
        return None
    display = matched[1].name("zh-CN") if matched is not None else _concept_text(concept, code)
    return Finding(key, code, display, value, limit, side, matched[0] if matched else None, flag)


def _canonical(analyte: Analyte, quantity: dict[str, Any], number: float) -> float | None:
    # The UCUM code says what the unit is; the human-readable unit is the fallback (many laboratories
    # fill only that one).
    units: list[str | None] = [u for u in (quantity.get("code"), quantity.get("unit")) if isinstance(u, str) and u]
    for unit in units or [None]:
        converted = analyte.to_canonical(number, unit)
        if converted is not None:
            return converted
    return None


def _critical_flag(part: dict[str, Any]) -> str | None:
    for concept in part.get("interpretation", []):
        for coding in concept.get("coding", []):
            if coding.get("code") in CRITICAL_FLAGS and coding.get("system") in INTERPRETATION_SYSTEMS:
                return str(coding["code"])
    return None


def _code_of(concept: dict[str, Any]) -> str:
    codings = concept.get("coding", [])
    for coding in codings:
        if coding.get("system") == LOINC and coding.get("code"):
            return str(coding["code"])
    for coding in codings:
        if coding.get("code"):
            return f"{coding.get('system', '')}|{coding['code']}"
    return str(concept.get("text", "?"))


def _concept_text(concept: dict[str, Any], code: str) -> str:
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding", []):
        if coding.get("display"):
            return str(coding["display"])
    return code


def _quantity_text(quantity: dict[str, Any]) -> str:
    number = quantity["value"]
    shown = str(number) if isinstance(number, int) else f"{number:.10g}"
    unit = quantity.get("unit") or quantity.get("code") or ""
    comparator = quantity.get("comparator", "")
    return " ".join(part for part in (f"{comparator} {shown}".strip(), unit) if part)
