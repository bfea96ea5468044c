"""Ways around the workflow, each closed: the plain FHIR API cannot sign, edit a signed prescription,
route a resident to a pharmacy, record or complete a dispense, or write a signature; odd values in the
operations' bodies answer 4xx, never 500."""

from __future__ import annotations

import copy
from typing import Any

from tests.bridge.api.fhir_support import issue_text, system_client
from tests.bridge.prescriptions.workflow_support import draft, fhir, parameters, prescribable_resident, signed_task
from tests.conftest import Bridge


def _accepted(bridge: Bridge) -> dict[str, Any]:
    signed = signed_task(bridge, prescribable_resident(bridge))
    assert fhir(bridge, "pharmacist").post(f"/fhir/Task/{signed['task']['id']}/$accept").status_code == 200
    return signed


def test_the_reported_flag_is_no_way_around_signing(bridge: Bridge) -> None:
    patient = prescribable_resident(bridge)
    doctor = fhir(bridge, "doctor")
    reported_draft = doctor.post("/fhir/MedicationRequest", json={**draft(patient), "reportedBoolean": True})
    assert reported_draft.status_code == 422
    created = doctor.post("/fhir/MedicationRequest", json=draft(patient)).json()
    flagged = {**created, "status": "active", "reportedBoolean": True}
    assert doctor.put(f"/fhir/MedicationRequest/{created['id']}", json=flagged).status_code == 422
    record = doctor.post(
        "/fhir/MedicationRequest", json={**draft(patient), "status": "active", "reportedBoolean": True}
    )
    assert record.status_code == 201
    assert doctor.post(f"/fhir/MedicationRequest/{record.json()['id']}/$sign").status_code == 409
    signed = signed_task(bridge, patient)["medicationRequest"]
    raised = copy.deepcopy(signed)
    raised["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] = 500
    for attempt in (raised, {**raised, "reportedBoolean": True}):
        assert doctor.put(f"/fhir/MedicationRequest/{signed['id']}", json=attempt).status_code in {409, 422}
    assert (
        doctor.get(f"/fhir/MedicationRequest/{signed['id']}").json()["meta"]["versionId"] == signed["meta"]["versionId"]
    )


def test_no_task_routes_a_resident_to_a_pharmacy_but_signing(bridge: Bridge) -> None:
    patient = prescribable_resident(bridge)
    doctor, pharmacist = fhir(bridge, "doctor"), fhir(bridge, "pharmacist")
    fake = {
        "resourceType": "Task",
        "status": "ready",
        "intent": "order",
        "code": {"text": "x"},
        "for": {"reference": f"Patient/{patient}"},
        "owner": {"reference": "Organization/demo-pharmacy"},
    }
    assert doctor.post("/fhir/Task", json=fake).status_code == 409
    request = doctor.post("/fhir/MedicationRequest", json=draft(patient)).json()
    absolute = {
        **fake,
        "owner": {"reference": "Organization/demo-hospital"},
        "code": {"coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}]},
        "focus": {"reference": f"{bridge.url}/fhir/MedicationRequest/{request['id']}"},
    }
    assert doctor.post("/fhir/Task", json=absolute).status_code == 409
    based_on = {**fake, "owner": {"reference": "Organization/demo-hospital"}}
    based_on["basedOn"] = [{"reference": f"MedicationRequest/{request['id']}"}]
    assert doctor.post("/fhir/Task", json=based_on).status_code == 409
    assert pharmacist.get(f"/fhir/Patient/{patient}").status_code == 404
    signed_task(bridge, patient)
    assert pharmacist.get(f"/fhir/Patient/{patient}").status_code == 200


def test_dispenses_are_recorded_and_completed_only_by_the_operations(bridge: Bridge) -> None:
    signed = _accepted(bridge)
    request, task = signed["medicationRequest"], signed["task"]
    pharmacist, nurse = fhir(bridge, "pharmacist"), fhir(bridge, "nurse1")
    completed = {
        "resourceType": "MedicationDispense",
        "status": "completed",
        "medicationReference": request["medicationReference"],
        "subject": request["subject"],
        "authorizingPrescription": [{"reference": f"MedicationRequest/{request['id']}"}],
        "quantity": {"value": 28, "unit": "片"},
    }
    assert pharmacist.post("/fhir/MedicationDispense", json=completed).status_code == 409
    dispensed = pharmacist.post(
        f"/fhir/Task/{task['id']}/$dispense",
        json={"resourceType": "MedicationDispense", "quantity": {"value": 28, "unit": "片"}},
    ).json()
    reference = dispensed["output"][0]["valueReference"]["reference"]
    stored = nurse.get(f"/fhir/{reference}").json()
    assert nurse.put(f"/fhir/{reference}", json={**stored, "status": "completed"}).status_code in {403, 409}
    assert nurse.get(f"/fhir/{reference}").json()["status"] == "in-progress"


def test_signatures_cannot_be_written_through_the_api(bridge: Bridge) -> None:
    signed = signed_task(bridge, prescribable_resident(bridge))
    provenance = signed["provenance"]
    forged = {k: v for k, v in copy.deepcopy(provenance).items() if k not in {"id", "meta"}}
    forged["agent"][0]["who"] = forged["signature"][0]["who"] = {"reference": "Practitioner/demo-dr-chen"}
    forged["recorded"] = "2099-01-01T00:00:00Z"
    doctor = fhir(bridge, "doctor")
    refused = doctor.post("/fhir/Provenance", json=forged)
    assert refused.status_code == 409, refused.text
    unsigned = {**forged, "signature": []}
    unsigned.pop("signature")
    assert doctor.post("/fhir/Provenance", json=unsigned).status_code == 409
    # The pharmacy still verifies the doctor's own signature.
    accepted = fhir(bridge, "pharmacist").post(f"/fhir/Task/{signed['task']['id']}/$accept")
    assert accepted.status_code == 200, accepted.text


def test_a_prescription_changed_after_signing_is_not_accepted(bridge: Bridge) -> None:
    signed = signed_task(bridge, prescribable_resident(bridge))
    request = copy.deepcopy(signed["medicationRequest"])
    request["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] = 50
    with bridge.services() as services:
        services.repository.update(request)  # behind the API's back, as a tampered database would be
    refused = fhir(bridge, "pharmacist").post(f"/fhir/Task/{signed['task']['id']}/$accept")
    assert refused.status_code == 409 and "payload-mismatch" in issue_text(refused)


def test_only_the_prescribing_hospital_cancels(bridge: Bridge) -> None:
    signed = signed_task(bridge, prescribable_resident(bridge))
    other = system_client(bridge, "demo-hospital", "system/Task.rus system/Patient.rs")
    assert (
        other.post(f"/fhir/Task/{signed['task']['id']}/$cancel", json=parameters(reason="医院系统取消")).status_code
        == 200
    )
    with bridge.services() as services:
        from bridge.directory.codes import ContractKind, OrgKind
        from bridge.directory.contracts import contract_resource
        from bridge.directory.organizations import organization_resource

        services.repository.update(
            organization_resource(OrgKind.INTERNET_HOSPITAL, "第二互联网医院", "HOSP2", resource_id="zz-hospital-2")
        )
        services.repository.update(
            contract_resource(
                ContractKind.TELEMEDICINE,
                "zz-hospital-2",
                "demo-home-1",
                services.now().date(),
                resource_id="zz-h2-home1",
            )
        )
    second = signed_task(bridge, prescribable_resident(bridge))["task"]
    stranger = system_client(bridge, "zz-hospital-2", "system/Task.rus system/Patient.rs")
    assert stranger.get(f"/fhir/Task/{second['id']}").status_code == 200  # it serves the home: it sees the Task
    refused = stranger.post(f"/fhir/Task/{second['id']}/$cancel", json=parameters(reason="不是本院的处方"))
    assert refused.status_code == 403
    with bridge.services() as services:
        services.repository.delete("OrganizationAffiliation", "zz-h2-home1")


def test_odd_values_in_operation_bodies_are_4xx(bridge: Bridge) -> None:
    task = _accepted(bridge)["task"]
    pharmacist = fhir(bridge, "pharmacist")
    for body in (
        {"resourceType": "MedicationDispense", "quantity": 28},
        {"resourceType": "MedicationDispense", "quantity": {"value": 28}, "authorizingPrescription": "x"},
        {"resourceType": "MedicationDispense", "quantity": {"value": True}},
        {"resourceType": "MedicationDispense", "quantity": {"value": 20, "unit": "盒"}},
    ):
        answer = pharmacist.post(f"/fhir/Task/{task['id']}/$dispense", json=body)
        assert answer.status_code == 422, (body, answer.text)
    assert (
        pharmacist.post(
            f"/fhir/Task/{task['id']}/$dispense", json={"resourceType": "MedicationDispense", "quantity": {"value": 28}}
        ).status_code
        == 200
    )
    pharmacist.post(
        f"/fhir/Task/{task['id']}/$dispatch",
        json=parameters(
            courier="顺丰", trackingNumber="SF1", expectedArrival={"valueDateTime": "2099-01-01T08:00:00+08:00"}
        ),
    )
    nurse = fhir(bridge, "nurse1")
    # Python's own JSON (and so some clients) write NaN and Infinity; the body is taken as sent.
    for raw in ('{"valueDecimal": NaN}', '{"valueDecimal": Infinity}', '{"valueString": "abc"}'):
        body = f'{{"resourceType": "Parameters", "parameter": [{{"name": "quantityReceived", {raw[1:-1]}}}]}}'
        answer = nurse.post(f"/fhir/Task/{task['id']}/$confirm-receipt", content=body.encode())
        assert answer.status_code in {400, 422}, (raw, answer.text)
    assert nurse.get(f"/fhir/Task/{task['id']}").json()["status"] == "in-progress"


def test_a_draft_given_up_is_deleted_but_a_cancelled_prescription_stays(bridge: Bridge) -> None:
    patient = prescribable_resident(bridge)
    doctor = fhir(bridge, "doctor")
    created = doctor.post("/fhir/MedicationRequest", json=draft(patient)).json()
    abandoned = doctor.put(f"/fhir/MedicationRequest/{created['id']}", json={**created, "status": "cancelled"})
    assert abandoned.status_code == 200, abandoned.text
    assert doctor.delete(f"/fhir/MedicationRequest/{created['id']}").status_code == 204
    signed = signed_task(bridge, patient)
    doctor.post(f"/fhir/Task/{signed['task']['id']}/$cancel", json=parameters(reason="家属要求暂停用药"))
    request_id = signed["medicationRequest"]["id"]
    assert doctor.get(f"/fhir/MedicationRequest/{request_id}").json()["status"] == "cancelled"
    assert doctor.delete(f"/fhir/MedicationRequest/{request_id}").status_code == 409
    cancelled = doctor.get(f"/fhir/MedicationRequest/{request_id}").json()
    assert doctor.put(f"/fhir/MedicationRequest/{request_id}", json={**cancelled, "status": "draft"}).status_code == 409
