"""Recording steps and running clocks, in the caller's unit of work.

Workflows call `advance` at each step: it records the step in its loop, stops the clocks the step
ends and starts the clocks of what must follow, so the step and its bookkeeping commit or roll back
together. Which loop a step belongs to:

1. the loop of a resource the step names (`links`: the results advice is about, the consult's
   Encounter, the prescription a pharmacy Task fulfils, ...), else
2. the loop its subject already belongs to, else
3. the resident's latest loop opened within BRIDGE_LOOP_JOIN_HOURS (data up, then advice, then a
   prescription, without anyone linking them), else
4. a new loop, named after the subject.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, select

from bridge.clock import as_utc
from bridge.loops.codes import RESPONSIBLE, Clock, Outcome, Party, Step
from bridge.loops.deadlines import deadline_minutes
from bridge.loops.tables import LoopClock, LoopStep
from bridge.services import Services

logger = logging.getLogger(__name__)


class Actor(Protocol):
    @property
    def reference(self) -> str: ...

    @property
    def display(self) -> str: ...


@dataclass(frozen=True)
class Parties:
    patient_id: str
    home_id: str
    hospital_id: str | None = None
    pharmacy_id: str | None = None

    def responsible(self, party: Party) -> str | None:
        return {Party.HOME: self.home_id, Party.HOSPITAL: self.hospital_id, Party.PHARMACY: self.pharmacy_id}[party]


@dataclass(frozen=True)
class ClockStart:
    clock: Clock
    subject: str
    due_at: datetime | None = None  # None: now plus the deadline in force for `clock`


def loop_of(services: Services, references: Iterable[str], patient_id: str | None = None) -> str | None:
    """The loop of the first reference that has one (a step recorded about it); only the resident's own
    loops when `patient_id` is given: a record naming another resident's must not pull this step (and
    its organisations) into that resident's loop."""
    for reference in references:
        query = select(LoopStep.loop_id).where(LoopStep.subject == reference)
        if patient_id is not None:
            query = query.where(LoopStep.patient_id == patient_id)
        found = services.db.scalar(query.order_by(LoopStep.id).limit(1))
        if found is not None:
            return found
    return None


def recent_loop_of(services: Services, patient_id: str, now: datetime) -> str | None:
    """The resident's latest loop whose first step is within the join window."""
    window = timedelta(hours=services.settings.loop_join_hours)
    first_step = (
        select(LoopStep.loop_id, func.min(LoopStep.at).label("opened"))
        .where(LoopStep.patient_id == patient_id)
        .group_by(LoopStep.loop_id)
        .subquery()
    )
    return services.db.scalar(
        select(first_step.c.loop_id)
        .where(first_step.c.opened >= as_utc(now) - window)
        .order_by(first_step.c.opened.desc())
        .limit(1)
    )


def resolve_loop(services: Services, subject: str, patient_id: str, links: Sequence[str]) -> str:
    return (
        loop_of(services, [*links, subject], patient_id)
        or recent_loop_of(services, patient_id, services.now())
        or subject
    )


def record_step(
    services: Services,
    *,
    loop_id: str,
    step: Step,
    subject: str,
    parties: Parties,
    actor: Actor,
    detail: dict[str, Any] | None = None,
) -> LoopStep:
    row = LoopStep(
        loop_id=loop_id,
        step=step.value,
        subject=subject,
        patient_id=parties.patient_id,
        home_id=parties.home_id,
        hospital_id=parties.hospital_id,
        pharmacy_id=parties.pharmacy_id,
        actor_reference=actor.reference[:128],
        actor_display=actor.display[:128],
        at=as_utc(services.now()),
        detail=json.dumps(detail or {}, ensure_ascii=False),
    )
    services.db.add(row)
    return row


def open_clocks(services: Services, subject: str, clocks: Iterable[Clock] | None = None) -> list[LoopClock]:
    query = select(LoopClock).where(LoopClock.subject == subject, LoopClock.done_at.is_(None))
    if clocks is not None:
        query = query.where(LoopClock.kind.in_([c.value for c in clocks]))
    return list(services.db.scalars(query.order_by(LoopClock.id)))


def start_clock(services: Services, *, loop_id: str, start: ClockStart, parties: Parties) -> LoopClock | None:
    """Start awaiting `start.clock` on its subject; the open clock if one runs already.

    None when the responsible party is not known (a home with no contracted pharmacy): nobody could
    be alerted, so the clock would only ever be a false "overdue" on the dashboard.
    """
    responsible = parties.responsible(RESPONSIBLE[start.clock])
    if responsible is None:
        party = RESPONSIBLE[start.clock]
        logger.warning("no %s for the %s clock of %s; not started", party, start.clock, start.subject)
        return None
    running = open_clocks(services, start.subject, [start.clock])
    if running:
        return running[0]
    now = as_utc(services.now())
    due = as_utc(start.due_at) if start.due_at else now + timedelta(minutes=deadline_minutes(services, start.clock))
    row = LoopClock(
        loop_id=loop_id,
        kind=start.clock.value,
        subject=start.subject,
        patient_id=parties.patient_id,
        home_id=parties.home_id,
        hospital_id=parties.hospital_id,
        pharmacy_id=parties.pharmacy_id,
        responsible_id=responsible,
        started_at=now,
        due_at=due,
    )
    services.db.add(row)
    return row


def stop_clocks(
    services: Services,
    subject: str,
    clocks: Iterable[Clock] | None,
    *,
    by: str,
    outcome: Outcome = Outcome.MET,
) -> list[LoopClock]:
    """Stop the open clocks of `subject` (of the given kinds, or all); the ones stopped."""
    now = as_utc(services.now())
    stopped = open_clocks(services, subject, clocks)
    for row in stopped:
        row.done_at, row.outcome, row.done_by = now, outcome.value, by[:128]
    services.db.flush()
    return stopped


def advance(
    services: Services,
    *,
    step: Step,
    subject: str,
    parties: Parties,
    actor: Actor,
    links: Sequence[str] = (),
    stops: Iterable[tuple[Clock, str]] = (),
    cancels: Iterable[str] = (),
    starts: Iterable[ClockStart] = (),
    detail: dict[str, Any] | None = None,
) -> str:
    """Record `step`, stop the clocks it meets, cancel those it makes moot, start the next; the loop id."""
    loop_id = resolve_loop(services, subject, parties.patient_id, links)
    record_step(services, loop_id=loop_id, step=step, subject=subject, parties=parties, actor=actor, detail=detail)
    for clock, clock_subject in stops:
        stop_clocks(services, clock_subject, [clock], by=actor.reference)
    for cancelled_subject in cancels:
        stop_clocks(services, cancelled_subject, None, by=actor.reference, outcome=Outcome.CANCELLED)
    for start in starts:
        start_clock(services, loop_id=loop_id, start=start, parties=parties)
    services.db.flush()
    return loop_id
