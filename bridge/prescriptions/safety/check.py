"""Check a drafted MedicationRequest: validate it, run every rule, and answer as an OperationOutcome."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fhir_adapter.errors import OperationOutcomeError

from bridge.directory.codes import NAMESPACE
from bridge.i18n import Translator
from bridge.prescriptions.catalogue import catalogue
from bridge.prescriptions.dosing import daily_dose
from bridge.prescriptions.safety.allergy import check_allergy
from bridge.prescriptions.safety.context import SafetyContext, build_context
from bridge.prescriptions.safety.draft import Draft
from bridge.prescriptions.safety.findings import SafetyFinding, ordered
from bridge.prescriptions.safety.limits import check_max_dose, check_online_rules
from bridge.prescriptions.safety.older_adults import check_older_adults
from bridge.prescriptions.safety.qt import check_qt
from bridge.prescriptions.safety.renal import check_renal
from bridge.prescriptions.safety.therapy import check_duplicate, check_interactions

if TYPE_CHECKING:
    from bridge.services import Services

logger = logging.getLogger(__name__)

FINDING_SYSTEM = f"{NAMESPACE}/CodeSystem/safety-finding"
FINDING_EXTENSION = f"{NAMESPACE}/StructureDefinition/safety-finding"

RULES: tuple[Callable[[Draft, SafetyContext], list[SafetyFinding]], ...] = (
    check_online_rules,
    check_allergy,
    check_interactions,
    check_duplicate,
    check_renal,
    check_qt,
    check_max_dose,
    check_older_adults,
)
_ISSUE_SEVERITY = {"high": "error", "moderate": "warning", "low": "information"}


def validate_draft(
    services: Services, medication_request: dict[str, Any], translator: Translator | None = None
) -> None:
    """422 (and nothing stored, the caller's part) for a drug outside the catalogue or a dose that does not parse."""
    _draft(services, medication_request, translator or Translator("en"))


def check_prescription(
    services: Services, medication_request: dict[str, Any], translator: Translator | None = None
) -> list[SafetyFinding]:
    """Every safety finding for the draft, most severe first; 422 when the draft itself is invalid."""
    t = translator or Translator("en")
    draft, patient = _draft(services, medication_request, t)
    context = build_context(services, patient, catalogue(services), exclude_request_id=medication_request.get("id"))
    findings = [finding for rule in RULES for finding in rule(draft, context)]
    logger.info(
        "checked MedicationRequest/%s (%s): %d finding(s)",
        medication_request.get("id", "-"),
        draft.drug.code,
        len(findings),
    )
    return ordered(findings)


def findings_outcome(findings: list[SafetyFinding], translator: Translator) -> dict[str, Any]:
    """An OperationOutcome: one issue per finding, or one informational issue saying nothing was found."""
    if not findings:
        return {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "information",
                    "code": "informational",
                    "details": {
                        "coding": [{"system": FINDING_SYSTEM, "code": "none"}],
                        "text": translator("safety.none"),
                    },
                }
            ],
        }
    return {"resourceType": "OperationOutcome", "issue": [_issue(f, translator) for f in findings]}


def _issue(finding: SafetyFinding, translator: Translator) -> dict[str, Any]:
    severity = "error" if finding.blocking else _ISSUE_SEVERITY[finding.severity]
    return {
        "extension": [
            {
                "url": FINDING_EXTENSION,
                "extension": [
                    {"url": "rule", "valueCode": finding.rule},
                    {"url": "severity", "valueCode": finding.severity},
                    {"url": "blocking", "valueBoolean": finding.blocking},
                    {"url": "overridable", "valueBoolean": finding.overridable},
                ],
            }
        ],
        "severity": severity,
        "code": "business-rule",
        "details": {
            "coding": [{"system": FINDING_SYSTEM, "code": finding.key, "display": finding.rule}],
            "text": finding.message(translator),
        },
        "diagnostics": finding.source,
        "expression": ["MedicationRequest"],
    }


def _draft(services: Services, request: dict[str, Any], t: Translator) -> tuple[Draft, dict[str, Any]]:
    if not isinstance(request, dict) or request.get("resourceType") != "MedicationRequest":
        raise OperationOutcomeError.single(422, "invalid", t("safety.draft.not_request"), "MedicationRequest")
    reference = (request.get("medicationReference") or {}).get("reference")
    drugs = catalogue(services)
    drug = drugs.for_reference(reference) if isinstance(reference, str) else None
    if drug is None:
        given = reference or (request.get("medicationCodeableConcept") or {}).get("text") or "-"
        raise OperationOutcomeError.single(
            422,
            "code-invalid",
            t("safety.draft.unknown_drug", given=given),
            "MedicationRequest.medicationReference",
        )
    subject = (request.get("subject") or {}).get("reference", "")
    patient_id = subject.split("/")[-1] if isinstance(subject, str) and subject.startswith("Patient/") else ""
    patient = None
    if patient_id and services.repository.exists("Patient", patient_id):
        patient = services.repository.read("Patient", patient_id)
    if patient is None:
        raise OperationOutcomeError.single(
            422, "invalid", t("safety.draft.unknown_patient", given=subject or "-"), "MedicationRequest.subject"
        )
    dose = daily_dose(request, drug, t)
    return Draft(request, drug, dose), patient
