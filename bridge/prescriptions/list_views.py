"""The prescription lists of the homes' side, each scoped by who asks: a resident's prescriptions
(nurses of the home, doctors of the contracted hospitals) and the prescriptions in flight to a home."""

from __future__ import annotations

from bridge.accounts.roles import Role
from bridge.auth.principal import Principal
from bridge.prescriptions.prescription_views import (
    TASK_CODE,
    PrescriptionView,
    is_current,
    newest,
    prescription_views,
    task_views,
)
from bridge.prescriptions.write_rules import is_prescription_task, is_reported
from bridge.services import Services


def resident_prescriptions(services: Services, principal: Principal, patient_id: str) -> list[PrescriptionView]:
    """The resident's prescriptions, drafts and signed, newest first; drugs the resident already takes
    (reported records) are the chart's, not prescriptions."""
    services.policy.require_role(principal, Role.NURSE, Role.DOCTOR)
    patient = services.policy.require_resident(principal, patient_id)
    services.policy.require_scope(principal, "MedicationRequest", "r")
    requests = [
        r
        for r in services.repository.find("MedicationRequest", {"patient": f"Patient/{patient_id}"})
        # A draft is the doctor's until signed: the home sees prescriptions, not drafts.
        if not is_reported(r) and (principal.role is Role.DOCTOR or r.get("status") != "draft")
    ]
    tasks = services.repository.find("Task", {"patient": f"Patient/{patient_id}", "code": TASK_CODE})
    by_focus = {
        str(t["focus"]["reference"]).removeprefix("MedicationRequest/"): t for t in tasks if is_prescription_task(t)
    }
    views = prescription_views(services, requests, by_focus, {patient_id: patient})
    return sorted(views, key=lambda v: newest(v), reverse=True)


def home_in_flight(services: Services, principal: Principal) -> list[PrescriptionView]:
    """Prescriptions on their way to the residents the caller cares for (open Tasks: a nurse's home, a
    doctor's contracted homes), then those finished lately."""
    services.policy.require_role(principal, Role.NURSE, Role.DOCTOR)
    services.policy.require_scope(principal, "Task", "r")
    patients = {p["id"]: p for p in services.policy.visible_residents(principal)}
    if not patients:
        return []
    tasks = services.repository.find(
        "Task", {"patient": [f"Patient/{pid}" for pid in sorted(patients)], "code": TASK_CODE}
    )
    return task_views(services, [t for t in tasks if is_current(services, t)], patients)
