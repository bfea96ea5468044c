"""What the home does with advice: acknowledge it and complete its follow-up tasks; and the sending
hospital's withdrawal of a task. Each writes the resource's next version (the version read, so of two
people at once one wins and the other gets 409) and the loop step, in the caller's unit of work."""

from __future__ import annotations

import logging
from typing import Any

from bridge.advice.news import AdviceNews, announce_advice
from bridge.advice.parties import (
    AdviceRecord,
    load_advice,
    load_follow_up,
    require_home_party,
    require_sending_hospital,
)
from bridge.advice.resources import acknowledged, closed_task
from bridge.auth.principal import Principal
from bridge.errors import Conflict, FieldError, InvalidInput
from bridge.loops.codes import Clock, Step
from bridge.loops.tracker import advance
from bridge.prescriptions.actors import actor_of
from bridge.services import Services

logger = logging.getLogger(__name__)

MAX_NOTE_CHARS = 1000
OPEN_TASK = "requested"


def acknowledge_advice(services: Services, principal: Principal, communication_id: str) -> dict[str, Any]:
    """The acknowledged Communication. 404 when there is no such advice or the caller may not see the
    resident (another home's nurse), 403 for anyone but a nurse or system of the home, 409 when it was
    acknowledged already."""
    record = load_advice(services, principal, communication_id)
    require_home_party(principal, record, "advice.error.nurses_only")
    services.policy.require_scope(principal, "Communication", "u")
    current = record.resource
    if current.get("status") != "in-progress":
        raise Conflict("advice.error.already_acknowledged", who=_last_author(current))
    actor = actor_of(principal)
    now = services.now()
    version = int(current.get("meta", {}).get("versionId", 1))
    updated = services.repository.update(acknowledged(current, actor, now), if_match=version)
    subject = f"Communication/{communication_id}"
    advance(
        services,
        step=Step.ADVICE_ACKNOWLEDGED,
        subject=subject,
        parties=record.parties,
        actor=actor,
        stops=[(Clock.ADVICE_ACK, subject)],
    )
    _announce(services, record, AdviceNews.ACKNOWLEDGED, communication_id)
    logger.info("advice %s acknowledged by %s", subject, actor.reference)
    return updated


def complete_task(services: Services, principal: Principal, task_id: str, note: str | None = None) -> dict[str, Any]:
    """The completed Task, with the nurse's note. 404 / 403 as for acknowledging; 409 when it is no
    longer open (completed or cancelled already)."""
    record = load_follow_up(services, principal, task_id)
    require_home_party(principal, record, "advice.error.nurses_only")
    return _close(services, principal, record, "completed", note)


def cancel_task(services: Services, principal: Principal, task_id: str, reason: str | None = None) -> dict[str, Any]:
    """The cancelled Task: only the hospital that sent the advice withdraws a task."""
    record = load_follow_up(services, principal, task_id)
    require_sending_hospital(principal, record)
    return _close(services, principal, record, "cancelled", reason)


def _close(
    services: Services, principal: Principal, record: AdviceRecord, status: str, note: str | None
) -> dict[str, Any]:
    services.policy.require_scope(principal, "Task", "u")
    task = record.resource
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE_CHARS:
        raise InvalidInput([FieldError("note", "advice.error.too_long", {"max": MAX_NOTE_CHARS})])
    if task.get("status") != OPEN_TASK:
        raise Conflict("advice.error.task_closed", status=str(task.get("status")))
    actor = actor_of(principal)
    version = int(task.get("meta", {}).get("versionId", 1))
    updated = services.repository.update(closed_task(task, status, actor, services.now(), note), if_match=version)
    subject = f"Task/{task['id']}"
    communication = str((task.get("focus") or {}).get("reference", ""))
    completed = status == "completed"
    advance(
        services,
        step=Step.TASK_COMPLETED if completed else Step.TASK_CANCELLED,
        subject=subject,
        parties=record.parties,
        actor=actor,
        links=[communication],
        stops=[(Clock.FOLLOW_UP, subject)] if completed else [],
        cancels=[] if completed else [subject],
        detail={"note": note} if note else None,
    )
    news = AdviceNews.TASK_COMPLETED if completed else AdviceNews.TASK_CANCELLED
    _announce(services, record, news, communication.removeprefix("Communication/"), task_id=task["id"])
    logger.info("%s %s by %s", subject, status, actor.reference)
    return updated


def _announce(
    services: Services, record: AdviceRecord, news: AdviceNews, communication_id: str, task_id: str | None = None
) -> None:
    announce_advice(
        services,
        news,
        communication_id=communication_id,
        patient_id=record.patient["id"],
        home_id=record.home_id,
        hospital_id=record.hospital_id,
        task_id=task_id,
    )


def _last_author(resource: dict[str, Any]) -> str:
    notes = resource.get("note") or [{}]
    last = notes[-1]
    return str((last.get("authorReference") or {}).get("display") or last.get("authorString") or "?")
