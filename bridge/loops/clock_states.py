"""The state of one clock at a moment: met on time, met late, open, overdue or cancelled.

The timeline and the dashboard both judge clocks this way; the dashboard repeats the same rules in SQL
(bridge/loops/dashboard_queries.py) and its tests hold the two to each other.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from bridge.clock import as_utc
from bridge.loops.codes import Outcome
from bridge.loops.tables import LoopClock


class ClockState(StrEnum):
    ON_TIME = "on-time"  # met no later than due
    LATE = "late"  # met after its due time
    OPEN = "open"  # awaited, not yet due
    OVERDUE = "overdue"  # awaited and past due
    CANCELLED = "cancelled"  # will never be met; counts nowhere


def clock_state(row: LoopClock, now: datetime) -> ClockState:
    due = as_utc(row.due_at)
    if row.done_at is None:
        return ClockState.OVERDUE if due < as_utc(now) else ClockState.OPEN
    if row.outcome == Outcome.CANCELLED.value:
        return ClockState.CANCELLED
    return ClockState.LATE if as_utc(row.done_at) > due else ClockState.ON_TIME


def time_taken(row: LoopClock, now: datetime) -> timedelta:
    """From start to met (or cancelled), or to now while it is awaited."""
    end = as_utc(row.done_at) if row.done_at is not None else as_utc(now)
    return end - as_utc(row.started_at)


def lateness(row: LoopClock, now: datetime) -> timedelta | None:
    """How far past due it was met, or is now while awaited; None when it is (or was) in time."""
    end = as_utc(row.done_at) if row.done_at is not None else as_utc(now)
    late = end - as_utc(row.due_at)
    if row.outcome == Outcome.CANCELLED.value or late <= timedelta(0):
        return None
    return late
