"""The timeline of one loop: its steps in time order, its clocks with their states, and what a full
loop still has to come.

Found by loop id or by any resource a step was recorded about ("MedicationRequest/12", "Encounter/3").
A caller sees a loop naming its organisation, or one of the organisations it supervises
(bridge/loops/visibility.py); any other loop is not found.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from bridge.auth.principal import Principal
from bridge.clock import as_utc
from bridge.errors import NotFound
from bridge.loops.clock_states import ClockState, clock_state, lateness, time_taken
from bridge.loops.codes import RESPONSIBLE, Clock, Step
from bridge.loops.tables import LoopClock, LoopStep
from bridge.loops.tracker import loop_of
from bridge.loops.visibility import loop_scope, loop_visible, resident_names
from bridge.services import Services

# A full loop from data up to drug received, in the order it happens.
CANONICAL_STEPS: tuple[Step, ...] = (
    Step.RESULT_RECEIVED,
    Step.RESULT_REVIEWED,
    Step.ADVICE_SENT,
    Step.ADVICE_ACKNOWLEDGED,
    Step.PRESCRIPTION_SIGNED,
    Step.PRESCRIPTION_ACCEPTED,
    Step.PRESCRIPTION_DISPENSED,
    Step.PRESCRIPTION_DISPATCHED,
    Step.PRESCRIPTION_DELIVERED,
    Step.PRESCRIPTION_RECEIVED,
)
# Steps after which nothing more of the loop is to come.
ENDING_STEPS = frozenset({Step.PRESCRIPTION_CANCELLED.value, Step.PRESCRIPTION_REJECTED.value})


@dataclass(frozen=True)
class StepEntry:
    step: str
    at: datetime
    actor: str  # who, as shown
    actor_reference: str
    subject: str


@dataclass(frozen=True)
class ClockEntry:
    id: int
    kind: str
    subject: str
    party: str  # home, hospital or pharmacy
    responsible_id: str
    responsible_name: str
    started_at: datetime
    due_at: datetime
    done_at: datetime | None
    state: ClockState
    taken: timedelta  # to met or cancelled, or to now while awaited
    late_by: timedelta | None


@dataclass(frozen=True)
class LoopTimeline:
    loop_id: str
    patient_id: str
    resident_name: str | None  # None when the caller may not see the resident (supervisors)
    organisations: dict[str, str]  # party -> organisation name, for home, hospital and pharmacy
    opened_at: datetime
    now: datetime
    steps: tuple[StepEntry, ...]
    clocks: tuple[ClockEntry, ...]
    to_come: tuple[str, ...]  # canonical steps after the furthest one reached

    @property
    def closed(self) -> bool:
        counted = [c for c in self.clocks if c.state is not ClockState.CANCELLED]
        return bool(counted) and all(c.done_at is not None for c in counted)

    @property
    def on_time(self) -> bool:
        return not any(c.state in {ClockState.LATE, ClockState.OVERDUE} for c in self.clocks)


def find_loop(services: Services, principal: Principal, *, loop: str | None = None, subject: str | None = None) -> str:
    """The loop id named, or the loop of `subject`; NotFound when absent or not the caller's to see."""
    loop_id = loop or (loop_of(services, [subject]) if subject else None)
    if not loop_id or not loop_visible(services, loop_id, loop_scope(services, principal)):
        raise NotFound("loops.error.not_found")
    return loop_id


def loop_timeline(
    services: Services, principal: Principal, *, loop: str | None = None, subject: str | None = None
) -> LoopTimeline:
    loop_id = find_loop(services, principal, loop=loop, subject=subject)
    now = as_utc(services.now())
    steps = list(
        services.db.scalars(select(LoopStep).where(LoopStep.loop_id == loop_id).order_by(LoopStep.at, LoopStep.id))
    )
    clocks = list(
        services.db.scalars(
            select(LoopClock).where(LoopClock.loop_id == loop_id).order_by(LoopClock.started_at, LoopClock.id)
        )
    )
    parties = _parties(steps, clocks)
    names = services.organizations.names({*parties.values(), *(c.responsible_id for c in clocks)})
    patient_id = steps[0].patient_id if steps else clocks[0].patient_id
    return LoopTimeline(
        loop_id=loop_id,
        patient_id=patient_id,
        resident_name=resident_names(services, principal, {patient_id}).get(patient_id),
        organisations={party: names.get(org, org) for party, org in parties.items()},
        opened_at=as_utc(steps[0].at) if steps else as_utc(clocks[0].started_at),
        now=now,
        steps=tuple(StepEntry(s.step, as_utc(s.at), s.actor_display, s.actor_reference, s.subject) for s in steps),
        clocks=tuple(_clock_entry(c, now, names) for c in clocks),
        to_come=still_to_come([s.step for s in steps]),
    )


def still_to_come(recorded: list[str]) -> tuple[str, ...]:
    """The canonical steps after the furthest one recorded; none once the loop ended otherwise."""
    order = [s.value for s in CANONICAL_STEPS]
    reached = [order.index(s) for s in recorded if s in order]
    furthest = max(reached, default=-1)
    last_end = max((i for i, s in enumerate(recorded) if s in ENDING_STEPS), default=-1)
    last_canonical = max((i for i, s in enumerate(recorded) if s in order), default=-1)
    if last_end > last_canonical:
        return ()
    return tuple(order[furthest + 1 :])


def _parties(steps: list[LoopStep], clocks: list[LoopClock]) -> dict[str, str]:
    """The home, hospital and pharmacy of the loop, as its latest rows name them."""
    found: dict[str, str] = {}
    rows: list[LoopStep | LoopClock] = [*steps, *clocks]
    for row in rows:
        for party, org in (("home", row.home_id), ("hospital", row.hospital_id), ("pharmacy", row.pharmacy_id)):
            if org:
                found[party] = org
    return found


def _clock_entry(row: LoopClock, now: datetime, names: dict[str, str]) -> ClockEntry:
    return ClockEntry(
        id=row.id,
        kind=row.kind,
        subject=row.subject,
        party=RESPONSIBLE[Clock(row.kind)].value,
        responsible_id=row.responsible_id,
        responsible_name=names.get(row.responsible_id, row.responsible_id),
        started_at=as_utc(row.started_at),
        due_at=as_utc(row.due_at),
        done_at=as_utc(row.done_at) if row.done_at is not None else None,
        state=clock_state(row, now),
        taken=time_taken(row, now),
        late_by=lateness(row, now),
    )
