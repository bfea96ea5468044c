"""Allergy: by SNOMED substance code, by the record's text, by class; cross-reactivity; intolerance."""

from __future__ import annotations

from typing import Any

from bridge.i18n import Translator
from bridge.prescriptions.catalogue import ATC_SYSTEM, CATALOGUE_SYSTEM
from bridge.prescriptions.safety.check import check_prescription
from bridge.prescriptions.safety.findings import SafetyFinding, ordered
from tests.bridge.prescriptions.catalogue_support import Resident, draft, findings_for, make_resident

PENICILLIN = ("373270004", "青霉素类抗生素", "allergy")


def test_penicillin_allergy_fires_for_amoxicillin_by_code(bridge) -> None:
    [finding] = findings_for(bridge, Resident(allergies=[PENICILLIN]), "J01CA04", 500, "allergy", frequency=3)
    assert finding.key == "allergy:J01CA04" and finding.severity == "high" and finding.blocking
    assert finding.overridable


def test_allergy_by_text_only(bridge) -> None:
    spec = Resident(allergies=[(None, "磺胺类药物", "allergy")])
    [finding] = findings_for(bridge, spec, "J01EE01", 960, "allergy", frequency=2)
    assert finding.severity == "high" and finding.params["what"] == "sulfonamides"


def test_cross_reactivity_is_a_warning(bridge) -> None:
    [finding] = findings_for(bridge, Resident(allergies=[PENICILLIN]), "J01DD04", 1, "allergy", unit="g")
    assert finding.severity == "moderate" and finding.message_key == "safety.allergy.cross"


def test_intolerance_is_a_warning(bridge) -> None:
    spec = Resident(allergies=[("387494007", "可待因", "intolerance")])
    [finding] = findings_for(bridge, spec, "R05DA04", 15, "allergy", frequency=3)
    assert finding.severity == "moderate" and finding.message_key == "safety.allergy.intolerance"


def test_no_finding_for_an_unrelated_drug(bridge) -> None:
    spec = Resident(allergies=[PENICILLIN, ("44027008", "海鲜（虾、蟹）", "allergy")])
    assert findings_for(bridge, spec, "J01FA10", 500, "allergy") == []


def test_the_most_severe_of_two_allergy_findings_is_kept(bridge) -> None:
    # cephalosporin (cross-reactive with penicillins) listed first, penicillin (a direct match) second
    spec = Resident(allergies=[(None, "头孢过敏", "allergy"), (None, "青霉素", "allergy")])
    [finding] = findings_for(bridge, spec, "J01CA04", 500, "allergy", frequency=3)
    assert finding.severity == "high" and finding.blocking and finding.message_key == "safety.allergy.match"
    text = finding.message(Translator("en"))
    assert text.startswith("Allergy:") and "cross-reactivity" in text  # the milder explanation follows


def _finding(severity: Any, message_key: str, overridable: bool = True, key: str = "allergy:X") -> SafetyFinding:
    return SafetyFinding(key, "allergy", severity, message_key, {}, "test", overridable=overridable)


def test_ordered_keeps_the_worst_per_key_and_drops_repeats() -> None:
    low, moderate, high = _finding("low", "a"), _finding("moderate", "b"), _finding("high", "c")
    [merged] = ordered([low, moderate, high, moderate])
    assert merged.message_key == "c" and [f.message_key for f in merged.also] == ["b", "a"]
    forbidden = _finding("moderate", "d", overridable=False)
    [merged] = ordered([high, forbidden])
    assert merged.message_key == "d" and not merged.overridable and merged.blocking
    assert [f.key for f in ordered([low, _finding("high", "e", key="other")])] == ["other", "allergy:X"]


