"""Critical-value alerts over real HTTP: found with a FHIR search by the care team only, acknowledged by a
doctor through `$acknowledge` or the home page, and escalated to supervisors when nobody does."""

from __future__ import annotations

import json
import re
from datetime import UTC, timedelta

from sqlalchemy import select

from bridge.clock import as_utc
from bridge.db.tables import SupervisorAlert
from bridge.loops.deadlines import reset_deadline, set_deadline
from bridge.loops.tables import LoopClock
from bridge.results.critical_escalation import ALERT_KIND, escalate_overdue
from bridge.results.tables import CriticalAlert
from tests.bridge.api.fhir_support import fhir_client
from tests.bridge.results.critical_support import lab, new_resident, store_and_review
from tests.conftest import Bridge
from tests.fhir_peer import MedplumValidator, assert_all_pass
from tests.portal.test_pages_http import sign_in


def critical_alert(bridge: Bridge, value: float = 6.9, minutes_ago: int = 5) -> tuple[str, str]:
    """A new resident of home 1 with a critical potassium taken `minutes_ago`: (patient id, Communication id)."""
    when = (bridge.clock.now() - timedelta(minutes=minutes_ago)).astimezone(UTC).isoformat()
    with bridge.services() as services:
        patient = new_resident(services)
        (reference,) = store_and_review(services, patient, lab(patient["id"], "2823-3", value, when=when))
    return patient["id"], reference.removeprefix("Communication/")


def row_of(bridge: Bridge, communication_id: str) -> CriticalAlert:
    with bridge.services() as services:
        row = services.db.get(CriticalAlert, communication_id)
        assert row is not None
        services.db.expunge(row)
        return row


def acknowledge_url(communication_id: str) -> str:
    return f"/fhir/Communication/{communication_id}/$acknowledge"


def test_the_care_team_finds_the_alert_by_category_and_patient_and_no_one_else(bridge: Bridge) -> None:
    patient_id, communication_id = critical_alert(bridge)
    query = {"category": "critical-result", "patient": f"Patient/{patient_id}"}
    for username in ("doctor", "nurse1"):
        bundle = fhir_client(bridge, username).get("/fhir/Communication", params=query).json()
        assert [e["resource"]["id"] for e in bundle.get("entry", [])] == [communication_id], username
    other_home = fhir_client(bridge, "nurse2").get("/fhir/Communication", params=query)
    assert other_home.status_code == 200 and other_home.json()["total"] == 0
    assert fhir_client(bridge, "nurse2").get(f"/fhir/Communication/{communication_id}").status_code == 404


def test_a_doctor_acknowledges_once_through_the_fhir_operation(bridge: Bridge, medplum: MedplumValidator) -> None:
    _, communication_id = critical_alert(bridge, minutes_ago=5)
    doctor, nurse = fhir_client(bridge, "doctor"), fhir_client(bridge, "nurse1")
    # The other home's nurse may not know it exists; the home's nurse sees it but does not acknowledge.
    assert fhir_client(bridge, "nurse2").post(acknowledge_url(communication_id)).status_code == 404
    refused = nurse.post(acknowledge_url(communication_id))
    assert refused.status_code == 403 and refused.json()["resourceType"] == "OperationOutcome"
    assert doctor.post(acknowledge_url("no-such-alert")).status_code == 404

    response = doctor.post(acknowledge_url(communication_id))
    assert response.status_code == 200, response.text
    communication = response.json()
    assert communication["status"] == "completed" and communication["meta"]["versionId"] == "2"
    (note,) = communication["note"]
    assert note["authorReference"] == {"reference": "Practitioner/demo-dr-li", "display": "李建国"}
    assert note["text"] == "危急值已由 李建国 确认" and note["time"] == communication["received"]
    row = row_of(bridge, communication_id)
    assert row.acknowledged_by_name == "李建国" and row.acknowledged_by and row.acknowledged_by.startswith("account:")
    assert row.acknowledged_at is not None
    assert row.seconds_to_acknowledge is not None and 295 <= row.seconds_to_acknowledge <= 360
    assert nurse.get(f"/fhir/Communication/{communication_id}").json()["status"] == "completed"

    again = fhir_client(bridge, "doctor2").post(acknowledge_url(communication_id))
    assert again.status_code == 409 and "李建国" in again.text
    assert row_of(bridge, communication_id).acknowledged_by_name == "李建国"
    assert_all_pass(medplum.validate([communication]))


