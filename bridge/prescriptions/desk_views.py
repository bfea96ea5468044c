"""The pharmacy desk as the portal shows it: the pharmacy's own Tasks only, each with what a pharmacist
reviews before accepting it (signature, override reasons, findings re-checked)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bridge.accounts.roles import Role
from bridge.auth.principal import Principal
from bridge.directory.codes import OrgKind
from bridge.prescriptions.overrides import Override, overrides_in
from bridge.prescriptions.prescription_views import TASK_CODE, PrescriptionView, is_current, task_views
from bridge.prescriptions.safety.check import check_prescription
from bridge.prescriptions.safety.findings import SafetyFinding
from bridge.prescriptions.signature import signature_status
from bridge.services import Services


@dataclass(frozen=True)
class DeskItem:
    """A Task on the pharmacy desk with what the pharmacist reviews before accepting it."""

    prescription: PrescriptionView
    home_name: str
    signature_ok: bool | None  # None: never signed (cannot happen for a routed Task, but say so)
    signature_problem: str
    overrides: list[Override]
    findings: list[SafetyFinding]  # re-checked now


def pharmacy_desk(services: Services, principal: Principal) -> list[DeskItem]:
    """The Tasks owned by the pharmacist's own pharmacy, open first, each with its review."""
    services.policy.require_role(principal, Role.PHARMACIST)
    services.policy.require_scope(principal, "Task", "r")
    if principal.organization_kind is not OrgKind.PHARMACY:
        return []
    tasks = services.repository.find("Task", {"owner": f"Organization/{principal.organization_id}", "code": TASK_CODE})
    tasks = [t for t in tasks if is_current(services, t)]
    patient_ids = sorted({_patient_id(t) for t in tasks})
    patients = {p["id"]: p for p in services.repository.find("Patient", {"_id": patient_ids})} if patient_ids else {}
    views = task_views(services, tasks, patients)
    homes = services.organizations.names({v.home_id for v in views if v.home_id})
    return [_desk_item(services, view, homes.get(view.home_id, view.home_id)) for view in views]


def _desk_item(services: Services, view: PrescriptionView, home_name: str) -> DeskItem:
    request = services.repository.read("MedicationRequest", view.request_id)
    verification = signature_status(services, view.request_id)
    # Findings are re-checked only while the pharmacist still decides: the resident's record may have
    # changed since the doctor signed (a new allergy, a new drug).
    findings = check_prescription(services, request) if view.is_open else []
    return DeskItem(
        prescription=view,
        home_name=home_name,
        signature_ok=None if verification is None else verification.ok,
        signature_problem="" if verification is None or verification.ok else str(verification.reason or ""),
        overrides=overrides_in(request),
        findings=findings,
    )


def _patient_id(task: dict[str, Any]) -> str:
    return str((task.get("for") or {}).get("reference", "")).removeprefix("Patient/")
