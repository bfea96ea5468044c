"""Advice over real HTTP against a live bridge, on SQLite and PostgreSQL: a doctor sends advice with
follow-up tasks through `$advise`; the home's nurse acknowledges it once and completes the tasks; the
wrong home, the wrong role, a hospital without a contract and bad input are refused with nothing
stored; every step and clock is in the loop tracker's tables."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from bridge.advice.codes import ADVICE, CATEGORY_SYSTEM, FOLLOW_UP, TASK_CODE_SYSTEM
from bridge.advice.views import home_advice, resident_advice
from bridge.auth.principal import Principal
from bridge.auth.resolve import user_principal
from bridge.clock import as_utc
from bridge.directory.codes import OrgKind
from bridge.results.point_of_care import CHINA_STANDARD_TIME
from bridge.services import Services
from tests.bridge.advice.advice_support import advice_resident, advise, clocks, fhir, observation_of, steps, task_part
from tests.bridge.api.fhir_support import system_client
from tests.bridge.api.test_access_http import new_account, new_org
from tests.conftest import Bridge


def now(bridge: Bridge) -> datetime:
    return bridge.clock.now()


def principal_of(services: Services, username: str) -> Principal:
    account = services.accounts.by_username(username)
    assert account is not None
    return user_principal(services, account)


def tasks_of(client: httpx.Client, communication_id: str) -> list[dict[str, Any]]:
    """The advice's tasks in the order they were given (their due dates here)."""
    found = client.get("/fhir/Task", params={"focus": f"Communication/{communication_id}"})
    assert found.status_code == 200, found.text
    tasks = [entry["resource"] for entry in found.json().get("entry", [])]
    return sorted(tasks, key=lambda t: str(t["restriction"]["period"]["end"]))


def acknowledge(client: httpx.Client, communication_id: str) -> httpx.Response:
    return client.post(f"/fhir/Communication/{communication_id}/$acknowledge")


def advice_count(bridge: Bridge, patient_id: str) -> int:
    with bridge.services() as services:
        return len(services.repository.find("Communication", {"patient": f"Patient/{patient_id}"})) + len(
            services.repository.find("Task", {"patient": f"Patient/{patient_id}"})
        )


