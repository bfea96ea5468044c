"""The check as a whole: draft validation (422, nothing changed) and the OperationOutcome in both languages."""

from __future__ import annotations

import pytest
from fhir_adapter.errors import OperationOutcomeError

from bridge.i18n import Translator
from bridge.prescriptions.safety.check import FINDING_SYSTEM, check_prescription, findings_outcome, validate_draft
from tests.bridge.prescriptions.catalogue_support import Resident, draft, make_resident
from tests.fhir_peer import assert_all_pass


def test_outcome_has_one_issue_per_finding(bridge, medplum) -> None:
    with bridge.services() as services:
        pid = make_resident(services, Resident(active=["B01AA03"], allergies=[(None, "布洛芬", "allergy")]))
        findings = check_prescription(services, draft(pid, "M01AE01", 800, frequency=4))
    keys = [f.key for f in findings]
    assert {"interaction:B01AA03+M01AE01", "allergy:M01AE01", "max-dose:M01AE01", "older-adults:M01AE01"} <= set(keys)
    zh, en = findings_outcome(findings, Translator("zh-CN")), findings_outcome(findings, Translator("en"))
    assert len(zh["issue"]) == len(findings)
    issue = next(i for i in en["issue"] if i["details"]["coding"][0]["code"] == "interaction:B01AA03+M01AE01")
    assert issue["severity"] == "error" and issue["code"] == "business-rule"
    assert issue["details"]["coding"][0]["system"] == FINDING_SYSTEM and "Warfarin" in issue["diagnostics"]
    assert "bleeding" in issue["details"]["text"]
    assert any("出血" in i["details"]["text"] for i in zh["issue"])
    severities = {i["details"]["coding"][0]["code"]: i["severity"] for i in en["issue"]}
    assert severities["older-adults:M01AE01"] == "warning"
    assert_all_pass(medplum.validate([{**en, "id": "check-1"}]))


def test_nothing_found_is_one_informational_issue() -> None:
    outcome = findings_outcome([], Translator("en"))
    assert outcome["issue"] == [
        {
            "severity": "information",
            "code": "informational",
            "details": {"coding": [{"system": FINDING_SYSTEM, "code": "none"}], "text": "No safety findings."},
        }
    ]


def test_clean_prescription_has_no_findings(bridge) -> None:
    with bridge.services() as services:
        pid = make_resident(services, Resident(age=70, creatinine_umol=70))
        assert check_prescription(services, draft(pid, "C08CA01", 5)) == []


@pytest.mark.parametrize(
    ("change", "expression"),
    [
        (
            {"medicationReference": {"reference": "Medication/drug-nonexistent"}},
            "MedicationRequest.medicationReference",
        ),
        ({"medicationReference": None}, "MedicationRequest.medicationReference"),
        ({"subject": {"reference": "Patient/nobody-here"}}, "MedicationRequest.subject"),
        ({"dosageInstruction": []}, "MedicationRequest.dosageInstruction[0]"),
    ],
)
def test_invalid_drafts_are_422(bridge, change, expression) -> None:
    with bridge.services() as services:
        pid = make_resident(services, Resident())
        request = {k: v for k, v in {**draft(pid, "C08CA01", 5), **change}.items() if v is not None}
        with pytest.raises(OperationOutcomeError) as raised:
            validate_draft(services, request)
        assert raised.value.status == 422
        assert raised.value.outcome()["issue"][0]["expression"] == [expression]
        with pytest.raises(OperationOutcomeError):
            check_prescription(services, request)
        validate_draft(services, draft(pid, "C08CA01", 5))  # the valid draft passes
