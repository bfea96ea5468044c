"""Allergy: by SNOMED substance code, by the record's text, by class; cross-reactivity; intolerance."""

from __future__ import annotations

from tests.bridge.prescriptions.catalogue_support import Resident, findings_for

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
