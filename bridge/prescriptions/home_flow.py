"""The ends of a prescription outside the pharmacy: the home's nurse confirms what arrived (which
completes the Task and the dispense), and the doctor may cancel before anything is dispensed."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bridge.auth.principal import Principal
from bridge.clock import fhir_instant
from bridge.errors import FieldError, InvalidInput
from bridge.i18n import Translator
from bridge.prescriptions.codes import RECEIPT_EXTENSION, Delivery, Step, business_status
from bridge.prescriptions.pharmacy_flow import MIN_REASON_CHARS
from bridge.prescriptions.task_context import TaskContext, begin
from bridge.prescriptions.task_states import Operation
from bridge.services import Services


@dataclass(frozen=True)
class Receipt:
    quantity_received: Decimal
    discrepancy: str | None = None
    note: str | None = None


def confirm_receipt(services: Services, principal: Principal, task_id: str, receipt: Receipt) -> dict[str, Any]:
    ctx, target = begin(services, principal, task_id, Operation.CONFIRM_RECEIPT)
    dispense = _dispense_of(ctx)
    dispensed = Decimal(str((dispense.get("quantity") or {}).get("value", 0)))
    discrepancy = (receipt.discrepancy or "").strip() or None
    errors = []
    if receipt.quantity_received < 0:
        errors.append(FieldError("quantityReceived", "prescription.error.received_quantity"))
    elif receipt.quantity_received != dispensed and not discrepancy:
        # A short delivery with no word about it would leave nobody to follow it up.
        errors.append(
            FieldError("discrepancy", "prescription.error.discrepancy_required", {"dispensed": str(dispensed)})
        )
    if errors:
        raise InvalidInput(errors)
    actor = ctx.actor
    notes = [*dispense.get("note", [])]
    if discrepancy:
        notes.append({"authorReference": actor.as_reference(), "time": fhir_instant(ctx.now), "text": discrepancy})
    services.repository.update(
        {
            **dispense,
            "status": "completed",
            "whenHandedOver": fhir_instant(ctx.now),
            "receiver": [actor.as_reference()],
            **({"note": notes} if notes else {}),
        },
        if_match=int(dispense.get("meta", {}).get("versionId", 1)),
    )
    parts: list[dict[str, Any]] = [
        {"url": "quantityReceived", "valueQuantity": {**_unit_of(dispense), "value": float(receipt.quantity_received)}},
    ]
    if discrepancy:
        parts.append({"url": "discrepancy", "valueString": discrepancy})
    display = Translator()(f"prescription.delivery.{Delivery.RECEIVED.value}")
    task = ctx.save_task(
        {
            "status": target.status,
            "businessStatus": business_status(Delivery.RECEIVED, display),
            "extension": [*ctx.task.get("extension", []), {"url": RECEIPT_EXTENSION, "extension": parts}],
        },
        Step.RECEIVED,
        receipt.note,
    )
    ctx.record(
        Step.RECEIVED,
        {"quantity_received": str(receipt.quantity_received), "dispensed": str(dispensed), "discrepancy": discrepancy},
    )
    return task


def cancel(services: Services, principal: Principal, task_id: str, reason: str) -> dict[str, Any]:
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON_CHARS:
        raise InvalidInput([FieldError("reason", "prescription.error.reason_required")])
    ctx, target = begin(services, principal, task_id, Operation.CANCEL)
    display = Translator()(f"prescription.delivery.{Delivery.CANCELLED.value}")
    task = ctx.save_task(
        {
            "status": target.status,
            "businessStatus": business_status(Delivery.CANCELLED, display),
            "statusReason": {"text": reason},
        },
        Step.CANCELLED,
        reason,
    )
    ctx.save_request({"status": "cancelled", "statusReason": {"text": reason}})
    ctx.record(Step.CANCELLED, {"reason": reason})
    from bridge.subscriptions.events import record_prescription_event

    record_prescription_event(services, task)
    return task


def _dispense_of(ctx: TaskContext) -> dict[str, Any]:
    for output in ctx.task.get("output", []):
        reference = str((output.get("valueReference") or {}).get("reference", ""))
        if reference.startswith("MedicationDispense/"):
            return ctx.services.repository.read("MedicationDispense", reference.removeprefix("MedicationDispense/"))
    raise AssertionError(f"Task/{ctx.task['id']} was dispatched without a dispense")


def _unit_of(dispense: dict[str, Any]) -> dict[str, Any]:
    quantity = dispense.get("quantity") or {}
    return {k: quantity[k] for k in ("unit", "system", "code") if k in quantity}
