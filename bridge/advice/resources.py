"""Advice and its follow-up tasks as FHIR R4 resources, and their later versions. Nothing here reads or
writes the store.

    Communication  status in-progress until a nurse of the home acknowledges it, then completed
                   (`received`, a note naming who); category advice (and HL7's instruction); subject
                   the resident; encounter the consult, when given; about the results it concerns;
                   sender the doctor's Practitioner (a hospital system: its Organization); recipient
                   the home; payload the advice text; sent
    Task           status requested, then completed (by a nurse, with her note) or cancelled (by the
                   sending hospital); intent order; code follow-up; for the resident; focus and basedOn
                   the Communication; requester as the sender; owner the home; description;
                   restriction.period.end the due date
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bridge.advice.advice_input import CheckedAdvice, CheckedFollowUp
from bridge.advice.codes import (
    ADVICE,
    CATEGORY_SYSTEM,
    FOLLOW_UP,
    HL7_CATEGORY_SYSTEM,
    HL7_INSTRUCTION,
    TASK_CODE_SYSTEM,
)
from bridge.i18n import Translator
from bridge.prescriptions.actors import ActorRef
from bridge.results.critical_communication import instant

# Written in the default language: the record is read by the home's and the hospital's Chinese staff.
RECORD_LANGUAGE = Translator()


def advice_communication(
    advice: CheckedAdvice, patient: dict[str, Any], home_id: str, sender: ActorRef, sent: datetime
) -> dict[str, Any]:
    communication: dict[str, Any] = {
        "resourceType": "Communication",
        "status": "in-progress",
        "category": [
            {
                "coding": [{"system": CATEGORY_SYSTEM, "code": ADVICE, "display": "Advice"}],
                "text": RECORD_LANGUAGE("advice.category"),
            },
            {"coding": [{"system": HL7_CATEGORY_SYSTEM, "code": HL7_INSTRUCTION, "display": "Instruction"}]},
        ],
        "subject": {"reference": f"Patient/{patient['id']}"},
        "sent": instant(sent),
        "sender": sender.as_reference(),
        "recipient": [{"reference": f"Organization/{home_id}"}],
        "payload": [{"contentString": advice.text}],
    }
    if advice.encounter:
        communication["encounter"] = {"reference": advice.encounter}
    if advice.about:
        communication["about"] = [{"reference": reference} for reference in advice.about]
    return communication


def follow_up_task(
    task: CheckedFollowUp,
    communication: dict[str, Any],
    home_id: str,
    requester: ActorRef,
    now: datetime,
) -> dict[str, Any]:
    reference = {"reference": f"Communication/{communication['id']}"}
    resource: dict[str, Any] = {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "priority": "routine",
        "code": {
            "coding": [{"system": TASK_CODE_SYSTEM, "code": FOLLOW_UP, "display": "Follow-up"}],
            "text": RECORD_LANGUAGE("advice.task.code"),
        },
        "description": task.description,
        "focus": reference,
        "basedOn": [reference],
        "for": communication["subject"],
        "authoredOn": instant(now),
        "lastModified": instant(now),
        "requester": requester.as_reference(),
        "owner": {"reference": f"Organization/{home_id}"},
        "restriction": {"period": {"end": instant(task.due)}},
    }
    if "encounter" in communication:
        resource["encounter"] = communication["encounter"]
    return resource


def _note(who: ActorRef, when: datetime, text: str) -> dict[str, Any]:
    note: dict[str, Any] = {"time": instant(when), "text": text}
    if who.reference.startswith("Practitioner/"):
        note["authorReference"] = who.as_reference()
    else:
        note["authorString"] = who.display
    return note


def acknowledged(communication: dict[str, Any], who: ActorRef, when: datetime) -> dict[str, Any]:
    text = RECORD_LANGUAGE("advice.acknowledged_note", who=who.display)
    return {
        **communication,
        "status": "completed",
        "received": instant(when),
        "note": [*communication.get("note", []), _note(who, when, text)],
    }


def closed_task(task: dict[str, Any], status: str, who: ActorRef, when: datetime, note: str | None) -> dict[str, Any]:
    """The Task completed or cancelled by `who`, with the note they gave (or one naming them)."""
    key = "advice.task.completed_note" if status == "completed" else "advice.task.cancelled_note"
    text = RECORD_LANGUAGE(key, who=who.display) + (f": {note}" if note else "")
    closed: dict[str, Any] = {
        **task,
        "status": status,
        "lastModified": instant(when),
        "note": [*task.get("note", []), _note(who, when, text)],
    }
    if status == "completed":
        closed["executionPeriod"] = {**task.get("executionPeriod", {}), "end": instant(when)}
    return closed


def due_of(task: dict[str, Any]) -> str | None:
    end = ((task.get("restriction") or {}).get("period") or {}).get("end")
    return str(end) if end else None


def text_of(communication: dict[str, Any]) -> str:
    return "\n".join(str(p["contentString"]) for p in communication.get("payload", []) if "contentString" in p)