def test_doctor_sends_advice_the_home_acknowledges_it_once(bridge: Bridge) -> None:
    patient = advice_resident(bridge)
    potassium = observation_of(bridge, patient)
    doctor, nurse = fhir(bridge, "doctor"), fhir(bridge, "nurse1")
    due_bp = now(bridge) + timedelta(days=7)
    due_k = (now(bridge).astimezone(CHINA_STANDARD_TIME) + timedelta(days=3)).date().isoformat()
    sent = advise(
        doctor,
        patient,
        "血钾偏高，暂停补钾，低钾饮食。",
        task_part("每日测两次血压，连续 7 天", due_bp),
        task_part("3 天后复查血钾", due_k),
        about=(potassium,),
    )
    assert sent.status_code == 201, sent.text
    communication = sent.json()
    assert sent.headers["Location"].endswith(f"/Communication/{communication['id']}/_history/1")
    assert communication["status"] == "in-progress"
    assert {"system": CATEGORY_SYSTEM, "code": ADVICE, "display": "Advice"} in communication["category"][0]["coding"]
    assert communication["subject"] == {"reference": f"Patient/{patient}"}
    assert communication["sender"]["reference"] == "Practitioner/demo-dr-li"
    assert communication["recipient"] == [{"reference": "Organization/demo-home-1"}]
    assert communication["about"] == [{"reference": potassium}]
    assert communication["payload"] == [{"contentString": "血钾偏高，暂停补钾，低钾饮食。"}]

    # The nurse finds the advice and its tasks with her own FHIR access.
    assert nurse.get(f"/fhir/Communication/{communication['id']}").status_code == 200
    tasks = tasks_of(nurse, communication["id"])
    assert [t["description"] for t in tasks] == ["3 天后复查血钾", "每日测两次血压，连续 7 天"]
    for task in tasks:
        assert task["status"] == "requested" and task["intent"] == "order"
        assert task["code"]["coding"][0] == {"system": TASK_CODE_SYSTEM, "code": FOLLOW_UP, "display": "Follow-up"}
        assert task["owner"] == {"reference": "Organization/demo-home-1"}
        assert task["focus"] == {"reference": f"Communication/{communication['id']}"}
        assert task["requester"]["reference"] == "Practitioner/demo-dr-li"
    potassium_task, bp_task = tasks
    bp_due = datetime.fromisoformat(str(bp_task["restriction"]["period"]["end"]).replace("Z", "+00:00"))
    assert abs(bp_due - due_bp) < timedelta(seconds=1)
    # A date alone is due by the end of that day in the homes' time (UTC+8).
    k_due = datetime.fromisoformat(str(potassium_task["restriction"]["period"]["end"]).replace("Z", "+00:00"))
    assert k_due == datetime.fromisoformat(f"{due_k}T23:59:59+08:00")

    # The loop tracker recorded the step and started the acknowledgement and both tasks' clocks.
    sent_step = [s for s in steps(bridge, patient) if s["step"] == "advice-sent"]
    assert len(sent_step) == 1
    assert sent_step[0]["subject"] == f"Communication/{communication['id']}"
    assert (sent_step[0]["home_id"], sent_step[0]["hospital_id"]) == ("demo-home-1", "demo-hospital")
    assert sent_step[0]["actor_reference"] == "Practitioner/demo-dr-li"
    running = {c["subject"]: c for c in clocks(bridge, patient)}
    ack_clock = running[f"Communication/{communication['id']}"]
    assert ack_clock["kind"] == "advice-ack" and ack_clock["responsible_id"] == "demo-home-1"
    assert ack_clock["done_at"] is None
    assert abs(as_utc(running[f"Task/{bp_task['id']}"]["due_at"]) - due_bp) < timedelta(seconds=1)
    assert running[f"Task/{potassium_task['id']}"]["kind"] == "follow-up"

    # Another home's nurse is told it does not exist; the doctor is not the one to acknowledge.
    assert acknowledge(fhir(bridge, "nurse2"), communication["id"]).status_code == 404
    assert acknowledge(doctor, communication["id"]).status_code == 403
    done = acknowledge(nurse, communication["id"])
    assert done.status_code == 200, done.text
    acknowledged = done.json()
    assert acknowledged["status"] == "completed" and acknowledged["received"]
    assert acknowledged["note"][-1]["authorReference"]["reference"] == "Practitioner/demo-nurse-wang"
    assert "王芳" in acknowledged["note"][-1]["text"]
    again = acknowledge(fhir(bridge, "nurse1"), communication["id"])
    assert again.status_code == 409 and again.json()["resourceType"] == "OperationOutcome"
    assert [s["step"] for s in steps(bridge, patient)] == ["advice-sent", "advice-acknowledged"]
    stopped = {c["subject"]: c for c in clocks(bridge, patient)}[f"Communication/{communication['id']}"]
    assert stopped["done_at"] is not None and stopped["outcome"] == "met"


