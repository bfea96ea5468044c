"""Duplicate therapy (the same ATC class already active) and drug-drug interactions (the curated table)."""

from __future__ import annotations

from bridge.prescriptions.safety.context import ActiveDrug, SafetyContext
from bridge.prescriptions.safety.draft import Draft
from bridge.prescriptions.safety.findings import SafetyFinding, Text
from bridge.prescriptions.safety.rule_data import interactions, matches

DUPLICATE_SOURCE = "WHO ATC classification (same level-4 class); AGS Beers Criteria 2023 (duplicate drug classes)"


def check_duplicate(draft: Draft, context: SafetyContext) -> list[SafetyFinding]:
    atc_class = draft.drug.atc_class
    findings = []
    for other in context.active:
        same_drug = other.drug is not None and other.drug.code == draft.drug.code
        if not same_drug and (atc_class is None or other.atc_class != atc_class):
            continue
        key = "safety.duplicate.same" if same_drug else "safety.duplicate.class"
        params = {"drug": draft.name, "other": _name(other), "atc_class": atc_class or draft.drug.code}
        detail = atc_class or draft.drug.code
        findings.append(SafetyFinding(f"duplicate:{detail}", "duplicate", "moderate", key, params, DUPLICATE_SOURCE))
    return findings


def check_interactions(draft: Draft, context: SafetyContext) -> list[SafetyFinding]:
    mine = draft.drug.atc or draft.drug.atc_class
    findings = []
    for other in context.active:
        theirs = other.atc
        if mine is None or theirs is None:
            continue
        for entry in interactions():
            forward = matches(mine, entry.a) and matches(theirs, entry.b)
            if forward or (matches(theirs, entry.a) and matches(mine, entry.b)):
                pair = "+".join(sorted((draft.drug.code, other.code)))
                params = {"drug": draft.name, "other": _name(other), "effect": entry.effect, "advice": entry.advice}
                findings.append(
                    SafetyFinding(
                        f"interaction:{pair}",
                        "interaction",
                        entry.severity,  # type: ignore[arg-type]
                        "safety.interaction",
                        params,
                        entry.source,
                    )
                )
                break  # the first (most specific) entry for a pair
    return findings


def _name(other: ActiveDrug) -> Text | str:
    if other.drug is not None:
        return Text(other.drug.name_zh, other.drug.name_en)
    return other.display
