"""The FHIR resources of a referral: the ServiceRequest the doctor signs off and the Task that tracks it.

Stored text is in the default language (Chinese); pages translate the codes. Both name the resident,
the referring doctor (requester) and the receiving hospital (ServiceRequest.performer, Task.owner), so
the hospital's system finds them by `performer=` or `owner=`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bridge.clock import fhir_instant
from bridge.directory.residents import display_name
from bridge.i18n import Translator
from bridge.prescriptions.actors import ActorRef
from bridge.referrals.codes import CONSULTATION, REFERRAL_CATEGORY, TASK_CODE_SYSTEM, Status, business_status


@dataclass(frozen=True)
class ReferralDetails:
    """What the doctor gives; `service_request` checks none of it (bridge/referrals/service.py does)."""

    reason: str
    urgency: str
    supporting: list[str] = field(default_factory=list)  # "Observation/1", "DiagnosticReport/2"
    hospital_id: str | None = None  # None: the referring doctor's own
    note: str | None = None
    reason_codes: list[dict[str, Any]] = field(default_factory=list)  # CodeableConcepts
    service: dict[str, Any] | None = None  # a CodeableConcept; default: an in-person consultation


@dataclass(frozen=True)
class Referral:
    """A referral as stored: what each operation answers with."""

    service_request: dict[str, Any]
    task: dict[str, Any]


def note_of(text: str, actor: ActorRef, at: datetime) -> dict[str, Any]:
    return {"text": text, "time": fhir_instant(at), "authorReference": actor.as_reference()}


def service_request(
    details: ReferralDetails, patient: dict[str, Any], actor: ActorRef, hospital_id: str, now: datetime
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "category": [REFERRAL_CATEGORY],
        "priority": details.urgency,
        "code": details.service or CONSULTATION,
        "subject": {"reference": f"Patient/{patient['id']}", "display": display_name(patient)},
        "authoredOn": fhir_instant(now),
        "requester": actor.as_reference(),
        "performer": [{"reference": f"Organization/{hospital_id}"}],
        "reasonCode": [*details.reason_codes, {"text": details.reason}],
    }
    if details.supporting:
        resource["supportingInfo"] = [{"reference": reference} for reference in details.supporting]
    if details.note:
        resource["note"] = [note_of(details.note, actor, now)]
    return resource


def tracking_task(request: dict[str, Any], actor: ActorRef, hospital_id: str, now: datetime) -> dict[str, Any]:
    default = Translator()
    return {
        "resourceType": "Task",
        "status": Status.REQUESTED.value,
        "intent": "order",
        "priority": request["priority"],
        "code": {"coding": [{"system": TASK_CODE_SYSTEM, "code": "fulfill", "display": "Fulfill the focal request"}]},
        "description": default("referral.task.description"),
        "focus": {"reference": f"ServiceRequest/{request['id']}"},
        "for": dict(request["subject"]),
        "authoredOn": fhir_instant(now),
        "lastModified": fhir_instant(now),
        "requester": actor.as_reference(),
        "owner": {"reference": f"Organization/{hospital_id}"},
        "businessStatus": business_status(Status.REQUESTED, default(f"referral.status.{Status.REQUESTED.value}")),
    }


def status_changes(status: Status) -> dict[str, Any]:
    text = Translator()(f"referral.status.{status.value}")
    return {"status": status.value, "businessStatus": business_status(status, text)}