def test_the_doctors_home_page_lists_the_alert_and_acknowledges_it(bridge: Bridge) -> None:
    _, communication_id = critical_alert(bridge, value=7.1)
    doctor = sign_in(bridge, "doctor")
    page = doctor.get("/").text
    item = re.search(rf'<li[^>]*data-alert="{communication_id}".*?</li>', page, re.S)
    assert item, "the open alert is not on the doctor's home page"
    assert "血钾 7.1 mmol/L（危急界限 &gt; 6.2 mmol/L）" in item.group(0)
    assert f'action="/results/alerts/{communication_id}/acknowledge"' in item.group(0)
    assert 'src="/static/critical-alerts.js"' in page

    nurse_page = sign_in(bridge, "nurse1").get("/").text
    assert f'data-alert="{communication_id}"' in nurse_page and f"/results/alerts/{communication_id}" not in nurse_page
    assert f'data-alert="{communication_id}"' not in sign_in(bridge, "nurse2").get("/").text

    action = f"/results/alerts/{communication_id}/acknowledge"
    assert doctor.post(action, data={"next": "/"}).status_code == 403  # no CSRF token
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf
    done = doctor.post(action, data={"csrf_token": csrf.group(1), "next": "/"})
    assert done.status_code == 303 and done.headers["location"] == "/"
    assert f'data-alert="{communication_id}"' not in doctor.get("/").text
    again = doctor.post(action, data={"csrf_token": csrf.group(1), "next": "/"})
    assert again.status_code == 409 and "该危急值已由 李建国 确认" in again.text
    with bridge.services() as services:
        assert services.repository.read("Communication", communication_id)["status"] == "completed"
        events = services.repository.find("AuditEvent", {"entity": f"Communication/{communication_id}"})
    assert any("acknowledge" in e.get("outcomeDesc", "") for e in events)


def supervisor_alerts(bridge: Bridge, communication_id: str) -> list[dict[str, object]]:
    with bridge.services() as services:
        rows = services.db.scalars(select(SupervisorAlert).where(SupervisorAlert.kind == ALERT_KIND)).all()
        details = [json.loads(r.detail) for r in rows]
    return [d for d in details if d["communication_id"] == communication_id]


def test_unacknowledged_alerts_escalate_to_supervisors_once(bridge: Bridge) -> None:
    _, waiting = critical_alert(bridge)
    _, answered = critical_alert(bridge)
    assert fhir_client(bridge, "doctor").post(acknowledge_url(answered)).status_code == 200
    with bridge.clock.advanced(timedelta(minutes=9)), bridge.services() as services:
        assert waiting not in escalate_overdue(services)
    with bridge.clock.advanced(timedelta(minutes=10, seconds=5)):
        with bridge.services() as services:
            escalated = escalate_overdue(services)
        with bridge.services() as services:
            assert waiting not in escalate_overdue(services)  # once
    assert waiting in escalated and answered not in escalated
    (detail,) = supervisor_alerts(bridge, waiting)
    assert detail["kind"] == ALERT_KIND and detail["home"] == "demo-home-1" and detail["hospitals"] == ["demo-hospital"]
    assert detail["value"] == "6.9 mmol/L" and detail["limit"] == "> 6.2 mmol/L"
    assert supervisor_alerts(bridge, answered) == []
    assert row_of(bridge, waiting).escalated_at is not None and row_of(bridge, answered).escalated_at is None
    # The loop tracker's critical-acknowledgement clocks: one missed and alerted (by this escalation), one met.
    with bridge.services() as services:
        clocks = {
            c.subject: c
            for c in services.db.scalars(
                select(LoopClock).where(
                    LoopClock.subject.in_([f"Communication/{waiting}", f"Communication/{answered}"])
                )
            )
        }
    missed, met = clocks[f"Communication/{waiting}"], clocks[f"Communication/{answered}"]
    assert missed.kind == "critical-ack" and missed.done_at is None and missed.overdue_alerted_at is not None
    assert met.outcome == "met" and met.overdue_alerted_at is None and as_utc(met.done_at) <= as_utc(met.due_at)
    # Escalated, it still waits for a doctor, and the doctor's page says it went to the supervisors.
    page = sign_in(bridge, "doctor").get("/").text
    item = re.search(rf'<li[^>]*data-alert="{waiting}".*?</li>', page, re.S)
    assert item and 'data-testid="critical-escalated"' in item.group(0)


def test_an_alert_escalates_by_the_deadline_in_force_when_it_was_raised(bridge: Bridge) -> None:
    _, before = critical_alert(bridge)  # due in 10 minutes
    try:
        with bridge.services() as services:
            set_deadline(services, "critical-ack", 30, "account:admin")
        _, after = critical_alert(bridge)  # due in 30 minutes
        with bridge.clock.advanced(timedelta(minutes=10, seconds=5)), bridge.services() as services:
            early = escalate_overdue(services)
        with bridge.clock.advanced(timedelta(minutes=30, seconds=5)), bridge.services() as services:
            late = escalate_overdue(services)
    finally:
        with bridge.services() as services:
            reset_deadline(services, "critical-ack")
    assert before in early and after not in early
    assert after in late
