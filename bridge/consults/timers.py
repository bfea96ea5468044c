"""The consult timers: escalation, supervisor alerts and time-outs of waiting requests, the end of
reconnect windows, and participants whose instance went away. Every instance sweeps; when two race on
one consult, the row version makes the loser's transaction fail and the next sweep finds nothing to do."""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta

from sqlalchemy import exists, select

from bridge.clock import as_utc
from bridge.consults.events import Outcome
from bridge.consults.participation import Participation
from bridge.consults.queue import DoctorQueue
from bridge.consults.records import ConsultRecords
from bridge.consults.service import presence_stale_after, ring_timings
from bridge.consults.states import ConsultState, ParticipantStatus, Urgency
from bridge.consults.timings import ALERTED, RING_ALL
from bridge.db.tables import Consult, ConsultParticipant, LiveConnection
from bridge.services import Services


class ConsultTimers:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.db = services.db
        self.records = ConsultRecords(services)
        self.queue = DoctorQueue(services, presence_stale_after(services))
        self.participation = Participation(services)
        self.timings = ring_timings(services)
        self.stale_after: timedelta = presence_stale_after(services)

    def sweep(self, open_here: Collection[str] = (), *, find_lost: bool = True) -> Outcome:
        """`open_here`: the sweeping instance's own open sockets, alive whatever their presence rows say.
        `find_lost`: also look for participants whose socket has no fresh presence row; presence only
        changes at the heartbeat's pace, so instances do this once per heartbeat, not every sweep."""
        outcome = Outcome()
        now = as_utc(self.services.now())
        ringing = self.db.scalars(select(Consult).where(Consult.state == ConsultState.RINGING.value))
        for consult in list(ringing):
            if consult.deadline_at is not None and as_utc(consult.deadline_at) <= now:
                self._ring_deadline(consult, outcome)
        if find_lost:
            self._drop_participants_of_lost_connections(outcome, set(open_here))
        reconnecting = self.db.scalars(
            select(ConsultParticipant).where(ConsultParticipant.status == ParticipantStatus.RECONNECTING.value)
        )
        for participant in list(reconnecting):
            if self.participation.window_over(participant):
                self.participation.expire(participant, outcome)
        return outcome

    def _ring_deadline(self, consult: Consult, outcome: Outcome) -> None:
        urgency = Urgency(consult.urgency)
        own = self.timings.for_urgency(urgency)
        waited = as_utc(self.services.now()) - as_utc(consult.created_at)
        if waited >= own.time_out_after:
            self.records.transition(consult, ConsultState.TIMED_OUT)
            consult.end_reason = "timed_out"
            self.queue.removed(consult, "timed_out", outcome)
            self.records.announce(consult, outcome)
            return
        if consult.escalation < RING_ALL and waited >= own.escalate_after:
            consult.escalation = RING_ALL
            self.queue.ring(consult, outcome)
        elif consult.escalation < ALERTED and waited >= own.alert_after:
            self.queue.alert_supervisors(consult, outcome)
        consult.deadline_at = self.timings.next_deadline(urgency, consult.escalation, consult.created_at)
        self.records.announce(consult, outcome)

    def _drop_participants_of_lost_connections(self, outcome: Outcome, open_here: set[str]) -> None:
        # Only the participants without a fresh presence row come back (normally none), rather than
        # every connected participant and every presence row.
        fresh_presence = select(LiveConnection.connection_id).where(
            LiveConnection.connection_id == ConsultParticipant.connection_id,
            LiveConnection.seen_at >= self.services.now() - self.stale_after,
        )
        lost = self.db.scalars(
            select(ConsultParticipant).where(
                ConsultParticipant.status == ParticipantStatus.CONNECTED.value, ~exists(fresh_presence)
            )
        )
        for participant in list(lost):
            if participant.connection_id not in open_here:
                self.participation.drop(participant, outcome)
