"""The FHIR REST interactions over real HTTP: read, vread, create, update with versions, delete, history."""

from __future__ import annotations

from bridge.audit import AuditKind
from tests.bridge.api.fhir_support import (
    FHIR_JSON,
    create,
    encounter,
    fhir_client,
    issue_text,
    observation,
    resident_of,
)
from tests.bridge.prescriptions.workflow_support import draft as prescription_draft
from tests.conftest import Bridge


def test_create_read_vread_update_history(bridge: Bridge) -> None:
    nurse = fhir_client(bridge, "nurse1")
    patient = resident_of(bridge, "demo-home-1")
    response = nurse.post("/fhir/Observation", json={**observation(patient), "id": "client-chosen"})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["id"] != "client-chosen"  # ids are server-assigned
    assert created["meta"]["versionId"] == "1"
    assert response.headers["Location"].endswith(f"/fhir/Observation/{created['id']}/_history/1")
    assert response.headers["ETag"] == 'W/"1"'
    assert response.headers["content-type"].startswith(FHIR_JSON)

    read = nurse.get(f"/fhir/Observation/{created['id']}")
    assert read.status_code == 200 and read.json() == created
    assert read.headers["ETag"] == 'W/"1"' and "GMT" in read.headers["Last-Modified"]

    changed = {**created, "valueQuantity": {**created["valueQuantity"], "value": 80}}
    updated = nurse.put(f"/fhir/Observation/{created['id']}", json=changed, headers={"If-Match": 'W/"1"'})
    assert updated.status_code == 200, updated.text
    assert updated.json()["meta"]["versionId"] == "2" and updated.json()["valueQuantity"]["value"] == 80

    stale = nurse.put(f"/fhir/Observation/{created['id']}", json=changed, headers={"If-Match": 'W/"1"'})
    assert stale.status_code == 412 and "version 2" in issue_text(stale)

    first = nurse.get(f"/fhir/Observation/{created['id']}/_history/1")
    assert first.status_code == 200 and first.json()["valueQuantity"]["value"] == 72

    history = nurse.get(f"/fhir/Observation/{created['id']}/_history").json()
    assert history["type"] == "history" and history["total"] == 2
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]
    assert [e["request"]["method"] for e in history["entry"]] == ["PUT", "POST"]


def test_update_never_creates_and_checks_the_id(bridge: Bridge) -> None:
    nurse = fhir_client(bridge, "nurse1")
    patient = resident_of(bridge, "demo-home-1")
    missing = nurse.put("/fhir/Observation/never-was", json={**observation(patient), "id": "never-was"})
    assert missing.status_code == 404
    created = create(nurse, observation(patient))
    other_id = nurse.put(f"/fhir/Observation/{created['id']}", json={**created, "id": "something-else"})
    assert other_id.status_code == 400 and "must equal the URL" in issue_text(other_id)
    bad_etag = nurse.put(f"/fhir/Observation/{created['id']}", json=created, headers={"If-Match": "yesterday"})
    assert bad_etag.status_code == 400 and "If-Match" in issue_text(bad_etag)


def test_delete_keeps_history_and_reads_answer_gone(bridge: Bridge) -> None:
    doctor = fhir_client(bridge, "doctor")
    patient = resident_of(bridge, "demo-home-1")
    created = create(doctor, prescription_draft(patient))  # a draft made by mistake
    assert doctor.delete(f"/fhir/MedicationRequest/{created['id']}").status_code == 204
    assert doctor.get(f"/fhir/MedicationRequest/{created['id']}").status_code == 410
    history = doctor.get(f"/fhir/MedicationRequest/{created['id']}/_history").json()
    assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "POST"]
    assert doctor.get(f"/fhir/MedicationRequest/{created['id']}/_history/1").status_code == 200
    search = doctor.get("/fhir/MedicationRequest", params={"_id": created["id"]}).json()
    assert search["total"] == 0


def test_delete_refuses_to_leave_dangling_references_and_some_types_are_never_deleted(bridge: Bridge) -> None:
    nurse = fhir_client(bridge, "nurse1")
    patient = resident_of(bridge, "demo-home-1")
    consult = create(nurse, encounter(patient))
    create(nurse, {**observation(patient), "encounter": {"reference": f"Encounter/{consult['id']}"}})
    # Nurses have no delete scope at all.
    assert nurse.delete(f"/fhir/Encounter/{consult['id']}").status_code == 403
    doctor = fhir_client(bridge, "doctor")
    prescription = create(doctor, _medication_request(patient))
    create(doctor, _medication_request(patient, prior=prescription["id"]))
    refused = doctor.delete(f"/fhir/MedicationRequest/{prescription['id']}")
    assert refused.status_code == 409 and "still referenced" in issue_text(refused)
    assert doctor.get(f"/fhir/MedicationRequest/{prescription['id']}").status_code == 200


def test_prefer_return_minimal_and_operation_outcome(bridge: Bridge) -> None:
    nurse = fhir_client(bridge, "nurse1")
    patient = resident_of(bridge, "demo-home-1")
    minimal = nurse.post("/fhir/Observation", json=observation(patient), headers={"Prefer": "return=minimal"})
    assert minimal.status_code == 201 and minimal.content == b"" and minimal.headers["Location"]
    outcome = nurse.post("/fhir/Observation", json=observation(patient), headers={"Prefer": "return=OperationOutcome"})
    assert outcome.status_code == 201 and outcome.json()["resourceType"] == "OperationOutcome"


