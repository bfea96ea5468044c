"""Everything the FHIR API emits is valid R4 for Medplum's independent validator: the
CapabilityStatement, searchsets (with includes and an outcome entry), history with a delete,
batch and transaction responses, OperationOutcomes, and the AuditEvents it records."""

from __future__ import annotations

from typing import Any

from tests.bridge.api.fhir_support import create, fhir_client, observation, resident_of, unique_tag
from tests.bridge.prescriptions.workflow_support import draft as prescription_draft
from tests.conftest import Bridge
from tests.fhir_peer import MedplumValidator, assert_all_pass


def test_what_the_api_emits_passes_medplum(bridge: Bridge, medplum: MedplumValidator) -> None:
    nurse, doctor = fhir_client(bridge, "nurse1"), fhir_client(bridge, "doctor")
    patient = resident_of(bridge, "demo-home-1", 0)
    emitted: list[dict[str, Any]] = [bridge.client().get("/fhir/metadata").json()]

    obs = create(nurse, observation(patient))
    report = create(
        nurse,
        {
            "resourceType": "DiagnosticReport",
            "status": "final",
            "code": {"text": "心率"},
            "subject": {"reference": f"Patient/{patient}"},
            "result": [{"reference": f"Observation/{obs['id']}"}],
        },
    )
    emitted.append(
        nurse.get(
            "/fhir/DiagnosticReport",
            params={"_id": report["id"], "_include": "DiagnosticReport:result", "colour": "blue"},
        ).json()
    )
    draft = create(doctor, prescription_draft(patient, drug="C10AA05", dose=20))  # atorvastatin 20 mg
    doctor.put(f"/fhir/MedicationRequest/{draft['id']}", json={**draft, "status": "cancelled"})
    doctor.delete(f"/fhir/MedicationRequest/{draft['id']}")
    history = doctor.get(f"/fhir/MedicationRequest/{draft['id']}/_history").json()
    deleted = history["entry"][0]
    assert "resource" not in deleted and deleted["request"] == {
        "method": "DELETE",
        "url": f"MedicationRequest/{draft['id']}",
    }
    emitted.append(history)

    tag = unique_tag()
    good = {**observation(patient), "identifier": [{"system": "urn:test:emit", "value": tag}]}
    transaction = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:1d2c3b4a-0000-4000-8000-000000000001",
                "resource": good,
                "request": {"method": "POST", "url": "Observation"},
            }
        ],
    }
    emitted.append(nurse.post("/fhir", json=transaction).json())
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": good, "request": {"method": "POST", "url": "Observation"}},
            {"resource": {**good, "status": "bogus"}, "request": {"method": "POST", "url": "Observation"}},
            {"request": {"method": "GET", "url": f"Observation?identifier=urn:test:emit|{tag}"}},
        ],
    }
    emitted.append(nurse.post("/fhir", json=batch).json())
    emitted.append(nurse.post("/fhir/Observation", json={**good, "status": "bogus"}).json())
    emitted.append(nurse.get("/fhir/Observation/no-such-thing").json())

    with bridge.services() as services:
        audits = services.repository.find("AuditEvent", {"patient": f"Patient/{patient}"})
        audits += services.repository.find("AuditEvent", {"entity": "Observation/no-such-thing"})
    assert {a["outcome"] for a in audits} >= {"0", "4"}
    emitted += audits
    assert_all_pass(medplum.validate([part for resource in emitted for part in _validatable(resource)]))


def _validatable(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """validate.js in shared/tools stops at a Bundle entry without a resource (a history DELETE, a
    failed batch entry): it gets such Bundles without those entries, and their outcomes on their own."""
    if resource.get("resourceType") != "Bundle":
        return [resource]
    entries = resource.get("entry", [])
    outcomes = [e["response"]["outcome"] for e in entries if "resource" not in e and "outcome" in e.get("response", {})]
    return [{**resource, "entry": [e for e in entries if "resource" in e]}, *outcomes]
