"""When a waiting request escalates, alerts supervisors and times out, by urgency."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bridge.clock import as_utc
from bridge.consults.states import Urgency

# Escalation levels: 0 rings one doctor, 1 rings every on-duty doctor, 2 has alerted supervisors.
RING_ONE, RING_ALL, ALERTED = 0, 1, 2
_FACTOR = {Urgency.ROUTINE: 1.0, Urgency.URGENT: 1 / 3, Urgency.EMERGENCY: 1 / 6}


@dataclass(frozen=True)
class RingTimings:
    escalate_after: timedelta
    alert_after: timedelta
    time_out_after: timedelta

    def for_urgency(self, urgency: Urgency) -> RingTimings:
        factor = _FACTOR[urgency]
        return RingTimings(self.escalate_after * factor, self.alert_after * factor, self.time_out_after)

    def initial_level(self, urgency: Urgency) -> int:
        # 一键通: an emergency rings every on-duty doctor at once.
        return RING_ALL if urgency is Urgency.EMERGENCY else RING_ONE

    def next_deadline(self, urgency: Urgency, level: int, requested_at: datetime) -> datetime:
        own = self.for_urgency(urgency)
        start = as_utc(requested_at)
        if level < RING_ALL:
            return start + own.escalate_after
        if level < ALERTED:
            return min(start + own.alert_after, start + own.time_out_after)
        return start + own.time_out_after
