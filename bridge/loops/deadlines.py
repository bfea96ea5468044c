"""The deadline in force for each kind of clock, and the checks that refuse a deadline that makes no sense.

Three layers, the last that says something wins: the defaults (bridge/loops/codes.py; the critical-value
acknowledgement takes BRIDGE_CRITICAL_ACK_MINUTES), BRIDGE_LOOP_DEADLINES (checked when the settings
load), and what an administrator sets on /admin/deadlines or through the API (a `loop_deadline` row).
A new deadline applies to clocks started after it: a clock keeps the due time it was started with.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from bridge.clock import as_utc
from bridge.loops.codes import CONFIGURABLE, DEFAULT_DEADLINE_MINUTES, Clock
from bridge.loops.deadline_rules import checked_minutes
from bridge.loops.tables import LoopDeadline
from bridge.services import Services


@dataclass(frozen=True)
class DeadlineInForce:
    kind: Clock
    minutes: int
    source: str  # "default", "settings" or "administrator"
    updated_by: str | None = None


def deadlines_in_force(services: Services) -> dict[Clock, DeadlineInForce]:
    settings = services.settings
    result: dict[Clock, DeadlineInForce] = {}
    for clock in CONFIGURABLE:
        default = settings.critical_ack_minutes if clock is Clock.CRITICAL_ACK else DEFAULT_DEADLINE_MINUTES[clock]
        result[clock] = DeadlineInForce(clock, default, "default")
        if clock.value in settings.loop_deadlines:
            result[clock] = DeadlineInForce(clock, settings.loop_deadlines[clock.value], "settings")
    for row in services.db.scalars(select(LoopDeadline)):
        try:
            clock = Clock(row.kind)
        except ValueError:
            continue  # a kind a later version removed; its row means nothing now
        if clock in result:
            result[clock] = DeadlineInForce(clock, row.minutes, "administrator", row.updated_by)
    return result


def deadline_minutes(services: Services, clock: Clock) -> int:
    return deadlines_in_force(services)[clock].minutes


def set_deadline(services: Services, kind: str, minutes: object, by: str) -> DeadlineInForce:
    """An administrator's new deadline; DeadlineRefused (and nothing written) when it makes no sense."""
    clock, value = checked_minutes(kind, minutes)
    row = services.db.get(LoopDeadline, clock.value)
    now = as_utc(services.now())
    if row is None:
        services.db.add(LoopDeadline(kind=clock.value, minutes=value, updated_at=now, updated_by=by[:128]))
    else:
        row.minutes, row.updated_at, row.updated_by = value, now, by[:128]
    services.db.flush()
    return DeadlineInForce(clock, value, "administrator", by)


def reset_deadline(services: Services, kind: str) -> None:
    """Back to the settings or the default."""
    clock, _ = checked_minutes(kind, 1)
    row = services.db.get(LoopDeadline, clock.value)
    if row is not None:
        services.db.delete(row)
        services.db.flush()
