"""Potentially inappropriate medicines for older adults (data/older_adults.json)."""

from __future__ import annotations

from bridge.prescriptions.safety.context import SafetyContext
from bridge.prescriptions.safety.draft import Draft
from bridge.prescriptions.safety.findings import Param, SafetyFinding
from bridge.prescriptions.safety.rule_data import matches, older_adults


def check_older_adults(draft: Draft, context: SafetyContext) -> list[SafetyFinding]:
    min_age, entries = older_adults()
    if context.age is None or context.age < min_age:
        return []
    code = draft.drug.atc or draft.drug.atc_class
    for entry in entries:
        if not matches(code, entry.atc):
            continue
        if entry.daily_dose_above is not None and draft.dose.per_day <= entry.daily_dose_above:
            continue
        params: dict[str, Param] = {
            "drug": draft.name,
            "age": context.age,
            "rationale": entry.rationale,
            "advice": entry.advice,
            "daily": f"{draft.dose.per_day:g}",
            "unit": draft.drug.dose_unit,
        }
        return [
            SafetyFinding(
                f"older-adults:{draft.drug.code}",
                "older-adults",
                entry.severity,  # type: ignore[arg-type]
                "safety.older_adults",
                params,
                entry.source,
            )
        ]
    return []
