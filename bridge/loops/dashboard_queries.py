"""The dashboard's counts, computed in SQL so they scale to thousands of loops; the same rules as
bridge/loops/clock_states.py, on both SQLite and PostgreSQL.

Attribution: a loop and its steps count for every organisation they name (its home, hospital and
pharmacy); a clock counts for the organisation responsible for it, which is whose punctuality it measures.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, extract, func, or_, select, union, union_all
from sqlalchemy.orm import QueryableAttribute

from bridge.loops.codes import Outcome
from bridge.loops.tables import LoopClock, LoopStep
from bridge.loops.visibility import Scope
from bridge.services import Services

OVERDUE_LIST_LIMIT = 500
_MET = LoopClock.outcome == Outcome.MET.value
_COUNTED = or_(LoopClock.outcome.is_(None), LoopClock.outcome != Outcome.CANCELLED.value)


def _ones(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _in_scope(column: QueryableAttribute[Any], scope: Scope) -> ColumnElement[bool]:
    return column.is_not(None) if scope is None else column.in_(scope)


@dataclass(frozen=True)
class LoopCounts:
    loops: int  # opened in the period
    tracked: int  # with at least one clock that counts (not cancelled)
    closed: int  # tracked, nothing awaited
    closed_on_time: int  # closed, nothing met late
    late: int  # something met late or overdue now, closed or not


@dataclass(frozen=True)
class ClockCounts:
    met: int
    met_on_time: int
    open: int
    overdue: int
    alerted: int = 0  # went overdue and were alerted (the city platform's "alerts raised")
    alerted_handled: int = 0  # of those, met or made moot since ("handled")


def loop_counts(services: Services, since: datetime, now: datetime, scope: Scope) -> dict[str, LoopCounts]:
    """Per organisation, the loops opened since `since` that name it."""
    opened = select(LoopStep.loop_id).group_by(LoopStep.loop_id).having(func.min(LoopStep.at) >= since)
    members = [
        select(table.loop_id.label("loop_id"), column.label("org")).where(
            table.loop_id.in_(opened), _in_scope(column, scope)
        )
        for table in (LoopStep, LoopClock)
        for column in (table.home_id, table.hospital_id, table.pharmacy_id)
    ]
    named = union(*members).subquery("named")
    status = (
        select(
            LoopClock.loop_id.label("loop_id"),
            func.count().label("clocks"),
            _ones(LoopClock.done_at.is_(None)).label("open"),
            _ones(and_(LoopClock.done_at.is_not(None), LoopClock.done_at > LoopClock.due_at)).label("met_late"),
            _ones(and_(LoopClock.done_at.is_(None), LoopClock.due_at < now)).label("overdue"),
        )
        .where(_COUNTED)
        .group_by(LoopClock.loop_id)
        .subquery("status")
    )
    closed = and_(status.c.clocks > 0, status.c.open == 0)
    query = (
        select(
            named.c.org,
            func.count().label("loops"),
            func.count(status.c.loop_id).label("tracked"),
            _ones(closed).label("closed"),
            _ones(and_(closed, status.c.met_late == 0)).label("closed_on_time"),
            _ones(or_(status.c.met_late > 0, status.c.overdue > 0)).label("late"),
        )
        .select_from(named.outerjoin(status, status.c.loop_id == named.c.loop_id))
        .group_by(named.c.org)
    )
    return {
        row.org: LoopCounts(int(row.loops), int(row.tracked), int(row.closed), int(row.closed_on_time), int(row.late))
        for row in services.db.execute(query)
    }


def step_counts(services: Services, since: datetime, scope: Scope) -> dict[str, int]:
    """Per organisation, the steps since `since` that name it."""
    named = union_all(
        *(
            select(column.label("org")).where(LoopStep.at >= since, _in_scope(column, scope))
            for column in (LoopStep.home_id, LoopStep.hospital_id, LoopStep.pharmacy_id)
        )
    ).subquery("named")
    query = select(named.c.org, func.count().label("steps")).group_by(named.c.org)
    return {row.org: int(row.steps) for row in services.db.execute(query)}


def clock_counts(
    services: Services, since: datetime, now: datetime, scope: Scope
) -> dict[tuple[str, str], ClockCounts]:
    """Per (responsible organisation, kind), the clocks started since `since`."""
    query = (
        select(
            LoopClock.responsible_id,
            LoopClock.kind,
            _ones(_MET).label("met"),
            _ones(and_(_MET, LoopClock.done_at <= LoopClock.due_at)).label("met_on_time"),
            _ones(LoopClock.done_at.is_(None)).label("open"),
            _ones(and_(LoopClock.done_at.is_(None), LoopClock.due_at < now)).label("overdue"),
            _ones(LoopClock.overdue_alerted_at.is_not(None)).label("alerted"),
            _ones(and_(LoopClock.overdue_alerted_at.is_not(None), LoopClock.done_at.is_not(None))).label("handled"),
        )
        .where(LoopClock.started_at >= since, _in_scope(LoopClock.responsible_id, scope))
        .group_by(LoopClock.responsible_id, LoopClock.kind)
    )
    return {
        (row.responsible_id, row.kind): ClockCounts(
            int(row.met), int(row.met_on_time), int(row.open), int(row.overdue), int(row.alerted), int(row.handled)
        )
        for row in services.db.execute(query)
    }


def met_durations(services: Services, since: datetime, scope: Scope) -> Iterator[tuple[str, str, float]]:
    """(responsible organisation, kind, seconds taken) of each clock met that started since `since`.

    The seconds are computed by the database (date arithmetic differs: julianday on SQLite, epoch of an
    interval on PostgreSQL), so only a float per clock crosses over rather than two timestamps to parse:
    the dashboard over a city's month of loops spends most of its time here (tests/benchmarks/bench_loops.py).
    """
    query = select(LoopClock.responsible_id, LoopClock.kind, _seconds_taken(services).label("seconds")).where(
        _MET, LoopClock.started_at >= since, _in_scope(LoopClock.responsible_id, scope)
    )
    for row in services.db.execute(query.execution_options(yield_per=5000)):
        # julianday's doubles are good to some microseconds; milliseconds are all a dashboard shows.
        yield row.responsible_id, row.kind, round(float(row.seconds), 3)


def _seconds_taken(services: Services) -> ColumnElement[Any]:
    if services.db.get_bind().dialect.name == "postgresql":
        return extract("epoch", LoopClock.done_at - LoopClock.started_at)
    return (func.julianday(LoopClock.done_at) - func.julianday(LoopClock.started_at)) * 86400.0


def overdue_clocks(services: Services, now: datetime, scope: Scope, responsible: str | None = None) -> list[LoopClock]:
    """Clocks awaited past their due time, whenever they started, naming an organisation in scope (and
    awaited from `responsible`, when given)."""
    query = select(LoopClock).where(LoopClock.done_at.is_(None), LoopClock.due_at < now)
    if responsible is not None:
        query = query.where(LoopClock.responsible_id == responsible)
    if scope is not None:
        query = query.where(
            or_(
                LoopClock.home_id.in_(scope),
                LoopClock.hospital_id.in_(scope),
                LoopClock.pharmacy_id.in_(scope),
                LoopClock.responsible_id.in_(scope),
            )
        )
    return list(services.db.scalars(query.order_by(LoopClock.due_at, LoopClock.id).limit(OVERDUE_LIST_LIMIT)))
