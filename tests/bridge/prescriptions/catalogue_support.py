"""Residents of the prescription safety tests' own, built from real FHIR resources in the test database.

Each test makes a fresh resident (a copy of a demo Patient in the same home under a new id) with exactly
the allergies, drugs, results and visits its rule needs, so no test reads or changes a demo resident.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from bridge.directory.codes import ENCOUNTER_CLASS_SYSTEM
from bridge.prescriptions.catalogue import seed_catalogue
from bridge.prescriptions.safety.check import check_prescription
from bridge.prescriptions.safety.findings import SafetyFinding

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
HL7 = "http://terminology.hl7.org/CodeSystem"
DOCTOR = "demo-dr-li"  # a doctor of demo-hospital, which serves both demo homes


@dataclass
class Resident:
    age: int = 80
    gender: str = "female"
    first_visit: bool = True
    visit_by: str = DOCTOR
    allergies: list[tuple[str | None, str, str]] = field(default_factory=list)  # (SNOMED code, text, type)
    active: list[str] = field(default_factory=list)  # catalogue codes taken now
    creatinine_umol: float | None = None
    qtc_ms: float | None = None


def _birth_date(today: date, age: int) -> str:
    return (today.replace(year=today.year - age) - timedelta(days=30)).isoformat()


def make_resident(services: Any, spec: Resident) -> str:
    """Store the resident and their records; returns the Patient id."""
    seed_catalogue(services)
    repo = services.repository
    pid = f"rx-test-{uuid.uuid4().hex[:12]}"
    subject = {"reference": f"Patient/{pid}"}
    today = services.now().date()
    model = repo.read("Patient", "demo-resident-01")
    patient = {k: v for k, v in model.items() if k not in {"id", "meta", "identifier", "extension"}}
    repo.create({**patient, "gender": spec.gender, "birthDate": _birth_date(today, spec.age)}, pid)
    if spec.first_visit:
        condition = repo.create(
            {
                "resourceType": "Condition",
                "clinicalStatus": {"coding": [{"system": f"{HL7}/condition-clinical", "code": "active"}]},
                "code": {"text": "原发性高血压"},
                "subject": subject,
            }
        )
        repo.create(
            {
                "resourceType": "Encounter",
                "status": "finished",
                "class": {"system": ENCOUNTER_CLASS_SYSTEM, "code": "AMB"},
                "subject": subject,
                "participant": [{"individual": {"reference": f"Practitioner/{spec.visit_by}"}}],
                "period": {"start": f"{today - timedelta(days=30)}T09:00:00+08:00"},
                "diagnosis": [{"condition": {"reference": f"Condition/{condition['id']}"}, "rank": 1}],
            }
        )
    for snomed, text, kind in spec.allergies:
        code: dict[str, Any] = {"text": text}
        if snomed:
            code["coding"] = [{"system": SNOMED, "code": snomed}]
        repo.create(
            {
                "resourceType": "AllergyIntolerance",
                "clinicalStatus": {"coding": [{"system": f"{HL7}/allergyintolerance-clinical", "code": "active"}]},
                "type": kind,
                "code": code,
                "patient": subject,
                "reaction": [{"manifestation": [{"text": "皮疹"}]}],
            }
        )
    for code in spec.active:
        repo.create(
            {
                "resourceType": "MedicationRequest",
                "status": "active",
                "intent": "order",
                "medicationReference": {"reference": f"Medication/drug-{code.lower()}"},
                "subject": subject,
            }
        )
    when = f"{today - timedelta(days=2)}T07:00:00+08:00"
    if spec.creatinine_umol is not None:
        repo.create(
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"coding": [{"system": LOINC, "code": "14682-9"}]},
                "subject": subject,
                "effectiveDateTime": when,
                "valueQuantity": {"value": spec.creatinine_umol, "unit": "µmol/L", "system": UCUM, "code": "umol/L"},
            }
        )
    if spec.qtc_ms is not None:
        repo.create(
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"coding": [{"system": LOINC, "code": "11524-6", "display": "EKG study"}]},
                "subject": subject,
                "effectiveDateTime": when,
                "component": [
                    {
                        "code": {"coding": [{"system": LOINC, "code": "76635-2"}]},
                        "valueQuantity": {"value": spec.qtc_ms, "unit": "ms", "system": UCUM, "code": "ms"},
                    }
                ],
            }
        )
    return pid


def draft(
    patient_id: str,
    code: str,
    value: float,
    unit: str = "mg",
    frequency: int = 1,
    period: float = 1,
    period_unit: str = "d",
) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": f"draft-{uuid.uuid4().hex[:8]}",
        "status": "draft",
        "intent": "order",
        "medicationReference": {"reference": f"Medication/drug-{code.lower()}"},
        "subject": {"reference": f"Patient/{patient_id}"},
        "requester": {"reference": f"Practitioner/{DOCTOR}"},
        "dosageInstruction": [
            {
                "timing": {"repeat": {"frequency": frequency, "period": period, "periodUnit": period_unit}},
                "doseAndRate": [{"doseQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit}}],
            }
        ],
    }


def findings_for(bridge: Any, spec: Resident, code: str, value: float, rule: str, **dose: Any) -> list[SafetyFinding]:
    """The findings of one rule for a draft of `code` for a new resident made to `spec`."""
    with bridge.services() as services:
        pid = make_resident(services, spec)
        found = check_prescription(services, draft(pid, code, value, **dose))
    return [f for f in found if f.rule == rule]
