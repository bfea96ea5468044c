"""Each step of a prescription, recorded twice on purpose: as an extension on the Task (so a pharmacy
or home reading the Task over FHIR sees who did what when) and as a `prescription_step` row (so the
loop tracker and supervisors can measure step durations across thousands of prescriptions). Each
step also advances the resident's care loop (bridge/prescriptions/loop_steps.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bridge.clock import as_utc, fhir_instant
from bridge.loops.tracker import Parties
from bridge.prescriptions.actors import ActorRef
from bridge.prescriptions.codes import STEP_EXTENSION, Step
from bridge.prescriptions.loop_steps import track_prescription_step
from bridge.prescriptions.tables import PrescriptionStep
from bridge.services import Services


def step_extension(step: Step, actor: ActorRef, at: datetime, note: str | None = None) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [
        {"url": "step", "valueCode": step.value},
        {"url": "actor", "valueReference": actor.as_reference()},
        {"url": "at", "valueDateTime": fhir_instant(at)},
    ]
    if note:
        parts.append({"url": "note", "valueString": note})
    return {"url": STEP_EXTENSION, "extension": parts}


def with_step(
    resource: dict[str, Any], step: Step, actor: ActorRef, at: datetime, note: str | None = None
) -> dict[str, Any]:
    return {**resource, "extension": [*resource.get("extension", []), step_extension(step, actor, at, note)]}


def record_step(
    services: Services,
    *,
    step: Step,
    actor: ActorRef,
    medication_request_id: str,
    patient_id: str,
    home_id: str,
    task_id: str | None = None,
    hospital_id: str | None = None,
    pharmacy_id: str | None = None,
    detail: dict[str, Any] | None = None,
    links: Sequence[str] = (),
) -> PrescriptionStep:
    row = PrescriptionStep(
        medication_request_id=medication_request_id,
        task_id=task_id,
        patient_id=patient_id,
        home_id=home_id,
        hospital_id=hospital_id,
        pharmacy_id=pharmacy_id,
        step=step.value,
        actor_reference=actor.reference[:128],
        actor_display=actor.display[:128],
        at=as_utc(services.now()),
        detail=json.dumps(detail or {}, ensure_ascii=False),
    )
    services.db.add(row)
    services.db.flush()
    track_prescription_step(
        services,
        step,
        actor,
        medication_request_id=medication_request_id,
        task_id=task_id,
        parties=Parties(patient_id, home_id, hospital_id, pharmacy_id),
        links=links,
    )
    return row


def steps_of(services: Services, medication_request_id: str) -> list[PrescriptionStep]:
    return list(
        services.db.scalars(
            select(PrescriptionStep)
            .where(PrescriptionStep.medication_request_id == medication_request_id)
            .order_by(PrescriptionStep.at, PrescriptionStep.id)
        )
    )


def was_signed(services: Services, medication_request_id: str) -> bool:
    return (
        services.db.scalar(
            select(PrescriptionStep.id)
            .where(
                PrescriptionStep.medication_request_id == medication_request_id,
                PrescriptionStep.step == Step.SIGNED.value,
            )
            .limit(1)
        )
        is not None
    )
