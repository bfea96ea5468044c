"""The consult timers: escalation, supervisor alerts and time-outs of waiting requests, the end of
reconnect windows, and participants whose instance went away. Every instance sweeps; when two race on
one consult, the row version makes the loser's transaction fail and the next sweep finds nothing to do."""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta

from sqlalchemy import select

from bridge.clock import as_utc
from bridge.consults.events import Outcome
from bridge.consults.participation import Participation
from bridge.consults.queue import DoctorQueue, is_fresh
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

    def sweep(self, open_here: Collection[str] = ()) -> Outcome:
        """`open_here`: the sweeping instance's own open sockets, alive whatever their presence rows say."""
        outcome = Outcome()
        now = as_utc(self.services.now())
        ringing = self.db.scalars(select(Consult).where(Consult.state == ConsultState.RINGING.value))
        for consult in list(ringing):
            if consult.deadline_at is not None and as_utc(consult.deadline_at) <= now:
                self._ring_deadline(consult, outcome)
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
        now = self.services.now()
        live = open_here | {
            connection_id
            for connection_id, seen in self.db.execute(select(LiveConnection.connection_id, LiveConnection.seen_at))
            if is_fresh(seen, now, self.stale_after)
        }
        connected = self.db.scalars(
            select(ConsultParticipant).where(ConsultParticipant.status == ParticipantStatus.CONNECTED.value)
        )
        for participant in list(connected):
            if participant.connection_id not in live:
                self.participation.drop(participant, outcome)
