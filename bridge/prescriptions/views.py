"""Prescriptions as the portal shows them: plain view models built from the FHIR records, so no page
maps FHIR or queries the store itself.

Three lists, each scoped by who asks: a resident's prescriptions (nurses of the home, doctors of the
contracted hospitals), the prescriptions in flight to a home (its nurses), and the pharmacy desk (the
pharmacy's own Tasks only, with what a pharmacist reviews: signature, overrides, findings re-checked).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from fhir_adapter.errors import OperationOutcomeError

from bridge.accounts.roles import Role
from bridge.auth.principal import Principal
from bridge.clock import as_utc
from bridge.directory.codes import OrgKind
from bridge.directory.residents import display_name, home_of
from bridge.prescriptions.catalogue import catalogue, drug_from_medication
from bridge.prescriptions.catalogue_rows import Drug
from bridge.prescriptions.codes import DISPATCH_EXTENSION, RECEIPT_EXTENSION, TASK_CODE_SYSTEM, Delivery, delivery_of
from bridge.prescriptions.overrides import Override, overrides_in
from bridge.prescriptions.safety.check import check_prescription
from bridge.prescriptions.safety.findings import SafetyFinding
from bridge.prescriptions.signature import signature_status
from bridge.prescriptions.steps import steps_of
from bridge.prescriptions.task_states import OPEN_STATES, Operation, allowed_operations, state_of
from bridge.prescriptions.write_rules import is_prescription_task, is_reported
from bridge.services import Services

logger = logging.getLogger(__name__)

TASK_CODE = f"{TASK_CODE_SYSTEM}|fulfill"
# How long a finished prescription stays on the nurse's and the pharmacist's lists: long enough to
# answer "did that arrive?", short enough that the list stays about work.
RECENT = timedelta(days=7)


@dataclass(frozen=True)
class StepView:
    step: str
    actor: str
    at: datetime
    detail: dict[str, Any]


@dataclass(frozen=True)
class PrescriptionView:
    request_id: str
    request_status: str
    patient_id: str
    patient_name: str
    home_id: str
    drug_id: str
    drug_names: dict[str, str]
    dose: str
    dose_unit: str
    frequency: str
    period: str
    period_unit: str
    quantity: str
    quantity_unit: str
    days: str
    requester: str
    authored_on: datetime | None
    status_reason: str = ""
    task_id: str | None = None
    task_status: str | None = None
    task_version: str = ""
    delivery: Delivery | None = None
    operations: tuple[Operation, ...] = ()
    courier: str = ""
    tracking_number: str = ""
    expected_arrival: datetime | None = None
    dispensed: str = ""
    received: str = ""
    discrepancy: str = ""
    last_modified: datetime | None = None
    steps: list[StepView] = field(default_factory=list)

    def drug_name(self, locale: str) -> str:
        return self.drug_names.get(locale) or next(iter(self.drug_names.values()), self.drug_id)

    @property
    def is_open(self) -> bool:
        return self.task_status in {"ready", "in-progress"}


@dataclass(frozen=True)
class DeskItem:
    """A Task on the pharmacy desk with what the pharmacist reviews before accepting it."""

    prescription: PrescriptionView
    home_name: str
    signature_ok: bool | None  # None: never signed (cannot happen for a routed Task, but say so)
    signature_problem: str
    overrides: list[Override]
    findings: list[SafetyFinding]  # re-checked now


# --- public queries -------------------------------------------------------------------------------


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
    views = _views(services, requests, by_focus, {patient_id: patient})
    return sorted(views, key=lambda v: _newest(v), reverse=True)


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
    return _task_views(services, [t for t in tasks if _current(services, t)], patients)


def pharmacy_desk(services: Services, principal: Principal) -> list[DeskItem]:
    """The Tasks owned by the pharmacist's own pharmacy, open first, each with its review."""
    services.policy.require_role(principal, Role.PHARMACIST)
    services.policy.require_scope(principal, "Task", "r")
    if principal.organization_kind is not OrgKind.PHARMACY:
        return []
    tasks = services.repository.find("Task", {"owner": f"Organization/{principal.organization_id}", "code": TASK_CODE})
    tasks = [t for t in tasks if _current(services, t)]
    patient_ids = sorted({_patient_id(t) for t in tasks})
    patients = {p["id"]: p for p in services.repository.find("Patient", {"_id": patient_ids})} if patient_ids else {}
    views = _task_views(services, tasks, patients)
    homes = services.organizations.names({v.home_id for v in views if v.home_id})
    return [_desk_item(services, view, homes.get(view.home_id, view.home_id)) for view in views]


def drug_choices(services: Services, query: str = "") -> list[Drug]:
    """Catalogue drugs for the prescribing form's picker, filtered by a name, code or ingredient."""
    return catalogue(services).search(query)


