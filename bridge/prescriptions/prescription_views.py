"""The prescription view model every prescription list shows, built from the FHIR records so no page
maps FHIR or queries the store itself; the lists that use it are list_views.py and desk_views.py."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fhir_adapter.errors import OperationOutcomeError

from bridge.clock import as_utc
from bridge.directory.residents import display_name, home_of
from bridge.prescriptions.catalogue import drug_from_medication
from bridge.prescriptions.codes import DISPATCH_EXTENSION, RECEIPT_EXTENSION, TASK_CODE_SYSTEM, Delivery, delivery_of
from bridge.prescriptions.fhir_values import display_number, instant
from bridge.prescriptions.steps import steps_of
from bridge.prescriptions.task_states import OPEN_STATES, Operation, allowed_operations, state_of
from bridge.prescriptions.write_rules import is_prescription_task
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


def medication_names(medication: dict[str, Any]) -> dict[str, str]:
    """The drug's name by locale (a Medication outside the catalogue: its concept's text)."""
    drug = drug_from_medication(medication)
    if drug is not None:
        return {"zh-CN": drug.name_zh, "en": drug.name_en}
    text = (medication.get("code") or {}).get("text")
    return {"zh-CN": str(text)} if text else {}


def is_current(services: Services, task: dict[str, Any]) -> bool:
    """Open, or finished within RECENT."""
    if not is_prescription_task(task):
        return False
    if state_of(task) in OPEN_STATES:
        return True
    changed = instant(task.get("lastModified"))
    return changed is not None and changed >= as_utc(services.now()) - RECENT


def newest(view: PrescriptionView) -> str:
    """Sort key: the latest change, for lists read newest first."""
    moment = view.last_modified or view.authored_on
    return moment.isoformat() if moment else ""


def prescription_views(
    services: Services,
    requests: list[dict[str, Any]],
    tasks_by_request: dict[str, dict[str, Any]],
    patients: dict[str, dict[str, Any]],
) -> list[PrescriptionView]:
    """One view per MedicationRequest, with its Task's progress where it has one."""
    drugs = _medications(services, requests)
    dispenses = _dispenses(services, list(tasks_by_request.values()))
    return [
        _view(services, request, tasks_by_request.get(request["id"]), patients, drugs, dispenses)
        for request in requests
    ]


def task_views(
    services: Services, tasks: list[dict[str, Any]], patients: dict[str, dict[str, Any]]
) -> list[PrescriptionView]:
    """The prescriptions these Tasks fulfil, open work before finished work."""
    ids = sorted({str(t["focus"]["reference"]).removeprefix("MedicationRequest/") for t in tasks})
    requests = services.repository.find("MedicationRequest", {"_id": ids}) if ids else []
    by_request = {str(t["focus"]["reference"]).removeprefix("MedicationRequest/"): t for t in tasks}
    views = [v for v in prescription_views(services, requests, by_request, patients) if v.task_id]
    # Open work first (oldest first: it has waited longest), then what finished, newest first.
    open_views = sorted((v for v in views if v.is_open), key=lambda v: _oldest(v))
    closed = sorted((v for v in views if not v.is_open), key=lambda v: newest(v), reverse=True)
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
        dose=display_number(dose.get("value")),
        dose_unit=str(dose.get("unit") or dose.get("code") or ""),
        frequency=display_number(repeat.get("frequency")),
        period=display_number(repeat.get("period")),
        period_unit=str(repeat.get("periodUnit", "")),
        quantity=display_number(quantity.get("value")),
        quantity_unit=str(quantity.get("unit", "")),
        days=display_number((supply.get("expectedSupplyDuration") or {}).get("value")),
        requester=str((request.get("requester") or {}).get("display", "")),
        authored_on=instant(request.get("authoredOn")),
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
        "expected_arrival": instant(dispatch.get("expectedArrival")),
        "dispensed": display_number((dispense.get("quantity") or {}).get("value")),
        "received": display_number(received.get("value") if isinstance(received, dict) else None),
        "discrepancy": str(receipt.get("discrepancy", "")),
        "last_modified": instant(task.get("lastModified")),
    }


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


def _oldest(view: PrescriptionView) -> str:
    moment = view.authored_on or view.last_modified
    return moment.isoformat() if moment else ""
