"""Residents and drafts for prescription workflow tests: each test prescribes for a resident of its own,
with the in-person first visit online prescribing requires, so no demo resident's chart changes."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from bridge.directory import codes
from tests.conftest import Bridge

FHIR_JSON = "application/fhir+json"
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem"


def prescribable_resident(
    bridge: Bridge, home: str = "demo-home-1", *, first_visit: bool = True, birth_date: str = "1942-05-01"
) -> str:
    """A new resident of `home`, with a finished in-person first visit by a demo hospital doctor."""
    tag = uuid.uuid4().hex[:10]
    with bridge.services() as services:
        repo = services.repository
        patient = repo.create(
            {
                "resourceType": "Patient",
                "name": [{"text": "处方测试", "family": "处", "given": ["方测试"]}],
                "gender": "female",
                "birthDate": birth_date,
                "managingOrganization": {"reference": f"Organization/{home}"},
            },
            f"zz-rx-{tag}",
        )
        subject = {"reference": f"Patient/{patient['id']}"}
        if first_visit:
            condition = repo.create(
                {
                    "resourceType": "Condition",
                    "subject": subject,
                    "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "I10"}], "text": "高血压"},
                    "clinicalStatus": {"coding": [{"system": f"{TERMINOLOGY}/condition-clinical", "code": "active"}]},
                }
            )
            repo.create(
                {
                    "resourceType": "Encounter",
                    "status": "finished",
                    "class": {"system": codes.ENCOUNTER_CLASS_SYSTEM, "code": "AMB"},
                    "subject": subject,
                    "participant": [{"individual": {"reference": "Practitioner/demo-dr-li"}}],
                    "period": {"start": "2026-06-01T09:30:00+08:00", "end": "2026-06-01T10:00:00+08:00"},
                    "diagnosis": [{"condition": {"reference": f"Condition/{condition['id']}"}, "rank": 1}],
                    "serviceProvider": {"reference": "Organization/demo-hospital"},
                }
            )
    return str(patient["id"])


def draft(
    patient_id: str, drug: str = "C08CA01", dose: float = 5, unit: str = "mg", per_day: int = 1
) -> dict[str, Any]:
    """A draft as a doctor's system writes it: a catalogue drug, a dose, a frequency, a quantity."""
    return {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "order",
        "medicationReference": {"reference": f"Medication/drug-{drug.lower()}"},
        "subject": {"reference": f"Patient/{patient_id}"},
        "requester": {"reference": "Practitioner/demo-dr-li"},
        "dosageInstruction": [
            {
                "text": "口服",
                "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [
                    {"doseQuantity": {"value": dose, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}
                ],
            }
        ],
        "dispenseRequest": {
            "quantity": {"value": 28, "unit": "片"},
            "expectedSupplyDuration": {"value": 28, "unit": "d", "system": "http://unitsofmeasure.org", "code": "d"},
        },
    }


def fhir(bridge: Bridge, username: str) -> httpx.Client:
    client = bridge.bearer(username)
    client.headers["Content-Type"] = FHIR_JSON
    return client


def parameters(**values: Any) -> dict[str, Any]:
    parts = []
    for name, value in values.items():
        if isinstance(value, dict):
            parts.append({"name": name, **value})
        else:
            parts.append({"name": name, "valueString": str(value)})
    return {"resourceType": "Parameters", "parameter": parts}


def overrides(*pairs: tuple[str, str]) -> dict[str, Any]:
    return {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "override",
                "part": [{"name": "finding", "valueString": key}, {"name": "reason", "valueString": why}],
            }
            for key, why in pairs
        ],
    }


def signed_task(
    bridge: Bridge, patient_id: str, body: dict[str, Any] | None = None, **draft_args: Any
) -> dict[str, Any]:
    """Draft, sign (overriding whatever needs it) and return the $sign answer's parts by name."""
    doctor = fhir(bridge, "doctor")
    created = doctor.post("/fhir/MedicationRequest", json=draft(patient_id, **draft_args))
    assert created.status_code == 201, created.text
    request_id = created.json()["id"]
    if body is None:
        found = doctor.post(f"/fhir/MedicationRequest/{request_id}/$check").json()
        needing = [
            coding["code"]
            for issue in found["issue"]
            if issue["severity"] == "error"
            for coding in issue.get("details", {}).get("coding", [])
        ]
        body = overrides(*((key, "已与家属沟通，获益大于风险") for key in needing)) if needing else None
    signed = doctor.post(f"/fhir/MedicationRequest/{request_id}/$sign", json=body or {"resourceType": "Parameters"})
    assert signed.status_code == 200, signed.text
    return {p["name"]: p["resource"] for p in signed.json()["parameter"]}
