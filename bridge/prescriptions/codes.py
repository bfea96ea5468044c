"""Code systems and codes of the prescription workflow (docs/prescriptions.md lists them for peers)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from bridge.directory.codes import NAMESPACE

TASK_CODE_SYSTEM = "http://hl7.org/fhir/CodeSystem/task-code"
DELIVERY_STATUS_SYSTEM = f"{NAMESPACE}/CodeSystem/prescription-delivery-status"
STEP_EXTENSION = f"{NAMESPACE}/StructureDefinition/prescription-step"
DISPATCH_EXTENSION = f"{NAMESPACE}/StructureDefinition/prescription-dispatch"
RECEIPT_EXTENSION = f"{NAMESPACE}/StructureDefinition/prescription-receipt"
OVERRIDE_EXTENSION = f"{NAMESPACE}/StructureDefinition/safety-override"
PRESCRIPTION_TAG_SYSTEM = f"{NAMESPACE}/CodeSystem/prescription"


class Delivery(StrEnum):
    """Task.businessStatus: where the drug is."""

    WITH_PHARMACY = "with-pharmacy"
    DISPENSED = "dispensed"
    DISPATCHED = "dispatched"
    DELIVERED = "delivered"
    RECEIVED = "received"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class Step(StrEnum):
    """What a `prescription_step` row records (and the Task's step extensions)."""

    SIGNED = "signed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DISPENSED = "dispensed"
    DISPATCHED = "dispatched"
    DELIVERED = "delivered"
    RECEIVED = "received"
    CANCELLED = "cancelled"


def delivery_of(task: dict[str, object]) -> Delivery | None:
    business = task.get("businessStatus")
    if not isinstance(business, dict):
        return None
    for coding in business.get("coding", []):
        if coding.get("system") == DELIVERY_STATUS_SYSTEM:
            try:
                return Delivery(coding.get("code"))
            except ValueError:
                return None
    return None


def business_status(delivery: Delivery, display: str) -> dict[str, object]:
    return {"coding": [{"system": DELIVERY_STATUS_SYSTEM, "code": delivery.value, "display": display}], "text": display}


SIGNATURE_INPUT = "signature"


def signature_id(task: dict[str, Any]) -> str | None:
    """The id of the Provenance `$sign` stored, as the Task it created names it (Task.input "signature").

    Readers find a prescription's signature through here rather than by searching Provenances: a
    search would also find any Provenance someone else wrote about the prescription.
    """
    for item in task.get("input") or []:
        if (item.get("type") or {}).get("text") != SIGNATURE_INPUT:
            continue
        reference = str((item.get("valueReference") or {}).get("reference", ""))
        if reference.startswith("Provenance/"):
            return reference.removeprefix("Provenance/")
    return None
