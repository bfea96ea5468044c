"""Referrals over the FHIR API, through a live server: refer, the receiving hospital finds, accepts and
completes; decline, cancel; every refused operation answers 4xx and changes nothing; the loop tracker
records each step and clock in the same unit of work."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bridge.loops.tables import LoopClock, LoopStep
from tests.bridge.api.fhir_support import issue_text, system_client
from tests.bridge.referrals.support import (
    Network,
    fhir,
    observation,
    parameters,
    recent,
    refer_body,
    reference,
    resident,
)
from tests.conftest import Bridge


def _steps(bridge: Bridge, subject: str) -> list[LoopStep]:
    with bridge.services() as services:
        rows = services.db.scalars(select(LoopStep).where(LoopStep.subject == subject).order_by(LoopStep.id)).all()
        services.db.expunge_all()
        return list(rows)


def _clocks(bridge: Bridge, subject: str) -> dict[str, LoopClock]:
    with bridge.services() as services:
        rows = services.db.scalars(select(LoopClock).where(LoopClock.subject == subject)).all()
        services.db.expunge_all()
        return {row.kind: row for row in rows}


def _task_of(client: Any, request_id: str) -> dict[str, Any]:
    found = client.get("/fhir/Task", params={"focus": f"ServiceRequest/{request_id}"})
    assert found.status_code == 200, found.text
    (entry,) = found.json()["entry"]
    return dict(entry["resource"])


def _appointment(bridge: Bridge, days: float = 2) -> dict[str, str]:
    return {"valueDateTime": (bridge.clock.now() + timedelta(days=days)).isoformat()}


def _referrals_of(bridge: Bridge, patient_id: str) -> list[dict[str, Any]]:
    with bridge.services() as services:
        found: list[dict[str, Any]] = services.repository.find("ServiceRequest", {"patient": f"Patient/{patient_id}"})
        return found


def test_referral_to_another_contracted_hospital_is_found_accepted_and_completed(
    bridge: Bridge, network: Network
) -> None:
    patient = resident(bridge, network.home)
    glucose = observation(bridge, patient, recent(bridge))
    older = observation(bridge, patient, recent(bridge, 20), 6.1)
    doctor = fhir(bridge, network.doctor_a)
    created = doctor.post(
        f"/fhir/Patient/{patient}/$refer",
        json=refer_body(
            hospital=reference(f"Organization/{network.hospital_b}"),
            supportingInfo=[reference(glucose), reference(older)],
            note="家属陪同",
            reasonCode={
                "valueCoding": {"system": "http://snomed.info/sct", "code": "404640003", "display": "Dizziness"}
            },
        ),
    )
    assert created.status_code == 201, created.text
    request = created.json()
    assert created.headers["Location"].endswith(f"/ServiceRequest/{request['id']}/_history/1")
    assert request["status"] == "active" and request["intent"] == "order" and request["priority"] == "urgent"
    assert request["category"][0]["coding"][0]["code"] == "3457005"
    assert request["code"]["coding"][0]["code"] == "11429006"
    assert request["subject"]["reference"] == f"Patient/{patient}"
    assert request["requester"]["reference"] == f"Practitioner/{network.practitioner_a}"
    assert request["performer"] == [{"reference": f"Organization/{network.hospital_b}"}]
    assert request["reasonCode"][-1]["text"] == "反复头晕，需神经内科面诊"
    assert request["reasonCode"][0]["coding"][0]["code"] == "404640003"
    assert [s["reference"] for s in request["supportingInfo"]] == [glucose, older]
    assert request["note"][0]["text"] == "家属陪同" and request["authoredOn"]

    # The receiving hospital's own system finds it by performer and its Task by owner.
    hospital = system_client(bridge, network.hospital_b, "system/ServiceRequest.rs system/Task.rus system/Patient.rs")
    by_performer = hospital.get("/fhir/ServiceRequest", params={"performer": f"Organization/{network.hospital_b}"})
    assert request["id"] in {e["resource"]["id"] for e in by_performer.json()["entry"]}
    owned = hospital.get(
        "/fhir/Task",
        params={"owner": f"Organization/{network.hospital_b}", "status": "requested", "_include": "Task:focus"},
    ).json()
    task = next(
        e["resource"]
        for e in owned["entry"]
        if e["resource"].get("focus", {}).get("reference") == f"ServiceRequest/{request['id']}"
    )
    assert task["status"] == "requested" and task["intent"] == "order"
    assert task["for"]["reference"] == f"Patient/{patient}"
    assert task["requester"]["reference"] == f"Practitioner/{network.practitioner_a}"
    assert request["id"] in {
        e["resource"]["id"] for e in owned["entry"] if e["resource"]["resourceType"] == "ServiceRequest"
    }

    accepted = hospital.post(
        f"/fhir/ServiceRequest/{request['id']}/$accept",
        json=parameters(appointment=_appointment(bridge), note="神经内科门诊 3 楼"),
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "active" and accepted.json()["occurrenceDateTime"]
    task = _task_of(hospital, request["id"])
    assert task["status"] == "accepted" and task["businessStatus"]["coding"][0]["code"] == "accepted"
    assert task["output"][0]["type"]["text"] == "appointment"

    completed = fhir(bridge, network.doctor_b).post(
        f"/fhir/ServiceRequest/{request['id']}/$complete", json=parameters(outcome="头颅 MRI 未见异常，继续观察")
    )
    assert completed.status_code == 200, completed.text
    assert completed.json()["status"] == "completed"
    task = _task_of(hospital, request["id"])
    assert task["status"] == "completed" and task["output"][-1]["valueString"] == "头颅 MRI 未见异常，继续观察"

    subject = f"ServiceRequest/{request['id']}"
    steps = _steps(bridge, subject)
    assert [s.step for s in steps] == ["referral-requested", "referral-accepted", "referral-completed"]
    assert {s.hospital_id for s in steps} == {network.hospital_b} and {s.home_id for s in steps} == {network.home}
    assert steps[0].actor_reference == f"Practitioner/{network.practitioner_a}"
    assert steps[1].actor_reference == f"Organization/{network.hospital_b}"
    assert len({s.loop_id for s in steps}) == 1
    clocks = _clocks(bridge, subject)
    assert set(clocks) == {"referral-response", "referral-completion"}
    assert all(c.outcome == "met" and c.responsible_id == network.hospital_b for c in clocks.values())


def test_own_hospital_by_default_and_a_decline_needs_a_reason(bridge: Bridge, network: Network) -> None:
    patient = resident(bridge, network.home)
    created = fhir(bridge, network.doctor_a).post(f"/fhir/Patient/{patient}/$refer", json=refer_body(urgency="routine"))
    assert created.status_code == 201, created.text
    request = created.json()
    assert request["performer"] == [{"reference": f"Organization/{network.hospital_a}"}]
    colleague = fhir(bridge, network.doctor_a2)
    before = _task_of(colleague, request["id"])

    for body in (parameters(), parameters(reason="  ")):
        refused = colleague.post(f"/fhir/ServiceRequest/{request['id']}/$decline", json=body)
        assert refused.status_code == 422, refused.text
        assert refused.json()["resourceType"] == "OperationOutcome"
    assert _task_of(colleague, request["id"])["meta"]["versionId"] == before["meta"]["versionId"]
    assert [s.step for s in _steps(bridge, f"ServiceRequest/{request['id']}")] == ["referral-requested"]

    declined = colleague.post(
        f"/fhir/ServiceRequest/{request['id']}/$decline", json=parameters(reason="本院无神经内科床位")
    )
    assert declined.status_code == 200, declined.text
    assert declined.json()["status"] == "revoked"
    task = _task_of(colleague, request["id"])
    assert task["status"] == "rejected" and task["statusReason"]["text"] == "本院无神经内科床位"
    subject = f"ServiceRequest/{request['id']}"
    assert [s.step for s in _steps(bridge, subject)] == ["referral-requested", "referral-declined"]
    clocks = _clocks(bridge, subject)
    assert set(clocks) == {"referral-response"} and clocks["referral-response"].outcome == "met"


def test_an_operation_in_the_wrong_state_is_a_conflict_naming_the_state(bridge: Bridge, network: Network) -> None:
    patient = resident(bridge, network.home)
    doctor = fhir(bridge, network.doctor_a)
    request = doctor.post(f"/fhir/Patient/{patient}/$refer", json=refer_body()).json()
    path = f"/fhir/ServiceRequest/{request['id']}"
    early = doctor.post(f"{path}/$complete", json=parameters(outcome="已就诊"))
    assert early.status_code == 409 and "requested" in issue_text(early)
    assert doctor.post(f"{path}/$accept", json=parameters(appointment=_appointment(bridge))).status_code == 200
    twice = doctor.post(f"{path}/$accept", json=parameters(appointment=_appointment(bridge)))
    assert twice.status_code == 409 and "accepted" in issue_text(twice)
    late = doctor.post(f"{path}/$decline", json=parameters(reason="床位已满"))
    assert late.status_code == 409 and "accepted" in issue_text(late)
    assert doctor.post(f"{path}/$complete", json=parameters(outcome="已就诊")).status_code == 200
    after = doctor.post(f"{path}/$cancel", json=parameters(reason="不需要了"))
    assert after.status_code == 409 and "completed" in issue_text(after)
    assert _task_of(doctor, request["id"])["status"] == "completed"


def test_only_the_receiving_hospital_answers_and_only_the_referring_doctor_cancels(
    bridge: Bridge, network: Network
) -> None:
    patient = resident(bridge, network.home)
    referrer = fhir(bridge, network.doctor_a)
    request = referrer.post(f"/fhir/Patient/{patient}/$refer", json=refer_body()).json()
    path = f"/fhir/ServiceRequest/{request['id']}"
    accept = parameters(appointment=_appointment(bridge))

    # A hospital with no contract with the home does not know the referral exists.
    stranger = fhir(bridge, network.doctor_c)
    assert stranger.get(path).status_code == 404
    assert stranger.post(f"{path}/$accept", json=accept).status_code == 404
    assert stranger.post(f"/fhir/Patient/{patient}/$refer", json=refer_body()).status_code == 404
    assert fhir(bridge, "doctor").post(f"{path}/$accept", json=accept).status_code == 404
    # A contracted hospital that is not the receiving one sees it but may not answer.
    other = fhir(bridge, network.doctor_b)
    assert other.get(path).status_code == 200
    assert other.post(f"{path}/$accept", json=accept).status_code == 403
    # The home's nurse sees the referral and its Task (to arrange transport) and changes nothing.
    nurse = fhir(bridge, network.nurse)
    assert nurse.get(path).status_code == 200
    assert _task_of(nurse, request["id"])["status"] == "requested"
    for operation, body in (("accept", accept), ("decline", parameters(reason="无床位")), ("cancel", parameters())):
        assert nurse.post(f"{path}/${operation}", json=body).status_code == 403, operation
    # A colleague of the referring doctor answers for the hospital but does not withdraw her referral.
    assert fhir(bridge, network.doctor_a2).post(f"{path}/$cancel", json=parameters()).status_code == 403
    assert _task_of(referrer, request["id"])["meta"]["versionId"] == "1"

    cancelled = referrer.post(f"{path}/$cancel", json=parameters(reason="家属决定暂缓就诊"))
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "revoked"
    assert _task_of(referrer, request["id"])["status"] == "cancelled"
    clocks = _clocks(bridge, f"ServiceRequest/{request['id']}")
    assert clocks["referral-response"].outcome == "cancelled"
    assert [s.step for s in _steps(bridge, f"ServiceRequest/{request['id']}")][-1] == "referral-cancelled"


def test_bad_referrals_are_refused_and_nothing_is_stored(bridge: Bridge, network: Network) -> None:
    patient = resident(bridge, network.home)
    someone_else = resident(bridge, network.home)
    theirs = observation(bridge, someone_else, recent(bridge))
    doctor = fhir(bridge, network.doctor_a)
    cases = {
        "unknown urgency": refer_body(urgency="whenever"),
        "empty reason": refer_body(reason="   "),
        "another resident's result": refer_body(supportingInfo=reference(theirs)),
        "no such result": refer_body(supportingInfo=reference("Observation/does-not-exist")),
        "not a result": refer_body(supportingInfo=reference(f"Patient/{patient}")),
        "uncontracted hospital": refer_body(hospital=reference(f"Organization/{network.hospital_c}")),
    }
    for case, body in cases.items():
        refused = doctor.post(f"/fhir/Patient/{patient}/$refer", json=body)
        assert refused.status_code == 422, (case, refused.text)
        assert refused.json()["resourceType"] == "OperationOutcome", case
    several = doctor.post(
        f"/fhir/Patient/{patient}/$refer", json=refer_body(reason="", urgency="later", supportingInfo=reference(theirs))
    )
    expressions = {e for i in several.json()["issue"] for e in i.get("expression", [])}
    assert {"reason", "urgency", "supportingInfo"} <= expressions, several.text
    not_parameters = doctor.post(f"/fhir/Patient/{patient}/$refer", json={"resourceType": "Observation"})
    assert not_parameters.status_code == 422
    nurse = fhir(bridge, network.nurse)
    assert nurse.post(f"/fhir/Patient/{patient}/$refer", json=refer_body()).status_code == 403
    hospital = system_client(
        bridge, network.hospital_a, "system/ServiceRequest.crus system/Task.crus system/Patient.rs"
    )
    assert hospital.post(f"/fhir/Patient/{patient}/$refer", json=refer_body()).status_code == 403
    assert doctor.post("/fhir/Patient/no-such-resident/$refer", json=refer_body()).status_code == 404

    assert _referrals_of(bridge, patient) == []
    with bridge.services() as services:
        assert services.db.scalars(select(LoopStep).where(LoopStep.patient_id == patient)).all() == []
        assert services.db.scalars(select(LoopClock).where(LoopClock.patient_id == patient)).all() == []


def test_an_appointment_in_the_past_is_refused(bridge: Bridge, network: Network) -> None:
    patient = resident(bridge, network.home)
    doctor = fhir(bridge, network.doctor_a)
    request = doctor.post(f"/fhir/Patient/{patient}/$refer", json=refer_body()).json()
    path = f"/fhir/ServiceRequest/{request['id']}/$accept"
    past = doctor.post(path, json=parameters(appointment=_appointment(bridge, -1)))
    assert past.status_code == 422 and "appointment" in str(past.json()["issue"])
    assert doctor.post(path, json=parameters()).status_code == 422
    assert doctor.post(path, json=parameters(appointment={"valueDateTime": "2030-01-01T09:00"})).status_code == 422
    assert _task_of(doctor, request["id"])["status"] == "requested"
    assert [s.step for s in _steps(bridge, f"ServiceRequest/{request['id']}")] == ["referral-requested"]
