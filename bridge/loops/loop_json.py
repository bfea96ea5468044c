"""The JSON shapes of the timeline, the dashboard and the deadlines (bridge/api/loop_routes.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from bridge.loops.dashboard import Dashboard, KindStats, OrganisationRow
from bridge.loops.deadlines import DeadlineInForce
from bridge.loops.timeline import LoopTimeline


def timeline_link(loop_id: str) -> str:
    return f"/loops/timeline?loop={quote(loop_id, safe='')}"


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def timeline_json(timeline: LoopTimeline) -> dict[str, Any]:
    return {
        "loop": timeline.loop_id,
        "patient_id": timeline.patient_id,
        "resident": timeline.resident_name,
        "organisations": timeline.organisations,
        "opened_at": _when(timeline.opened_at),
        "now": _when(timeline.now),
        "closed": timeline.closed,
        "on_time": timeline.on_time,
        "steps": [
            {"step": s.step, "at": _when(s.at), "who": s.actor, "actor": s.actor_reference, "subject": s.subject}
            for s in timeline.steps
        ],
        "clocks": [
            {
                "id": c.id,
                "kind": c.kind,
                "subject": c.subject,
                "party": c.party,
                "responsible": c.responsible_id,
                "responsible_name": c.responsible_name,
                "started_at": _when(c.started_at),
                "due_at": _when(c.due_at),
                "done_at": _when(c.done_at),
                "state": c.state.value,
                "taken_seconds": c.taken.total_seconds(),
                "late_seconds": c.late_by.total_seconds() if c.late_by is not None else None,
            }
            for c in timeline.clocks
        ],
        "to_come": list(timeline.to_come),
    }


def _kind_json(k: KindStats) -> dict[str, Any]:
    return {
        "kind": k.kind,
        "met": k.met,
        "met_on_time": k.met_on_time,
        "open": k.open,
        "overdue": k.overdue,
        "median_seconds": k.median_seconds,
        "p90_seconds": k.p90_seconds,
        "deadline_minutes": k.deadline_minutes,
        "share_on_time": k.share_on_time,
        "alerts": k.alerted,
        "alerts_handled": k.alerted_handled,
    }


def _row_json(r: OrganisationRow) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "kind": r.kind,
        "loops": {
            "opened": r.loops.loops,
            "tracked": r.loops.tracked,
            "closed": r.loops.closed,
            "closed_on_time": r.loops.closed_on_time,
            "late": r.loops.late,
        },
        "steps": r.steps,
        "clocks": {
            "met": r.clocks_met,
            "met_on_time": r.clocks_met_on_time,
            "open": r.clocks_open,
            "overdue": r.clocks_overdue,
        },
        "share_clocks_on_time": r.share_clocks_on_time,
        "alerts": r.alerts,
        "alerts_handled": r.alerts_handled,
        "share_alerts_handled": r.share_alerts_handled,
        "share_loops_on_time": r.share_loops_on_time,
        "kinds": [_kind_json(k) for k in r.kinds],
    }


def dashboard_json(dashboard: Dashboard) -> dict[str, Any]:
    return {
        "period_days": dashboard.period_days,
        "since": _when(dashboard.since),
        "now": _when(dashboard.now),
        "organisations": [_row_json(r) for r in dashboard.rows],
        "kinds": [_kind_json(k) for k in dashboard.totals],
        "overdue": [
            {
                "clock_id": o.clock_id,
                "kind": o.kind,
                "loop": o.loop_id,
                "subject": o.subject,
                "patient_id": o.patient_id,
                "home": o.home_id,
                "home_name": o.home_name,
                "party": o.party,
                "responsible": o.responsible_id,
                "responsible_name": o.responsible_name,
                "started_at": _when(o.started_at),
                "due_at": _when(o.due_at),
                "overdue_seconds": o.late_by.total_seconds(),
                "timeline": timeline_link(o.loop_id),
            }
            for o in dashboard.overdue
        ],
    }


def deadline_json(deadline: DeadlineInForce) -> dict[str, Any]:
    return {
        "kind": deadline.kind.value,
        "minutes": deadline.minutes,
        "source": deadline.source,
        "updated_by": deadline.updated_by,
    }