def medication_names(medication: dict[str, Any]) -> dict[str, str]:
    """The drug's name by locale (a Medication outside the catalogue: its concept's text)."""
    drug = drug_from_medication(medication)
    if drug is not None:
        return {"zh-CN": drug.name_zh, "en": drug.name_en}
    text = (medication.get("code") or {}).get("text")
    return {"zh-CN": str(text)} if text else {}


# --- the prescribing form's draft ---------------------------------------------------------------------

UCUM = "http://unitsofmeasure.org"


@dataclass(frozen=True)
class DraftInput:
    """What the doctor's form holds, already checked as numbers; the FHIR write checks the rest."""

    drug_id: str
    dose: Decimal
    unit: str  # UCUM code
    per_day: int
    quantity: Decimal
    quantity_unit: str  # text as stored, e.g. 片
    days: int
    instructions: str = ""


def draft_resource(patient_id: str, practitioner_id: str | None, given: DraftInput) -> dict[str, Any]:
    """The draft MedicationRequest as docs/prescriptions.md describes it."""
    dose = {"value": _json_number(given.dose), "unit": given.unit, "system": UCUM, "code": given.unit}
    dosage: dict[str, Any] = {
        **({"text": given.instructions} if given.instructions else {}),
        "timing": {"repeat": {"frequency": given.per_day, "period": 1, "periodUnit": "d"}},
        "doseAndRate": [{"doseQuantity": dose}],
    }
    return {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "order",
        "medicationReference": {"reference": f"Medication/{given.drug_id}"},
        "subject": {"reference": f"Patient/{patient_id}"},
        **({"requester": {"reference": f"Practitioner/{practitioner_id}"}} if practitioner_id else {}),
        "dosageInstruction": [dosage],
        "dispenseRequest": {
            "quantity": {"value": _json_number(given.quantity), "unit": given.quantity_unit},
            "expectedSupplyDuration": {"value": given.days, "unit": "d", "system": UCUM, "code": "d"},
        },
    }


def draft_form(request: dict[str, Any]) -> dict[str, str]:
    """A stored draft as the form's fields, to revise it."""
    dosage = (request.get("dosageInstruction") or [{}])[0]
    dose = ((dosage.get("doseAndRate") or [{}])[0]).get("doseQuantity") or {}
    supply = request.get("dispenseRequest") or {}
    return {
        "drug": str((request.get("medicationReference") or {}).get("reference", "")).removeprefix("Medication/"),
        "dose": _number(dose.get("value")),
        "unit": str(dose.get("code") or dose.get("unit") or ""),
        "per_day": _number(((dosage.get("timing") or {}).get("repeat") or {}).get("frequency")),
        "quantity": _number((supply.get("quantity") or {}).get("value")),
        "quantity_unit": str((supply.get("quantity") or {}).get("unit", "")),
        "days": _number((supply.get("expectedSupplyDuration") or {}).get("value")),
        "instructions": str(dosage.get("text", "")),
    }


def _json_number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


# --- building views -------------------------------------------------------------------------------


def _views(
    services: Services,
    requests: list[dict[str, Any]],
    tasks_by_request: dict[str, dict[str, Any]],
    patients: dict[str, dict[str, Any]],
) -> list[PrescriptionView]:
    drugs = _medications(services, requests)
    dispenses = _dispenses(services, list(tasks_by_request.values()))
    return [
        _view(services, request, tasks_by_request.get(request["id"]), patients, drugs, dispenses)
        for request in requests
    ]


def _task_views(
    services: Services, tasks: list[dict[str, Any]], patients: dict[str, dict[str, Any]]
) -> list[PrescriptionView]:
    ids = sorted({str(t["focus"]["reference"]).removeprefix("MedicationRequest/") for t in tasks})
    requests = services.repository.find("MedicationRequest", {"_id": ids}) if ids else []
    by_request = {str(t["focus"]["reference"]).removeprefix("MedicationRequest/"): t for t in tasks}
    views = [v for v in _views(services, requests, by_request, patients) if v.task_id]
    # Open work first (oldest first: it has waited longest), then what finished, newest first.
    open_views = sorted((v for v in views if v.is_open), key=lambda v: _oldest(v))
    closed = sorted((v for v in views if not v.is_open), key=lambda v: _newest(v), reverse=True)
    return open_views + closed


