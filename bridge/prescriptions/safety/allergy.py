"""Allergy: the drug's ingredients and classes against the resident's active AllergyIntolerance records.

A record is read by its codes and its text. Codes: the catalogue's own systems (ATC, at any level from the
therapeutic subgroup down, and the catalogue code) match the drug directly, and name a catalogue drug whose
names and ingredients are then read like text; the SNOMED CT substances of data/allergens.json map to
allergens. Text: the terms of data/allergens.json, and the names and ingredients of catalogue drugs.

A medication allergy that maps to nothing at all (an RxNorm or local code, a drug the tables do not know)
is never ignored: it gives a low finding asking the doctor to review the record against the drug.
"""

from __future__ import annotations

from collections.abc import Iterable

from bridge.prescriptions.catalogue import ATC_SYSTEM, CATALOGUE_SYSTEM, Catalogue
from bridge.prescriptions.catalogue_rows import Drug
from bridge.prescriptions.safety.context import AllergyRecord, SafetyContext
from bridge.prescriptions.safety.draft import Draft
from bridge.prescriptions.safety.findings import Param, SafetyFinding, Severity
from bridge.prescriptions.safety.rule_data import Allergen, allergens

SOURCE = (
    "AllergyIntolerance of the resident; cross-reactivity: Drug allergy practice parameter update "
    "(J Allergy Clin Immunol 2022;150:1333)"
)
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
# Systems whose codes are drugs: a record coded in one of them is a drug allergy whatever its category says.
DRUG_SYSTEMS = frozenset({ATC_SYSTEM, CATALOGUE_SYSTEM, RXNORM})
# An ATC code shorter than the therapeutic subgroup (J01) is an anatomical main group: too broad to be an allergy.
MIN_ATC_PREFIX = 3


def check_allergy(draft: Draft, context: SafetyContext) -> list[SafetyFinding]:
    findings = []
    key = f"allergy:{draft.drug.code}"
    for record in context.allergies:
        named = _named_drugs(record, context.catalogue)
        match = _match(draft, record, named)
        if match is None:
            if _needs_review(record, named, context.catalogue):
                params: dict[str, Param] = {"drug": draft.name, "allergen": _shown(record), "codes": _codes(record)}
                findings.append(SafetyFinding(key, "allergy", "low", "safety.allergy.unrecognised", params, SOURCE))
            continue
        cross, what = match
        severity: Severity
        if cross:
            severity, message_key = "moderate", "safety.allergy.cross"
        elif record.type == "intolerance":
            severity, message_key = "moderate", "safety.allergy.intolerance"
        else:
            severity, message_key = "high", "safety.allergy.match"
        params = {
            "drug": draft.name,
            "allergen": _shown(record),
            "reaction": record.reaction or "?",
            "what": what,
        }
        findings.append(SafetyFinding(key, "allergy", severity, message_key, params, SOURCE))
    return findings


def _match(draft: Draft, record: AllergyRecord, named: list[Drug]) -> tuple[bool, str] | None:
    """(cross-reactivity only?, what matched) for the closest match, or None."""
    drug = draft.drug
    ingredients, classes = set(drug.ingredients), set(drug.allergy_classes)
    itself = drug.ingredients[0] if drug.ingredients else drug.name_en
    # The record coded with the drug itself, or with an ATC group the drug belongs to.
    if f"{CATALOGUE_SYSTEM}|{drug.code}".lower() in {c.lower() for c in record.codes}:
        return False, itself
    for code in _atc_codes(record):
        if code == drug.atc:
            return False, itself
        if len(code) >= MIN_ATC_PREFIX and any(atc.startswith(code) for atc in _atcs(drug)):
            return False, code
    text = _text(record, named)
    cross_hit: str | None = None
    for allergen in _allergens_of(record, text):
        if hit := sorted(allergen.ingredients & ingredients) or sorted(allergen.classes & classes):
            return False, hit[0]
        if cross := sorted(allergen.cross_classes & classes):
            cross_hit = cross_hit or cross[0]
    # A record naming the drug itself (its ingredient or its name), or naming a drug with one of its ingredients.
    names = {*ingredients, drug.name_en.lower(), drug.name_zh}
    if any(name and name in text for name in names):
        return False, itself
    if shared := sorted(ingredients & {i for other in named for i in other.ingredients}):
        return False, shared[0]
    return (True, cross_hit) if cross_hit else None


def _atcs(drug: Drug) -> list[str]:
    return [code for code in (drug.atc, drug.atc_class) if code]


def _atc_codes(record: AllergyRecord) -> list[str]:
    return sorted(code.split("|", 1)[1].upper() for code in record.codes if code.startswith(f"{ATC_SYSTEM}|"))


def _named_drugs(record: AllergyRecord, catalogue: Catalogue) -> list[Drug]:
    """The catalogue drugs the record names by code (ATC at level 5, or the catalogue code)."""
    found: list[Drug] = []
    for code in record.codes:
        system, _, value = code.partition("|")
        drug = None
        if system == CATALOGUE_SYSTEM:
            drug = catalogue.by_code(value)
        elif system == ATC_SYSTEM:
            drug = catalogue.by_atc(value) or catalogue.by_code(value)
        if drug is not None and drug not in found:
            found.append(drug)
    return found


def _text(record: AllergyRecord, named: Iterable[Drug]) -> str:
    """The record's text, with the names and ingredients of the drugs its codes name."""
    words = [record.text]
    for drug in named:
        words += [drug.name_zh, drug.name_en.lower(), *drug.ingredients]
    return " ".join(w for w in words if w)


def _allergens_of(record: AllergyRecord, text: str) -> list[Allergen]:
    found = []
    for allergen in allergens():
        coded = any(f"{SNOMED}|{code}" in record.codes for code in allergen.snomed)
        if coded or any(term in text for term in allergen.terms):
            found.append(allergen)
    return found


def _needs_review(record: AllergyRecord, named: list[Drug], catalogue: Catalogue) -> bool:
    """A drug allergy the rules could not map to anything, so a doctor must read it against the drug."""
    if record.categories:
        if "medication" not in record.categories:
            return False  # food, environment, biologic: not this rule's business
    elif not (any(code.partition("|")[0] in DRUG_SYSTEMS for code in record.codes) or not record.text.strip()):
        return False  # no category, readable text that names nothing known: most likely food or environment
    return not _recognised(record, named, catalogue)


def _recognised(record: AllergyRecord, named: list[Drug], catalogue: Catalogue) -> bool:
    if named or _allergens_of(record, record.text):
        return True
    for code in _atc_codes(record):
        if len(code) >= MIN_ATC_PREFIX and any(atc.startswith(code) for drug in catalogue for atc in _atcs(drug)):
            return True
    text = record.text
    return bool(text) and any(
        name and name in text for drug in catalogue for name in (drug.name_zh, drug.name_en.lower(), *drug.ingredients)
    )


def _shown(record: AllergyRecord) -> str:
    return record.display if record.display != "?" else _codes(record)


def _codes(record: AllergyRecord) -> str:
    return ", ".join(sorted(record.codes)) or "-"
