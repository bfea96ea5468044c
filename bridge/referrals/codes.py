"""Codes of a referral: its category and service, the urgencies, and the Task's business status."""

from __future__ import annotations

from enum import StrEnum

from bridge.directory.codes import NAMESPACE

SNOMED = "http://snomed.info/sct"
TASK_CODE_SYSTEM = "http://hl7.org/fhir/CodeSystem/task-code"
REFERRAL_CATEGORY_CODE = "3457005"  # Patient referral
REFERRAL_CATEGORY = {"coding": [{"system": SNOMED, "code": REFERRAL_CATEGORY_CODE, "display": "Patient referral"}]}
# What is asked of the hospital when the doctor names nothing more specific: an in-person consultation.
CONSULTATION = {"coding": [{"system": SNOMED, "code": "11429006", "display": "Consultation"}]}
BUSINESS_STATUS_SYSTEM = f"{NAMESPACE}/CodeSystem/referral-status"
APPOINTMENT_INPUT = "appointment"  # Task.output type text: the appointment the hospital gave
OUTCOME_OUTPUT = "outcome"

MAX_REASON_CHARS = 2000
MAX_NOTE_CHARS = 2000
MAX_SUPPORTING = 50
MIN_DECLINE_CHARS = 2


class Urgency(StrEnum):
    """FHIR request-priority, the binding of ServiceRequest.priority."""

    ROUTINE = "routine"
    URGENT = "urgent"
    ASAP = "asap"
    STAT = "stat"


class Status(StrEnum):
    """The referral Task's status (FHIR task-status); the business status repeats it for people."""

    REQUESTED = "requested"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


OPEN = frozenset({Status.REQUESTED, Status.ACCEPTED})


def business_status(status: Status, text: str) -> dict[str, object]:
    return {"coding": [{"system": BUSINESS_STATUS_SYSTEM, "code": status.value}], "text": text}


def is_referral(resource: dict[str, object] | None) -> bool:
    """A ServiceRequest of category "Patient referral" (however it came to be written)."""
    if not resource or resource.get("resourceType") != "ServiceRequest":
        return False
    categories = resource.get("category")
    for concept in categories if isinstance(categories, list) else []:
        for coding in concept.get("coding", []) if isinstance(concept, dict) else []:
            if isinstance(coding, dict) and (coding.get("system"), coding.get("code")) == (
                SNOMED,
                REFERRAL_CATEGORY_CODE,
            ):
                return True
    return False