def _view(
    services: Services,
    request: dict[str, Any],
    task: dict[str, Any] | None,
    patients: dict[str, dict[str, Any]],
    drugs: dict[str, dict[str, Any]],
    dispenses: dict[str, dict[str, Any]],
) -> PrescriptionView:
    patient_id = str((request.get("subject") or {}).get("reference", "")).removeprefix("Patient/")
    patient = patients.get(patient_id, {})
    drug_id = str((request.get("medicationReference") or {}).get("reference", "")).removeprefix("Medication/")
    dosage = (request.get("dosageInstruction") or [{}])[0]
    dose = ((dosage.get("doseAndRate") or [{}])[0]).get("doseQuantity") or {}
    repeat = (dosage.get("timing") or {}).get("repeat") or {}
    supply = request.get("dispenseRequest") or {}
    quantity = supply.get("quantity") or {}
    task_parts: dict[str, Any] = _task_parts(task, dispenses) if task else {}
    return PrescriptionView(
        request_id=request["id"],
        request_status=str(request.get("status", "")),
        patient_id=patient_id,
        patient_name=display_name(patient) if patient else str((task or {}).get("for", {}).get("display", patient_id)),
        home_id=home_of(patient) or "" if patient else "",
        drug_id=drug_id,
        drug_names=_names(drugs.get(drug_id)) or {"zh-CN": drug_id},
        dose=_number(dose.get("value")),
        dose_unit=str(dose.get("unit") or dose.get("code") or ""),
        frequency=_number(repeat.get("frequency")),
        period=_number(repeat.get("period")),
        period_unit=str(repeat.get("periodUnit", "")),
        quantity=_number(quantity.get("value")),
        quantity_unit=str(quantity.get("unit", "")),
        days=_number((supply.get("expectedSupplyDuration") or {}).get("value")),
        requester=str((request.get("requester") or {}).get("display", "")),
        authored_on=_instant(request.get("authoredOn")),
        status_reason=str(((task or {}).get("statusReason") or request.get("statusReason") or {}).get("text", "")),
        steps=_steps(services, request["id"]) if task else [],
        **task_parts,
    )


def _task_parts(task: dict[str, Any], dispenses: dict[str, dict[str, Any]]) -> dict[str, Any]:
    dispatch = _extension_parts(task, DISPATCH_EXTENSION)
    receipt = _extension_parts(task, RECEIPT_EXTENSION)
    dispense = dispenses.get(task["id"]) or {}
    received = receipt.get("quantityReceived") or {}
    return {
        "task_id": task["id"],
        "task_status": str(task.get("status", "")),
        "task_version": str(task.get("meta", {}).get("versionId", "")),
        "delivery": delivery_of(task),
        "operations": tuple(allowed_operations(task)),
        "courier": str(dispatch.get("courier", "")),
        "tracking_number": str(dispatch.get("trackingNumber", "")),
        "expected_arrival": _instant(dispatch.get("expectedArrival")),
        "dispensed": _number((dispense.get("quantity") or {}).get("value")),
        "received": _number(received.get("value") if isinstance(received, dict) else None),
        "discrepancy": str(receipt.get("discrepancy", "")),
        "last_modified": _instant(task.get("lastModified")),
    }


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


# --- helpers --------------------------------------------------------------------------------------


def _current(services: Services, task: dict[str, Any]) -> bool:
    """Open, or finished within RECENT."""
    if not is_prescription_task(task):
        return False
    if state_of(task) in OPEN_STATES:
        return True
    changed = _instant(task.get("lastModified"))
    return changed is not None and changed >= as_utc(services.now()) - RECENT


def _patient_id(task: dict[str, Any]) -> str:
    return str((task.get("for") or {}).get("reference", "")).removeprefix("Patient/")


def _medications(services: Services, requests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    ids = sorted(
        {
            str((r.get("medicationReference") or {}).get("reference", "")).removeprefix("Medication/")
            for r in requests
            if r.get("medicationReference")
        }
    )
    return {m["id"]: m for m in services.repository.find("Medication", {"_id": ids})} if ids else {}


def _dispenses(services: Services, tasks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Task id -> its MedicationDispense (the quantity the nurse is to receive)."""
    found: dict[str, dict[str, Any]] = {}
    for task in tasks:
        for output in task.get("output", []):
            reference = str((output.get("valueReference") or {}).get("reference", ""))
            if reference.startswith("MedicationDispense/"):
                try:
                    found[task["id"]] = services.repository.read("MedicationDispense", reference.split("/", 1)[1])
                except OperationOutcomeError:
                    logger.warning("Task/%s names %s, which is not there", task["id"], reference)
    return found


def _names(medication: dict[str, Any] | None) -> dict[str, str]:
    return medication_names(medication) if medication else {}


def _extension_parts(task: dict[str, Any], url: str) -> dict[str, Any]:
    """The parts of the Task's latest extension with this url, by part url (value of any type)."""
    parts: dict[str, Any] = {}
    for extension in task.get("extension", []):
        if extension.get("url") == url:
            parts = {
                p.get("url"): next((v for k, v in p.items() if k.startswith("value")), None)
                for p in extension.get("extension", [])
            }
    return parts


def _steps(services: Services, request_id: str) -> list[StepView]:
    return [
        StepView(row.step, row.actor_display, as_utc(row.at), json.loads(row.detail or "{}"))
        for row in steps_of(services, request_id)
    ]


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def _number(value: Any) -> str:
    """A quantity as people write it: 28, not 28.0."""
    if value is None or value == "":
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _newest(view: PrescriptionView) -> str:
    moment = view.last_modified or view.authored_on
    return moment.isoformat() if moment else ""


def _oldest(view: PrescriptionView) -> str:
    moment = view.authored_on or view.last_modified
    return moment.isoformat() if moment else ""