def test_conditional_create(bridge: Bridge) -> None:
    nurse = fhir_client(bridge, "nurse1")
    patient = resident_of(bridge, "demo-home-1")
    marker = {"system": "urn:test:device-reading", "value": "reading-4711"}
    body = {**observation(patient), "identifier": [marker]}
    condition = {"If-None-Exist": "identifier=urn:test:device-reading|reading-4711"}
    first = nurse.post("/fhir/Observation", json=body, headers=condition)
    assert first.status_code == 201
    again = nurse.post("/fhir/Observation", json=body, headers=condition)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    create(nurse, body)  # a second match, made without the condition
    ambiguous = nurse.post("/fhir/Observation", json=body, headers=condition)
    assert ambiguous.status_code == 412
    unknown = nurse.post("/fhir/Observation", json=body, headers={"If-None-Exist": "colour=blue"})
    assert unknown.status_code == 400


def test_metadata_says_what_is_supported(bridge: Bridge) -> None:
    response = bridge.client().get("/fhir/metadata")
    assert response.status_code == 200
    statement = response.json()
    assert statement["resourceType"] == "CapabilityStatement" and statement["fhirVersion"] == "4.0.1"
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    audit = {i["code"] for i in resources["AuditEvent"]["interaction"]}
    assert audit == {"read", "vread", "history-instance", "search-type"}
    observation_support = {i["code"] for i in resources["Observation"]["interaction"]}
    assert {"create", "update", "delete", "read", "vread", "search-type", "history-instance"} == observation_support
    assert "delete" not in {i["code"] for i in resources["Patient"]["interaction"]}
    params = {p["name"]: p["type"] for p in resources["Observation"]["searchParam"]}
    assert params["code"] == "token" and params["date"] == "date" and params["_lastUpdated"] == "date"
    assert "Task:focus" in resources["Task"]["searchInclude"]
    assert "DiagnosticReport:result" in resources["DiagnosticReport"]["searchInclude"]
    assert "MedicationRequest:medication" in resources["MedicationRequest"]["searchInclude"]
    assert {"transaction", "batch"} == {i["code"] for i in statement["rest"][0]["interaction"]}
    for name in ("Patient", "Observation", "Task", "Subscription", "DocumentReference", "Device"):
        assert name in resources


def test_formats_json_only(bridge: Bridge) -> None:
    nurse = fhir_client(bridge, "nurse1")
    patient = resident_of(bridge, "demo-home-1")
    assert nurse.get(f"/fhir/Patient/{patient}", headers={"Accept": "application/fhir+xml"}).status_code == 406
    assert nurse.get(f"/fhir/Patient/{patient}", params={"_format": "xml"}).status_code == 406
    plain = nurse.get(f"/fhir/Patient/{patient}", headers={"Accept": "application/json"})
    assert plain.status_code == 200 and plain.headers["content-type"].startswith("application/json")
    as_json = nurse.get(f"/fhir/Patient/{patient}", params={"_format": "json"})
    assert as_json.headers["content-type"].startswith(FHIR_JSON)
    xml = nurse.post(
        "/fhir/Observation",
        content=b"<Observation xmlns='http://hl7.org/fhir'/>",
        headers={"Content-Type": "application/fhir+xml"},
    )
    assert xml.status_code == 415 and "JSON only" in issue_text(xml)


def test_unknown_types_and_routes_answer_with_operation_outcomes(bridge: Bridge) -> None:
    nurse = fhir_client(bridge, "nurse1")
    unknown = nurse.get("/fhir/Spaceship/1")
    assert unknown.status_code == 404 and "not a resource type" in issue_text(unknown)
    assert nurse.patch("/fhir/Observation/1", json={}).status_code == 405
    assert nurse.get("/fhir/Observation/x/y/z/w").json()["resourceType"] == "OperationOutcome"
    anonymous = bridge.client().get("/fhir/Observation")
    assert anonymous.status_code == 401 and anonymous.json()["resourceType"] == "OperationOutcome"


def test_writes_are_audited(bridge: Bridge) -> None:
    nurse = fhir_client(bridge, "nurse1")
    patient = resident_of(bridge, "demo-home-1")
    created = create(nurse, observation(patient))
    with bridge.services() as services:
        events = services.repository.find("AuditEvent", {"entity": f"Observation/{created['id']}"})
    kinds = {e["subtype"][0]["code"] for e in events}
    assert AuditKind.CREATE.value in kinds


def _medication_request(patient: str, prior: str | None = None) -> dict[str, object]:
    request: dict[str, object] = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        # A record of a drug the resident takes: an active prescription of the bridge's own is signed ($sign).
        "reportedBoolean": True,
        "medicationCodeableConcept": {"text": "阿司匹林肠溶片 100mg"},
        "subject": {"reference": f"Patient/{patient}"},
    }
    if prior:
        request["priorPrescription"] = {"reference": f"MedicationRequest/{prior}"}
    return request
