"""The plain FHIR API cannot make, change or delete a referral or its Task: only the operations can."""

from __future__ import annotations

from typing import Any

from tests.bridge.api.fhir_support import system_client
from tests.bridge.referrals.support import Network, fhir, refer_body, resident
from tests.conftest import Bridge

REFERRAL = {"coding": [{"system": "http://snomed.info/sct", "code": "3457005"}]}


def _referral(patient: str, performer: str) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "category": [REFERRAL],
        "subject": {"reference": f"Patient/{patient}"},
        "performer": [{"reference": f"Organization/{performer}"}],
    }


def test_a_referral_and_its_task_change_only_through_the_operations(bridge: Bridge, network: Network) -> None:
    patient = resident(bridge, network.home)
    doctor = fhir(bridge, network.doctor_a)
    made = doctor.post("/fhir/ServiceRequest", json=_referral(patient, network.hospital_c))
    assert made.status_code == 409, made.text
    request = doctor.post(f"/fhir/Patient/{patient}/$refer", json=refer_body()).json()
    task = doctor.get("/fhir/Task", params={"focus": f"ServiceRequest/{request['id']}"}).json()["entry"][0]["resource"]

    changed = doctor.put(f"/fhir/ServiceRequest/{request['id']}", json={**request, "status": "completed"})
    assert changed.status_code == 409, changed.text
    # Doctors delete nothing; a hospital system with delete scopes is refused by the rule itself.
    system = system_client(
        bridge, network.hospital_a, "system/ServiceRequest.cruds system/Task.cruds system/Patient.rs"
    )
    assert system.delete(f"/fhir/ServiceRequest/{request['id']}").status_code == 409
    assert doctor.put(f"/fhir/Task/{task['id']}", json={**task, "status": "completed"}).status_code == 409
    assert system.delete(f"/fhir/Task/{task['id']}").status_code == 409
    copy = {k: v for k, v in task.items() if k not in {"id", "meta"}}
    assert doctor.post("/fhir/Task", json=copy).status_code == 409
    based_on = {
        **copy,
        "focus": {"reference": f"Patient/{patient}"},
        "basedOn": [{"reference": f"ServiceRequest/{request['id']}"}],
    }
    assert doctor.post("/fhir/Task", json=based_on).status_code == 409
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": _referral(patient, network.hospital_a), "request": {"method": "POST", "url": "ServiceRequest"}}
        ],
    }
    assert doctor.post("/fhir", json=bundle).status_code == 409

    # Unchanged, and other ServiceRequests stay the plain API's.
    assert doctor.get(f"/fhir/ServiceRequest/{request['id']}").json()["meta"]["versionId"] == "1"
    assert doctor.get(f"/fhir/Task/{task['id']}").json()["status"] == "requested"
    plain = {**_referral(patient, network.hospital_a), "category": [{"text": "laboratory"}]}
    assert doctor.post("/fhir/ServiceRequest", json=plain).status_code == 201
