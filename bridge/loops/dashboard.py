"""The supervisor dashboard: for a period and the organisations the viewer supervises, one row per
home, hospital and pharmacy, the durations per kind of clock against its deadline, and the items
overdue now.

- loops opened in the period count for every organisation they name; a loop is *closed* when it has
  clocks (cancelled ones do not count) and none is awaited, *on time* when none was met late; the share
  of loops closed on time is over the loops whose outcome is known (closed, or late already);
- clocks started in the period count for the organisation responsible; the median and 90th percentile
  are over clocks met (met minus started); the share met on time is over the clocks met or overdue now;
- the overdue list holds every clock awaited past due now, whenever it started.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bridge.auth.principal import Principal
from bridge.clock import as_utc
from bridge.directory.codes import OrgKind
from bridge.directory.organizations import organization_kind
from bridge.errors import FieldError, InvalidInput
from bridge.loops.clock_states import lateness
from bridge.loops.codes import RESPONSIBLE, Clock
from bridge.loops.dashboard_queries import (
    ClockCounts,
    LoopCounts,
    clock_counts,
    loop_counts,
    met_durations,
    overdue_clocks,
    step_counts,
)
from bridge.loops.deadlines import deadlines_in_force
from bridge.loops.stats import share, summarise
from bridge.loops.visibility import Scope, resident_names
from bridge.services import Services

PERIODS = (7, 30, 90)
DEFAULT_PERIOD = 30
MAX_PERIOD = 366
ROW_KINDS = (OrgKind.NURSING_HOME, OrgKind.INTERNET_HOSPITAL, OrgKind.PHARMACY)


@dataclass(frozen=True)
class KindStats:
    kind: str
    met: int
    met_on_time: int
    open: int
    overdue: int
    median_seconds: float | None
    p90_seconds: float | None
    deadline_minutes: int | None  # in force now; None for follow-up tasks (each has its own due date)
    alerted: int = 0
    alerted_handled: int = 0

    @property
    def share_on_time(self) -> float | None:
        return share(self.met_on_time, self.met + self.overdue)


@dataclass(frozen=True)
class OrganisationRow:
    id: str
    name: str
    kind: str
    loops: LoopCounts
    steps: int
    clocks_met: int
    clocks_met_on_time: int
    clocks_open: int
    clocks_overdue: int
    kinds: tuple[KindStats, ...]  # the kinds this organisation had clocks of
    alerts: int = 0  # overdue alerts raised on this organisation's clocks
    alerts_handled: int = 0  # of those, the awaited step done since

    @property
    def share_alerts_handled(self) -> float | None:
        """The supervision platform's handling rate (处置率): alerts whose step was done after all."""
        return share(self.alerts_handled, self.alerts)

    @property
    def share_clocks_on_time(self) -> float | None:
        return share(self.clocks_met_on_time, self.clocks_met + self.clocks_overdue)

    @property
    def share_loops_on_time(self) -> float | None:
        # Loops closed on time are never late, so the two are the loops whose outcome is known.
        return share(self.loops.closed_on_time, self.loops.closed_on_time + self.loops.late)


@dataclass(frozen=True)
class OverdueItem:
    clock_id: int
    kind: str
    loop_id: str
    subject: str
    patient_id: str
    home_id: str
    home_name: str
    party: str
    responsible_id: str
    responsible_name: str
    started_at: datetime
    due_at: datetime
    late_by: timedelta
    patient_name: str | None = None  # for staff who may see the resident; supervisors see ids only


@dataclass(frozen=True)
class Dashboard:
    period_days: int
    since: datetime
    now: datetime
    rows: tuple[OrganisationRow, ...]
    totals: tuple[KindStats, ...]  # every kind, over all the organisations shown
    overdue: tuple[OverdueItem, ...]
    names: dict[str, str] = field(default_factory=dict)

    def rows_of(self, kind: str) -> list[OrganisationRow]:
        return [r for r in self.rows if r.kind == kind]


def checked_period(value: object) -> int:
    """A whole number of days from 1 to MAX_PERIOD, else InvalidInput naming `period`."""
    try:
        days = int(str(value).strip())
    except ValueError:
        days = 0
    if not 1 <= days <= MAX_PERIOD:
        raise InvalidInput([FieldError("period", "loops.error.period", {"high": MAX_PERIOD})])
    return days


def loop_dashboard(services: Services, principal: Principal, period_days: int = DEFAULT_PERIOD) -> Dashboard:
    """For supervisors only (AccessDenied otherwise)."""
    supervised = services.policy.supervised_organization_ids(principal)
    scope: Scope = None if supervised is None else frozenset(supervised)
    return build_dashboard(services, scope, checked_period(period_days))


