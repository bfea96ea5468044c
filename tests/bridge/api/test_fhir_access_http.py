"""Who sees what through /fhir: reads, searches (filtered in SQL, so totals never count hidden
records), _include, history and writes, for every kind of organisation."""

from __future__ import annotations

from typing import Any

from tests.bridge.api.fhir_support import (
    create,
    fhir_client,
    issue_text,
    observation,
    resident_of,
    system_client,
    unique_tag,
)
from tests.bridge.subscriptions.support import subscription as backport_subscription
from tests.conftest import Bridge


def _tagged_observations(bridge: Bridge, tag: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """One Observation in each home, both carrying the same identifier."""
    made = []
    for nurse, home in (("nurse1", "demo-home-1"), ("nurse2", "demo-home-2")):
        body = {**observation(resident_of(bridge, home)), "identifier": [{"system": "urn:test:access", "value": tag}]}
        made.append(create(fhir_client(bridge, nurse), body))
    return made[0], made[1]


def test_nurses_see_only_their_own_homes_records(bridge: Bridge) -> None:
    tag = unique_tag()
    home1, home2 = _tagged_observations(bridge, tag)
    nurse1 = fhir_client(bridge, "nurse1")
    found = nurse1.get("/fhir/Observation", params={"identifier": f"urn:test:access|{tag}"}).json()
    assert found["total"] == 1 and [e["resource"]["id"] for e in found["entry"]] == [home1["id"]]
    hidden = nurse1.get(f"/fhir/Observation/{home2['id']}")
    absent = nurse1.get("/fhir/Observation/never-existed")
    assert hidden.status_code == absent.status_code == 404
    assert issue_text(hidden).replace(home2["id"], "X") == issue_text(absent).replace("never-existed", "X")
    assert nurse1.get(f"/fhir/Observation/{home2['id']}/_history").status_code == 404
    assert nurse1.get(f"/fhir/Observation/{home2['id']}/_history/1").status_code == 404
    patients = nurse1.get("/fhir/Patient", params={"_count": "200"}).json()
    homes = {e["resource"]["managingOrganization"]["reference"] for e in patients["entry"]}
    assert homes == {"Organization/demo-home-1"}


def test_the_hospital_sees_contracted_homes(bridge: Bridge) -> None:
    tag = unique_tag()
    _tagged_observations(bridge, tag)
    doctor = fhir_client(bridge, "doctor")
    found = doctor.get("/fhir/Observation", params={"identifier": f"urn:test:access|{tag}"}).json()
    assert found["total"] == 2  # the demo hospital serves both homes


def test_nothing_leaks_through_include_or_revinclude(bridge: Bridge) -> None:
    nurse1, nurse2 = fhir_client(bridge, "nurse1"), fhir_client(bridge, "nurse2")
    mine, theirs = resident_of(bridge, "demo-home-1"), resident_of(bridge, "demo-home-2")
    tag = unique_tag()
    hidden_obs = create(nurse2, observation(theirs))
    # A report in home 1 that (wrongly) lists home 2's Observation as a result: only admins could make
    # one, so write it straight into the store.
    with bridge.services() as services:
        report = services.repository.create(
            {
                "resourceType": "DiagnosticReport",
                "status": "final",
                "code": {"text": tag},
                "identifier": [{"system": "urn:test:leak", "value": tag}],
                "subject": {"reference": f"Patient/{mine}"},
                "result": [{"reference": f"Observation/{hidden_obs['id']}"}],
            }
        )
    bundle = nurse1.get(
        "/fhir/DiagnosticReport", params={"identifier": f"urn:test:leak|{tag}", "_include": "DiagnosticReport:result"}
    ).json()
    ids = [e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] != "OperationOutcome"]
    assert ids == [report["id"]]
    revinclude = nurse2.get(
        "/fhir/Observation", params={"_id": hidden_obs["id"], "_revinclude": "DiagnosticReport:result"}
    ).json()
    assert [e["resource"]["id"] for e in revinclude["entry"]] == [hidden_obs["id"]]


def test_pharmacy_sees_only_routed_residents(bridge: Bridge) -> None:
    from sqlalchemy import select

    from bridge.prescriptions.tables import PrescriptionStep
    from tests.bridge.prescriptions.workflow_support import prescribable_resident, signed_task

    routed_now = prescribable_resident(bridge)
    signed_task(bridge, routed_now)
    pharmacist = fhir_client(bridge, "pharmacist")
    routed = pharmacist.get("/fhir/Patient", params={"_count": "500"}).json()
    with bridge.services() as services:
        signed_to_it = select(PrescriptionStep.patient_id).where(
            PrescriptionStep.pharmacy_id == "demo-pharmacy", PrescriptionStep.step == "signed"
        )
        expected = set(services.db.scalars(signed_to_it))
    assert routed_now in expected
    assert {e["resource"]["id"] for e in routed.get("entry", [])} == expected
    assert routed["total"] == len(expected)


