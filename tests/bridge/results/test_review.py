"""A laboratory report that comes up starts the doctor's review; the doctor marks it reviewed (已阅), over
the FHIR API and on the resident's page; a critical value's acknowledgement counts as the review."""

from __future__ import annotations

import re

from sqlalchemy import select

from bridge.loops.tables import LoopClock, LoopStep
from tests.bridge.ingest.support import ingest_resident, lab_client, oru, resident_identifier
from tests.bridge.prescriptions.workflow_support import fhir
from tests.conftest import Bridge
from tests.portal.test_pages_http import sign_in

HL7 = {"Content-Type": "x-application/hl7-v2+er7"}


def lab_report(bridge: Bridge, *observations: str) -> tuple[str, str]:
    """A new resident of home 1 with one report: (patient id, "DiagnosticReport/<id>")."""
    patient_id = ingest_resident(bridge)
    message = oru(resident_identifier(bridge, patient_id), *observations)
    answer = lab_client(bridge).post("/ingest/hl7v2", content=message, headers=HL7)
    assert b"|AA|" in answer.content, answer.text
    with bridge.services() as services:
        (clock,) = services.db.scalars(
            select(LoopClock).where(LoopClock.patient_id == patient_id, LoopClock.kind == "result-review")
        ).all()
    assert clock.responsible_id == "demo-hospital"
    assert clock.subject.startswith("DiagnosticReport/")
    return patient_id, clock.subject


def test_the_doctor_marks_a_report_reviewed_once_and_only_a_doctor_who_sees_the_resident_may(bridge: Bridge) -> None:
    patient_id, report = lab_report(bridge, "NM|2951-2^Sodium^LN||139|mmol/L|137-147|N|||F")
    nurse = fhir(bridge, "nurse1").post(f"/fhir/{report}/$mark-reviewed")
    assert nurse.status_code == 403, nurse.text
    pharmacist = fhir(bridge, "pharmacist").post(f"/fhir/{report}/$mark-reviewed")
    assert pharmacist.status_code == 404, pharmacist.text
    assert fhir(bridge, "doctor").post("/fhir/DiagnosticReport/no-such-report/$mark-reviewed").status_code == 404

    done = fhir(bridge, "doctor").post(f"/fhir/{report}/$mark-reviewed")
    assert done.status_code == 200, done.text
    assert f"{done.json()['resourceType']}/{done.json()['id']}" == report
    again = fhir(bridge, "doctor2").post(f"/fhir/{report}/$mark-reviewed")
    assert again.status_code == 409 and "李建国" in again.text
    with bridge.services() as services:
        (clock,) = services.db.scalars(select(LoopClock).where(LoopClock.patient_id == patient_id)).all()
        steps = services.db.scalars(
            select(LoopStep.step).where(LoopStep.patient_id == patient_id).order_by(LoopStep.id)
        ).all()
    assert clock.outcome == "met" and clock.done_by == "Practitioner/demo-dr-li"
    assert list(steps) == ["result-received", "result-reviewed"]


def test_the_resident_page_lists_results_awaiting_review_and_the_button_clears_them(bridge: Bridge) -> None:
    patient_id, report = lab_report(bridge, "NM|2951-2^Sodium^LN||140|mmol/L|137-147|N|||F")
    doctor = sign_in(bridge, "doctor")
    page = doctor.get(f"/residents/{patient_id}")
    assert page.status_code == 200 and 'data-testid="review-panel"' in page.text
    assert f'data-subject="{report}"' in page.text and "待阅结果" in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    posted = doctor.post(
        f"/residents/{patient_id}/results/review", data={"csrf_token": csrf.group(1), "subject": report}
    )
    assert posted.status_code == 303, posted.text
    after = doctor.get(f"/residents/{patient_id}")
    assert f'data-subject="{report}"' not in after.text and 'data-testid="review-none"' in after.text
    nurse_page = sign_in(bridge, "nurse1").get(f"/residents/{patient_id}")
    assert 'data-testid="review-panel"' not in nurse_page.text


def test_acknowledging_a_critical_value_meets_its_reports_review_too(bridge: Bridge) -> None:
    patient_id, report = lab_report(bridge, "NM|2823-3^Potassium^LN||7.0|mmol/L|3.5-5.5|HH|||F")
    with bridge.services() as services:
        alert = services.db.scalars(
            select(LoopClock).where(LoopClock.patient_id == patient_id, LoopClock.kind == "critical-ack")
        ).one()
    communication = alert.subject.removeprefix("Communication/")
    answer = fhir(bridge, "doctor").post(f"/fhir/Communication/{communication}/$acknowledge")
    assert answer.status_code == 200, answer.text
    with bridge.services() as services:
        rows = services.db.scalars(select(LoopClock).where(LoopClock.patient_id == patient_id)).all()
        loops = set(services.db.scalars(select(LoopStep.loop_id).where(LoopStep.patient_id == patient_id)))
    assert {(r.kind, r.outcome) for r in rows} == {("result-review", "met"), ("critical-ack", "met")}
    assert loops == {report}