def build_dashboard(services: Services, scope: Scope, period_days: int) -> Dashboard:
    now = as_utc(services.now())
    since = now - timedelta(days=period_days)
    organisations = sorted(
        (
            (kind, o)
            for o in services.organizations.all()
            if (kind := organization_kind(o)) is not None and kind in ROW_KINDS and (scope is None or o["id"] in scope)
        ),
        key=lambda pair: (ROW_KINDS.index(pair[0]), str(pair[1].get("name", ""))),
    )
    names = {o["id"]: str(o.get("name", o["id"])) for _, o in organisations}
    deadlines = {clock.value: d.minutes for clock, d in deadlines_in_force(services).items()}
    loops = loop_counts(services, since, now, scope)
    steps = step_counts(services, since, scope)
    clocks = clock_counts(services, since, now, scope)
    durations: dict[tuple[str, str], list[float]] = defaultdict(list)
    for responsible, clock_kind, seconds in met_durations(services, since, scope):
        durations[(responsible, clock_kind)].append(seconds)

    rows = []
    for org_kind, org in organisations:
        org_id = org["id"]
        kinds = tuple(
            _kind_stats(kind, [clocks[key]], durations.get(key, []), deadlines.get(kind))
            for kind in (c.value for c in Clock)
            if (key := (org_id, kind)) in clocks
        )
        rows.append(
            OrganisationRow(
                id=org_id,
                name=names[org_id],
                kind=org_kind.value,
                loops=loops.get(org_id, LoopCounts(0, 0, 0, 0, 0)),
                steps=steps.get(org_id, 0),
                clocks_met=sum(k.met for k in kinds),
                clocks_met_on_time=sum(k.met_on_time for k in kinds),
                clocks_open=sum(k.open for k in kinds),
                clocks_overdue=sum(k.overdue for k in kinds),
                kinds=kinds,
                alerts=sum(k.alerted for k in kinds),
                alerts_handled=sum(k.alerted_handled for k in kinds),
            )
        )
    shown = set(names)
    totals = tuple(
        _kind_stats(
            kind,
            [c for (org, k), c in clocks.items() if k == kind and org in shown],
            [d for (org, k), values in durations.items() if k == kind and org in shown for d in values],
            deadlines.get(kind),
        )
        for kind in (c.value for c in Clock)
    )
    overdue = _overdue_items(services, now, scope)
    return Dashboard(period_days, since, now, tuple(rows), totals, overdue, names)


def _kind_stats(kind: str, counts: list[ClockCounts], seconds: list[float], deadline: int | None) -> KindStats:
    summary = summarise(seconds)
    return KindStats(
        kind=kind,
        met=sum(c.met for c in counts),
        met_on_time=sum(c.met_on_time for c in counts),
        open=sum(c.open for c in counts),
        overdue=sum(c.overdue for c in counts),
        alerted=sum(c.alerted for c in counts),
        alerted_handled=sum(c.alerted_handled for c in counts),
        median_seconds=summary.median_seconds if summary else None,
        p90_seconds=summary.p90_seconds if summary else None,
        deadline_minutes=deadline,
    )


def responsible_overdue(services: Services, principal: Principal) -> tuple[OverdueItem, ...]:
    """What the caller's own organisation is late with (the nurse's home, the doctor's hospital, the
    pharmacist's pharmacy), with the names of the residents the caller may see (ids of the others: the
    organisation must act on every item, and a clock carries no clinical record)."""
    now = as_utc(services.now())
    mine = _overdue_items(services, now, frozenset({principal.organization_id}), principal.organization_id)
    patients = resident_names(services, principal, {item.patient_id for item in mine})
    return tuple(replace(item, patient_name=patients.get(item.patient_id)) for item in mine)


def _overdue_items(
    services: Services, now: datetime, scope: Scope, responsible: str | None = None
) -> tuple[OverdueItem, ...]:
    rows = overdue_clocks(services, now, scope, responsible)
    names = services.organizations.names({r.responsible_id for r in rows} | {r.home_id for r in rows})
    return tuple(
        OverdueItem(
            clock_id=r.id,
            kind=r.kind,
            loop_id=r.loop_id,
            subject=r.subject,
            patient_id=r.patient_id,
            home_id=r.home_id,
            home_name=names.get(r.home_id, r.home_id),
            party=RESPONSIBLE[Clock(r.kind)].value,
            responsible_id=r.responsible_id,
            responsible_name=names.get(r.responsible_id, r.responsible_id),
            started_at=as_utc(r.started_at),
            due_at=as_utc(r.due_at),
            late_by=lateness(r, now) or timedelta(0),
        )
        for r in rows
    )


def supervised_overdue(services: Services, principal: Principal) -> tuple[OverdueItem, ...]:
    """What is overdue now among the organisations the supervisor watches."""
    supervised = services.policy.supervised_organization_ids(principal)
    return _overdue_items(services, as_utc(services.now()), None if supervised is None else frozenset(supervised))