def _allergy_record(
    subject: str, codings: list[dict[str, str]], text: str | None, category: str | None
) -> dict[str, Any]:
    code: dict[str, Any] = {"coding": codings}
    if text:
        code["text"] = text
    return {
        "resourceType": "AllergyIntolerance",
        "clinicalStatus": {"coding": [{"system": f"{HL7}/allergyintolerance-clinical", "code": "active"}]},
        "type": "allergy",
        **({"category": [category]} if category else {}),
        "code": code,
        "patient": {"reference": subject},
    }


HL7 = "http://terminology.hl7.org/CodeSystem"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _allergy_findings(
    bridge, codings: list[dict[str, str]], drug: str, text: str | None = None, category: str | None = None
) -> list[SafetyFinding]:
    with bridge.services() as services:
        pid = make_resident(services, Resident())
        services.repository.create(_allergy_record(f"Patient/{pid}", codings, text, category))
        found = check_prescription(services, draft(pid, drug, 500, frequency=3))
    return [f for f in found if f.rule == "allergy"]


def test_an_atc_coded_allergy_matches_the_drug(bridge) -> None:
    [finding] = _allergy_findings(bridge, [{"system": ATC_SYSTEM, "code": "J01CA04"}], "J01CA04")
    assert finding.severity == "high" and finding.params["what"] == "amoxicillin"


def test_an_atc_class_coded_allergy_matches_its_members(bridge) -> None:
    # J01C: beta-lactam antibacterials, penicillins
    [finding] = _allergy_findings(bridge, [{"system": ATC_SYSTEM, "code": "J01C"}], "J01CA04")
    assert finding.severity == "high" and finding.params["what"] == "J01C"
    assert _allergy_findings(bridge, [{"system": ATC_SYSTEM, "code": "J01C"}], "J01FA10") == []


def test_a_catalogue_coded_allergy_matches_the_drug(bridge) -> None:
    [finding] = _allergy_findings(bridge, [{"system": CATALOGUE_SYSTEM, "code": "J01CA04"}], "J01CA04")
    assert finding.severity == "high"


def test_an_atc_coded_drug_is_read_by_its_ingredients(bridge) -> None:
    # an amoxicillin allergy coded by ATC only, no text: amoxicillin-clavulanate (J01CR02) contains it
    codings = [{"system": ATC_SYSTEM, "code": "J01CA04"}]
    [finding] = _allergy_findings(bridge, codings, "J01CR02", category="medication")
    assert finding.severity == "high" and finding.params["what"] == "amoxicillin"
    assert _allergy_findings(bridge, codings, "J01FA10", category="medication") == []  # known, and unrelated


def test_an_unmappable_medication_allergy_asks_for_review(bridge) -> None:
    [finding] = _allergy_findings(bridge, [{"system": RXNORM, "code": "723"}], "J01FA10", category="medication")
    assert finding.severity == "low" and not finding.blocking and finding.message_key == "safety.allergy.unrecognised"
    assert f"{RXNORM}|723" in finding.message(Translator("en")) and "Review the allergy record" in finding.message(
        Translator("en")
    )


def test_a_local_code_without_text_asks_for_review(bridge) -> None:
    [finding] = _allergy_findings(bridge, [{"system": "urn:oid:1.2.3.4", "code": "X-17"}], "J01FA10")
    assert finding.message_key == "safety.allergy.unrecognised" and finding.params["allergen"] == "urn:oid:1.2.3.4|X-17"


def test_food_and_environment_allergies_are_not_reviewed(bridge) -> None:
    local = [{"system": "urn:oid:1.2.3.4", "code": "F-2"}]
    assert _allergy_findings(bridge, local, "J01FA10", category="food") == []
    assert _allergy_findings(bridge, local, "J01FA10", "花粉", category="environment") == []
    assert _allergy_findings(bridge, [], "J01FA10", "花粉") == []  # no category, readable text: not a drug


def test_a_recognised_medication_allergy_unrelated_to_the_drug_is_silent(bridge) -> None:
    codings = [{"system": "http://snomed.info/sct", "code": "373270004"}]
    assert _allergy_findings(bridge, codings, "J01FA10", "青霉素", category="medication") == []