def test_tasks_are_completed_by_the_home_and_show_overdue_when_late(bridge: Bridge) -> None:
    patient = advice_resident(bridge)
    doctor, nurse, other_nurse = fhir(bridge, "doctor"), fhir(bridge, "nurse1"), fhir(bridge, "nurse2")
    sent = advise(
        doctor,
        patient,
        "注意观察血压。",
        task_part("测血压", now(bridge) + timedelta(minutes=3)),
        task_part("记录出入量", now(bridge) + timedelta(days=2)),
    )
    assert sent.status_code == 201, sent.text
    blood_pressure, fluids = tasks_of(nurse, sent.json()["id"])
    with bridge.services() as services:
        principal = principal_of(services, "nurse1")
        mine = [t for t in home_advice(services, principal).open_tasks if t.patient_id == patient]
        assert [t.overdue for t in mine] == [False, False]
    # Five minutes on (less than a bearer token's ten-minute lifetime): the first task is late.
    with bridge.clock.advanced(timedelta(minutes=5)):
        with bridge.services() as services:
            principal = principal_of(services, "nurse1")
            view = home_advice(services, principal)
            mine = [t for t in view.open_tasks if t.patient_id == patient]
            assert [(t.description, t.overdue) for t in mine] == [("测血压", True), ("记录出入量", False)]
            assert view.overdue >= 1
            # Unacknowledged advice comes first on the nurse's list.
            assert not view.advice[0].acknowledged

        assert other_nurse.post(f"/fhir/Task/{blood_pressure['id']}/$complete").status_code == 404
        assert doctor.post(f"/fhir/Task/{blood_pressure['id']}/$complete").status_code == 403
        note = {"resourceType": "Parameters", "parameter": [{"name": "note", "valueString": "138/82 mmHg"}]}
        completed = nurse.post(f"/fhir/Task/{blood_pressure['id']}/$complete", json=note)
        assert completed.status_code == 200, completed.text
        assert completed.json()["status"] == "completed"
        assert "138/82 mmHg" in completed.json()["note"][-1]["text"]
        assert nurse.post(f"/fhir/Task/{blood_pressure['id']}/$complete").status_code == 409

    # The sending hospital withdraws the other task; the home cannot.
    assert nurse.post(f"/fhir/Task/{fluids['id']}/$cancel").status_code == 403
    cancelled = doctor.post(
        f"/fhir/Task/{fluids['id']}/$cancel",
        json={"resourceType": "Parameters", "parameter": [{"name": "reason", "valueString": "已住院"}]},
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    by_subject = {c["subject"]: c for c in clocks(bridge, patient)}
    late = by_subject[f"Task/{blood_pressure['id']}"]
    assert late["outcome"] == "met" and as_utc(late["done_at"]) > as_utc(late["due_at"])  # met, but late
    assert by_subject[f"Task/{fluids['id']}"]["outcome"] == "cancelled"
    assert [s["step"] for s in steps(bridge, patient)] == ["advice-sent", "task-completed", "task-cancelled"]
    with bridge.services() as services:
        principal = principal_of(services, "doctor")
        (item,) = resident_advice(services, principal, patient)
        assert [t.status for t in item.tasks] == ["completed", "cancelled"]


def test_bad_advice_is_refused_and_nothing_is_stored(bridge: Bridge) -> None:
    patient = advice_resident(bridge)
    other_resident = advice_resident(bridge, "demo-home-2")
    doctor = fhir(bridge, "doctor")
    future = now(bridge) + timedelta(days=1)
    refusals: list[tuple[httpx.Response, int, str]] = [
        (advise(doctor, patient, "复查", task_part("复查血钾", now(bridge) - timedelta(minutes=5))), 422, "task.0.due"),
        (advise(doctor, patient, "复查", task_part("复查血钾", date(2020, 1, 1).isoformat())), 422, "task.0.due"),
        (advise(doctor, patient, "   ", task_part("复查血钾", future)), 422, "text"),
        (advise(doctor, patient, "复查", task_part(" ", future)), 422, "task.0.description"),
        (advise(doctor, patient, "复查", task_part("复查", "2026-13-45")), 422, "task.0.due"),
        (advise(doctor, patient, "复查", task_part("复查", "2099-01-01T08:00:00")), 422, "task.0.due"),
        (advise(doctor, patient, "复查", about=(observation_of(bridge, other_resident),)), 422, "about.0"),
        (advise(fhir(bridge, "nurse1"), patient, "自己发建议"), 403, ""),
        (advise(doctor, "no-such-resident", "复查"), 404, ""),
    ]
    for response, status, field in refusals:
        assert response.status_code == status, response.text
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome"
        if field:
            assert field in [e for issue in outcome["issue"] for e in issue.get("expression", [])], outcome
    wrong_body = doctor.post(f"/fhir/Patient/{patient}/$advise", json={"resourceType": "Communication"})
    assert wrong_body.status_code == 422
    # A hospital serving another home only: the resident is not found for its doctors.
    home = new_org(bridge, OrgKind.NURSING_HOME)
    hospital = new_org(bridge, OrgKind.INTERNET_HOSPITAL, contract_with=home)
    stranger = fhir(bridge, new_account(bridge, "doctor", hospital))
    assert advise(stranger, patient, "不是签约医院", task_part("复查", future)).status_code == 404
    assert advice_count(bridge, patient) == 0
    assert steps(bridge, patient) == [] and clocks(bridge, patient) == []


def test_plain_fhir_writes_cannot_bypass_the_workflow(bridge: Bridge) -> None:
    patient = advice_resident(bridge)
    doctor, nurse = fhir(bridge, "doctor"), fhir(bridge, "nurse1")
    sent = advise(doctor, patient, "低盐饮食。", task_part("称体重", now(bridge) + timedelta(days=1)))
    communication = sent.json()
    (task,) = tasks_of(nurse, communication["id"])
    forged = {key: value for key, value in communication.items() if key not in ("id", "meta")}
    assert doctor.post("/fhir/Communication", json=forged).status_code == 422
    acknowledged = {**communication, "status": "completed"}
    refused = nurse.put(f"/fhir/Communication/{communication['id']}", json=acknowledged)
    assert refused.status_code == 422 and "$acknowledge" in refused.text
    assert nurse.put(f"/fhir/Task/{task['id']}", json={**task, "status": "completed"}).status_code == 422
    home_system = system_client(bridge, "demo-home-1", "system/Task.cruds system/Communication.cruds system/Patient.rs")
    assert home_system.delete(f"/fhir/Task/{task['id']}").status_code == 422
    assert home_system.delete(f"/fhir/Communication/{communication['id']}").status_code == 422
    copied = {key: value for key, value in task.items() if key not in ("id", "meta", "code")}
    assert doctor.post("/fhir/Task", json=copied).status_code == 422  # names the advice: still refused
    assert [s["step"] for s in steps(bridge, patient)] == ["advice-sent"]


def test_critical_alerts_still_acknowledge_on_the_shared_path(bridge: Bridge) -> None:
    doctor = fhir(bridge, "doctor")
    assert acknowledge(doctor, "no-such-communication").status_code == 404
    patient = advice_resident(bridge)
    with bridge.services() as services:
        plain = services.repository.create(
            {
                "resourceType": "Communication",
                "status": "in-progress",
                "subject": {"reference": f"Patient/{patient}"},
                "sent": datetime.now(UTC).isoformat(),
            }
        )
    # Neither advice nor a critical alert: not found, as before advice existed.
    assert acknowledge(fhir(bridge, "nurse1"), plain["id"]).status_code == 404
    assert acknowledge(doctor, plain["id"]).status_code == 404


def test_systems_send_acknowledge_and_complete_for_their_organisations(bridge: Bridge) -> None:
    patient = advice_resident(bridge)
    hospital = system_client(bridge, "demo-hospital", "system/Communication.crus system/Task.crus system/Patient.rs")
    home = system_client(bridge, "demo-home-1", "system/Communication.rus system/Task.rus system/Patient.rs")
    sent = advise(hospital, patient, "复查心电图。", task_part("做心电图", now(bridge) + timedelta(days=1)))
    assert sent.status_code == 201, sent.text
    assert sent.json()["sender"]["reference"] == "Organization/demo-hospital"
    assert acknowledge(home, sent.json()["id"]).status_code == 200
    (task,) = tasks_of(home, sent.json()["id"])
    assert home.post(f"/fhir/Task/{task['id']}/$complete").status_code == 200
    other_home = system_client(bridge, "demo-home-2", "system/Task.rus system/Patient.rs")
    assert other_home.post(f"/fhir/Task/{task['id']}/$complete").status_code == 404
    assert [s["step"] for s in steps(bridge, patient)] == ["advice-sent", "advice-acknowledged", "task-completed"]
