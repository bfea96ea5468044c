"""The pharmacy's operations on a prescription Task: accept or reject after review, dispense, dispatch,
and the courier's delivery report. Each checks the state (task_states.py), records who and when
(steps.py), and tells the pages that follow the prescription (news.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fhir_adapter.validation import validate_resource

from bridge.auth.principal import Principal
from bridge.clock import as_utc, fhir_instant
from bridge.errors import FieldError, InvalidInput
from bridge.i18n import Translator
from bridge.prescriptions.codes import DISPATCH_EXTENSION, Delivery, Step, business_status
from bridge.prescriptions.task_context import TaskContext, begin
from bridge.prescriptions.task_states import Operation
from bridge.services import Services

MIN_REASON_CHARS = 4
# A courier's estimate a few minutes in the past is a slow form, not a mistake worth refusing.
ARRIVAL_GRACE = timedelta(minutes=10)


@dataclass(frozen=True)
class Dispatch:
    courier: str
    tracking_number: str
    expected_arrival: datetime


def _status_changes(delivery: Delivery, status: str) -> dict[str, Any]:
    return {
        "status": status,
        "businessStatus": business_status(delivery, Translator()(f"prescription.delivery.{delivery.value}")),
    }


def accept(services: Services, principal: Principal, task_id: str, note: str | None = None) -> dict[str, Any]:
    ctx, target = begin(services, principal, task_id, Operation.ACCEPT)
    task = ctx.save_task(_status_changes(Delivery.WITH_PHARMACY, target.status), Step.ACCEPTED, note)
    ctx.record(Step.ACCEPTED, {"note": note} if note else None)
    return task


def reject(services: Services, principal: Principal, task_id: str, reason: str) -> dict[str, Any]:
    reason = _reason(reason, "reason")
    ctx, target = begin(services, principal, task_id, Operation.REJECT)
    task = ctx.save_task(
        {**_status_changes(Delivery.REJECTED, target.status), "statusReason": {"text": reason}}, Step.REJECTED, reason
    )
    # On hold, not ended: the doctor may revise it (back to draft) and sign again.
    ctx.save_request({"status": "on-hold", "statusReason": {"text": reason}})
    ctx.record(Step.REJECTED, {"reason": reason})
    return task


def dispense(services: Services, principal: Principal, task_id: str, dispense: dict[str, Any]) -> dict[str, Any]:
    ctx, target = begin(services, principal, task_id, Operation.DISPENSE)
    content = _checked_dispense(ctx, dispense)
    stored = services.repository.create(content, validated=True)
    outputs = [
        *ctx.task.get("output", []),
        {"type": {"text": "dispense"}, "valueReference": {"reference": f"MedicationDispense/{stored['id']}"}},
    ]
    task = ctx.save_task({**_status_changes(Delivery.DISPENSED, target.status), "output": outputs}, Step.DISPENSED)
    ctx.record(Step.DISPENSED, {"medication_dispense": stored["id"], "quantity": stored.get("quantity")})
    return task


def dispatch(services: Services, principal: Principal, task_id: str, details: Dispatch) -> dict[str, Any]:
    courier, tracking = details.courier.strip(), details.tracking_number.strip()
    errors = []
    if not courier:
        errors.append(FieldError("courier", "prescription.error.courier"))
    if not tracking:
        errors.append(FieldError("trackingNumber", "prescription.error.tracking"))
    ctx, target = begin(services, principal, task_id, Operation.DISPATCH)
    if as_utc(details.expected_arrival) < as_utc(ctx.now) - ARRIVAL_GRACE:
        errors.append(FieldError("expectedArrival", "prescription.error.arrival_past"))
    if errors:
        raise InvalidInput(errors)
    extension = {
        "url": DISPATCH_EXTENSION,
        "extension": [
            {"url": "courier", "valueString": courier},
            {"url": "trackingNumber", "valueString": tracking},
            {"url": "expectedArrival", "valueDateTime": fhir_instant(details.expected_arrival)},
        ],
    }
    changes = _status_changes(Delivery.DISPATCHED, target.status)
    changes["extension"] = [*ctx.task.get("extension", []), extension]
    task = ctx.save_task(changes, Step.DISPATCHED)
    ctx.record(
        Step.DISPATCHED,
        {"courier": courier, "tracking_number": tracking, "expected_arrival": fhir_instant(details.expected_arrival)},
    )
    return task


def deliver(services: Services, principal: Principal, task_id: str, note: str | None = None) -> dict[str, Any]:
    ctx, target = begin(services, principal, task_id, Operation.DELIVER)
    task = ctx.save_task(_status_changes(Delivery.DELIVERED, target.status), Step.DELIVERED, note)
    ctx.record(Step.DELIVERED, {"note": note} if note else None)
    return task


def _reason(text: str | None, field: str) -> str:
    reason = (text or "").strip()
    if len(reason) < MIN_REASON_CHARS:
        raise InvalidInput([FieldError(field, "prescription.error.reason_required")])
    return reason


def _unit_text(quantity: dict[str, Any]) -> str:
    return str(quantity.get("unit") or quantity.get("code") or "")


def _same_unit(given: dict[str, Any], prescribed: dict[str, Any]) -> bool:
    """Left out, or the prescription's own (by code when both are coded, else by the unit's text)."""
    if not any(k in given for k in ("unit", "code")):
        return True
    if given.get("code") and prescribed.get("code"):
        return bool(given.get("system") == prescribed.get("system") and given["code"] == prescribed["code"])
    return _unit_text(given) == _unit_text(prescribed)


def _checked_dispense(ctx: TaskContext, given: dict[str, Any]) -> dict[str, Any]:
    """The pharmacy's MedicationDispense, tied to this prescription: what it may leave out is filled in
    from the prescription, what contradicts the prescription is refused."""
    if not isinstance(given, dict) or given.get("resourceType") != "MedicationDispense":
        raise InvalidInput([FieldError("MedicationDispense", "prescription.error.dispense_expected")])
    request = ctx.request
    errors: list[FieldError] = []
    medication: dict[str, Any] = {
        k: request[k] for k in ("medicationReference", "medicationCodeableConcept") if k in request
    }
    for key, value in medication.items():
        if key in given and given[key] != value:
            errors.append(FieldError(f"MedicationDispense.{key}", "prescription.error.dispense_medication"))
    subject = {"reference": f"Patient/{ctx.patient['id']}"}
    if "subject" in given and (given["subject"] or {}).get("reference") != subject["reference"]:
        errors.append(FieldError("MedicationDispense.subject", "prescription.error.dispense_subject"))
    given_authorizing = given.get("authorizingPrescription", [])
    if not isinstance(given_authorizing, list) or not all(isinstance(r, dict) for r in given_authorizing):
        given_authorizing = [{}]
    authorizing = [r.get("reference") for r in given_authorizing]
    if authorizing and authorizing != [f"MedicationRequest/{request['id']}"]:
        errors.append(FieldError("MedicationDispense.authorizingPrescription", "prescription.error.dispense_request"))
    quantity = given.get("quantity")
    quantity = quantity if isinstance(quantity, dict) else {}
    prescribed = (request.get("dispenseRequest") or {}).get("quantity") or {}
    value = quantity.get("value")
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        errors.append(FieldError("MedicationDispense.quantity", "prescription.error.dispense_quantity"))
    elif not _same_unit(quantity, prescribed):
        # 20 boxes are not fewer than 28 tablets: a count is only comparable in the prescription's unit.
        errors.append(
            FieldError(
                "MedicationDispense.quantity", "prescription.error.dispense_unit", {"unit": _unit_text(prescribed)}
            )
        )
    elif isinstance(prescribed.get("value"), int | float) and value > prescribed["value"]:
        errors.append(
            FieldError(
                "MedicationDispense.quantity",
                "prescription.error.dispense_too_much",
                {"prescribed": prescribed["value"]},
            )
        )
    if errors:
        raise InvalidInput(errors)
    content: dict[str, Any] = {
        **{k: v for k, v in given.items() if k not in {"id", "meta"}},
        **medication,
        "status": "in-progress",
        "subject": subject,
        "authorizingPrescription": [{"reference": f"MedicationRequest/{request['id']}"}],
        "whenPrepared": given.get("whenPrepared") or fhir_instant(ctx.now),
    }
    content.setdefault("performer", [{"actor": ctx.actor.as_reference()}])
    content.setdefault("dosageInstruction", request.get("dosageInstruction", []))
    # The unit may be left out: it is the prescription's.
    content["quantity"] = {**{k: v for k, v in prescribed.items() if k != "value"}, **quantity}
    return validate_resource(content)
