"""Allergy: the drug's ingredients and classes against the resident's active AllergyIntolerance records."""

from __future__ import annotations

from bridge.prescriptions.safety.context import AllergyRecord, SafetyContext
from bridge.prescriptions.safety.draft import Draft
from bridge.prescriptions.safety.findings import Param, SafetyFinding, Severity
from bridge.prescriptions.safety.rule_data import Allergen, allergens

SOURCE = (
    "AllergyIntolerance of the resident; cross-reactivity: Drug allergy practice parameter update "
    "(J Allergy Clin Immunol 2022;150:1333)"
)


def check_allergy(draft: Draft, context: SafetyContext) -> list[SafetyFinding]:
    findings = []
    for record in context.allergies:
        match = _match(draft, record)
        if match is None:
            continue
        cross, what = match
        severity: Severity
        if cross:
            severity, key = "moderate", "safety.allergy.cross"
        elif record.type == "intolerance":
            severity, key = "moderate", "safety.allergy.intolerance"
        else:
            severity, key = "high", "safety.allergy.match"
        params: dict[str, Param] = {
            "drug": draft.name,
            "allergen": record.display,
            "reaction": record.reaction or "?",
            "what": what,
        }
        findings.append(SafetyFinding(f"allergy:{draft.drug.code}", "allergy", severity, key, params, SOURCE))
    return findings


def _match(draft: Draft, record: AllergyRecord) -> tuple[bool, str] | None:
    """(cross-reactivity only?, what matched) for the closest match, or None."""
    drug = draft.drug
    ingredients, classes = set(drug.ingredients), set(drug.allergy_classes)
    cross_hit: str | None = None
    for allergen in _allergens_of(record):
        if hit := sorted(allergen.ingredients & ingredients) or sorted(allergen.classes & classes):
            return False, hit[0]
        if cross := sorted(allergen.cross_classes & classes):
            cross_hit = cross_hit or cross[0]
    # A record naming the drug itself (its ingredient or its name) without any table entry.
    names = {*ingredients, drug.name_en.lower(), drug.name_zh}
    if any(name and name in record.text for name in names):
        return False, drug.ingredients[0] if drug.ingredients else drug.name_en
    return (True, cross_hit) if cross_hit else None


def _allergens_of(record: AllergyRecord) -> list[Allergen]:
    found = []
    for allergen in allergens():
        coded = any(f"http://snomed.info/sct|{code}" in record.codes for code in allergen.snomed)
        if coded or any(term in record.text for term in allergen.terms):
            found.append(allergen)
    return found