def test_supervisors_search_audit_events_but_see_no_clinical_records(bridge: Bridge) -> None:
    from tests.bridge.prescriptions.workflow_support import prescribable_resident

    supervisor = fhir_client(bridge, "supervisor")
    nurse = fhir_client(bridge, "nurse1")
    # A resident of its own: other tests' events about shared residents may carry a moved test clock's dates.
    patient = prescribable_resident(bridge, first_visit=False)
    nurse.get(f"/fhir/Patient/{patient}")
    events = supervisor.get("/fhir/AuditEvent", params={"patient": f"Patient/{patient}", "_sort": "-date"}).json()
    assert events["total"] >= 1
    newest = events["entry"][0]["resource"]
    assert newest["subtype"][0]["code"] == "read" and newest["outcome"] == "0"
    assert supervisor.get(f"/fhir/Patient/{patient}").status_code == 403
    assert supervisor.get("/fhir/Observation").status_code == 403
    assert nurse.get("/fhir/AuditEvent").status_code == 403


def test_audit_events_are_read_only(bridge: Bridge) -> None:
    supervisor = fhir_client(bridge, "supervisor")
    event = supervisor.get("/fhir/AuditEvent", params={"_count": "1"}).json()["entry"][0]["resource"]
    assert supervisor.put(f"/fhir/AuditEvent/{event['id']}", json=event).status_code in {403, 405}
    assert supervisor.delete(f"/fhir/AuditEvent/{event['id']}").status_code in {403, 405}


def test_scopes_limit_what_a_token_may_do(bridge: Bridge) -> None:
    patient = resident_of(bridge, "demo-home-1")
    reader = fhir_client(bridge, "nurse1", scope="user/Observation.rs user/Patient.rs")
    assert reader.get("/fhir/Observation", params={"patient": f"Patient/{patient}"}).status_code == 200
    denied = reader.post("/fhir/Observation", json=observation(patient))
    assert denied.status_code == 403 and denied.json()["issue"][0]["code"] == "forbidden"
    assert reader.get("/fhir/Condition").status_code == 403


def test_writes_only_for_visible_residents_and_moves_out_of_view_are_refused(bridge: Bridge) -> None:
    home1 = system_client(bridge, "demo-home-1", "system/Patient.crus")
    home2 = system_client(bridge, "demo-home-2", "system/Patient.crus")
    patient = home1.get(f"/fhir/Patient/{resident_of(bridge, 'demo-home-1', 1)}").json()
    moved = {**patient, "managingOrganization": {"reference": "Organization/demo-home-2"}}
    response = home1.put(f"/fhir/Patient/{patient['id']}", json=moved)
    assert response.status_code == 422
    assert home1.get(f"/fhir/Patient/{patient['id']}").json()["managingOrganization"] == patient["managingOrganization"]
    edit_other = home2.put(f"/fhir/Patient/{patient['id']}", json={**patient, "gender": "other"})
    assert edit_other.status_code == 404
    admitted = {k: v for k, v in patient.items() if k not in {"id", "meta", "extension"}}
    assert home2.post("/fhir/Patient", json=admitted).status_code == 422  # not home 2's resident
    assert home1.post("/fhir/Patient", json=admitted).status_code == 201
    # Nurses read residents; admitting them is the home system's job (no Patient.c scope).
    assert fhir_client(bridge, "nurse1").post("/fhir/Patient", json=admitted).status_code == 403


def test_subscriptions_belong_to_their_organisation(bridge: Bridge) -> None:
    pharmacy = system_client(bridge, "demo-pharmacy", "system/Subscription.cruds system/Patient.rs")
    # An old-style criteria (a search, not a topic) is refused; the Backport form is kept for its owner.
    old_style = {
        "resourceType": "Subscription",
        "status": "active",
        "reason": "dispensing work list",
        "criteria": "Task?owner=Organization/demo-pharmacy",
        "channel": {
            "type": "rest-hook",
            "endpoint": "https://pharmacy.example/hook",
            "payload": "application/fhir+json",
        },
    }
    assert pharmacy.post("/fhir/Subscription", json=old_style).status_code == 422
    subscription = backport_subscription("demo-pharmacy", "https://pharmacy.example/hook")
    created = pharmacy.post("/fhir/Subscription", json=subscription)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "requested"  # active once the handshake is delivered
    mine = pharmacy.get("/fhir/Subscription").json()
    assert created.json()["id"] in {e["resource"]["id"] for e in mine["entry"]}
    hospital = system_client(bridge, "demo-hospital", "system/Subscription.cruds")
    assert hospital.get(f"/fhir/Subscription/{created.json()['id']}").status_code == 404
    assert hospital.get("/fhir/Subscription").json()["total"] == 0
