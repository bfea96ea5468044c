"""A doctor marks results reviewed (已阅): the step that meets the result-review clock.

    pending_reviews(services, principal, patient_id) -> results of the resident awaiting review
    mark_reviewed(services, principal, "DiagnosticReport/12") -> the review recorded

Only a doctor of a hospital contracted with the resident's home may review (NotFound for a resident
out of sight, AccessDenied for others); results nobody awaits a review of are NotFound; a second review
is a Conflict naming the first reviewer.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from bridge.accounts.roles import Role
from bridge.auth.principal import Principal
from bridge.clock import as_utc
from bridge.errors import AccessDenied, Conflict, NotFound
from bridge.loops.codes import Clock, Outcome, Step
from bridge.loops.tables import LoopClock, LoopStep
from bridge.loops.tracker import Parties, advance
from bridge.prescriptions.actors import actor_of
from bridge.results.alerts import CHINA_TIME
from bridge.services import Services

logger = logging.getLogger(__name__)

REVIEWABLE_TYPES = ("DiagnosticReport", "Observation")


@dataclass(frozen=True)
class PendingReview:
    subject: str  # DiagnosticReport/<id> or Observation/<id>
    kind: str  # "lab" or "ecg"
    title: str
    received_at: datetime
    due_at: datetime
    overdue: bool

    @property
    def received_text(self) -> str:
        return self.received_at.astimezone(CHINA_TIME).strftime("%m-%d %H:%M")


def _require_doctor(principal: Principal) -> None:
    if not principal.is_user or principal.role is not Role.DOCTOR:
        raise AccessDenied("results.review.doctors_only")


def pending_reviews(services: Services, principal: Principal, patient_id: str) -> list[PendingReview]:
    services.policy.require_resident(principal, patient_id)
    now = services.now()
    clocks = services.db.scalars(
        select(LoopClock)
        .where(
            LoopClock.patient_id == patient_id,
            LoopClock.kind == Clock.RESULT_REVIEW.value,
            LoopClock.done_at.is_(None),
        )
        .order_by(LoopClock.started_at)
    ).all()
    pending = []
    for clock in clocks:
        received = services.db.scalar(
            select(LoopStep).where(LoopStep.subject == clock.subject, LoopStep.step == Step.RESULT_RECEIVED.value)
        )
        kind = json.loads(received.detail).get("kind", "lab") if received else "lab"
        pending.append(
            PendingReview(
                clock.subject,
                kind,
                _title(services, clock.subject),
                as_utc(clock.started_at),
                as_utc(clock.due_at),
                as_utc(clock.due_at) <= as_utc(now),
            )
        )
    return pending


def _title(services: Services, subject: str) -> str:
    resource_type, _, resource_id = subject.partition("/")
    try:
        resource = services.repository.read(resource_type, resource_id)
    except Exception:  # deleted since: the review still stands, the title falls back to the reference
        return subject
    code = resource.get("code", {})
    return str(
        code.get("text") or next((c.get("display") for c in code.get("coding", []) if c.get("display")), subject)
    )


def mark_reviewed(services: Services, principal: Principal, subject: str) -> LoopClock:
    resource_type, _, resource_id = subject.partition("/")
    if resource_type not in REVIEWABLE_TYPES or not resource_id:
        raise NotFound()
    clock = services.db.scalar(
        select(LoopClock)
        .where(LoopClock.subject == subject, LoopClock.kind == Clock.RESULT_REVIEW.value)
        .order_by(LoopClock.id.desc())
        .limit(1)
    )
    if clock is None:
        raise NotFound()
    services.policy.require_resident(principal, clock.patient_id)
    _require_doctor(principal)
    actor = actor_of(principal)
    # One statement only an open clock satisfies: of two doctors at once, one reviews, the other hears 409.
    claimed = services.db.execute(
        update(LoopClock)
        .where(LoopClock.id == clock.id, LoopClock.done_at.is_(None))
        .values(done_at=as_utc(services.now()), outcome=Outcome.MET.value, done_by=actor.reference[:128])
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        first = services.db.scalar(
            select(LoopStep.actor_display).where(
                LoopStep.subject == subject, LoopStep.step == Step.RESULT_REVIEWED.value
            )
        )
        raise Conflict("results.review.already", who=first or clock.done_by or "?")
    services.db.refresh(clock)
    advance(
        services,
        step=Step.RESULT_REVIEWED,
        subject=subject,
        parties=Parties(clock.patient_id, clock.home_id, principal.organization_id),
        actor=actor,
    )
    logger.info("%s reviewed by %s", subject, principal.reference)
    return clock
