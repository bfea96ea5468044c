"""Sending advice: one Communication to the home and one Task per follow-up, written in one unit of work
with the loop step and its clocks (the home's acknowledgement, each task's due date). If any part
fails, none of it happened."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from bridge.advice.advice_input import FollowUp, check_advice
from bridge.advice.news import AdviceNews, announce_advice
from bridge.advice.parties import require_sender
from bridge.advice.resources import advice_communication, follow_up_task
from bridge.auth.principal import Principal
from bridge.loops.codes import Clock, Step
from bridge.loops.tracker import ClockStart, Parties, advance
from bridge.prescriptions.actors import actor_of
from bridge.services import Services

logger = logging.getLogger(__name__)


def send_advice(
    services: Services,
    principal: Principal,
    patient_id: str,
    text: str,
    tasks: Sequence[FollowUp | Mapping[str, Any]] = (),
    about: Sequence[str] = (),
    encounter: str | None = None,
) -> dict[str, Any]:
    """The stored Communication; its Tasks are found by `focus` (bridge/advice/views.py lists them).

    404 for a resident the caller may not see or whose home its hospital does not serve, 403 for
    anyone but a doctor or system of an internet hospital, 422 (InvalidInput) for empty text, an empty
    task description, a due date in the past or results of someone else.
    """
    patient, home_id = require_sender(services, principal, patient_id)
    advice = check_advice(services, patient_id, text, tasks, about, encounter)
    sender = actor_of(principal)
    now = services.now()
    communication = services.repository.create(advice_communication(advice, patient, home_id, sender, now))
    stored_tasks = [
        services.repository.create(follow_up_task(task, communication, home_id, sender, now)) for task in advice.tasks
    ]
    subject = f"Communication/{communication['id']}"
    advance(
        services,
        step=Step.ADVICE_SENT,
        subject=subject,
        parties=Parties(patient_id, home_id, hospital_id=principal.organization_id),
        actor=sender,
        links=[*advice.about, *([advice.encounter] if advice.encounter else [])],
        starts=[
            ClockStart(Clock.ADVICE_ACK, subject),
            *(
                ClockStart(Clock.FOLLOW_UP, f"Task/{task['id']}", due_at=given.due)
                for task, given in zip(stored_tasks, advice.tasks, strict=True)
            ),
        ],
        detail={"tasks": [t["id"] for t in stored_tasks]},
    )
    announce_advice(
        services,
        AdviceNews.SENT,
        communication_id=communication["id"],
        patient_id=patient_id,
        home_id=home_id,
        hospital_id=principal.organization_id,
        tasks=len(stored_tasks),
    )
    logger.info("%s sent advice %s with %s task(s)", sender.reference, subject, len(stored_tasks))
    return communication
