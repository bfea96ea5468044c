"""Escalation of critical-value alerts nobody acknowledged in time (the critical-ack deadline in force:
BRIDGE_CRITICAL_ACK_MINUTES, 10, unless an administrator changed it; bridge/loops/deadlines.py).

Every SWEEP_SECONDS the application (bridge/app.py, in its lifespan) looks for open alerts older than the
limit, marks each escalated, stores a SupervisorAlert of kind `critical_unacknowledged` and tells the
supervisors of the home and of the contracted hospitals (and supervisory authorities, who see every
alert) on their alerts topics, as the consult queue does for an unanswered request. Each alert escalates
once: several instances may sweep at the same time, and only the one whose conditional update marks the
row goes on.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta

from sqlalchemy import and_, literal, select, update
from starlette.concurrency import run_in_threadpool

from bridge.clock import as_utc
from bridge.consults.events import alerts_topic
from bridge.consults.queue import ALL_ORGANIZATIONS_ALERTS
from bridge.db.tables import SupervisorAlert
from bridge.loops.codes import Clock
from bridge.loops.deadlines import deadline_minutes
from bridge.loops.tables import LoopClock
from bridge.results.alerts import hospitals_of
from bridge.results.tables import CriticalAlert
from bridge.runtime import Runtime
from bridge.services import Services
from bridge.signalling.protocol import PROTOCOL_VERSION

logger = logging.getLogger(__name__)

SWEEP_SECONDS = 15.0
ALERT_KIND = "critical_unacknowledged"


def escalate_overdue(services: Services) -> list[str]:
    """Escalate every alert unacknowledged for longer than the limit; the ids escalated now."""
    now = services.now()
    # Each alert is due when its loop clock says (the deadline in force when it was raised); an alert
    # without one (a home no hospital serves) after the deadline in force now. Open alerts are few.
    fallback = timedelta(minutes=deadline_minutes(services, Clock.CRITICAL_ACK))
    waiting = services.db.execute(
        select(CriticalAlert, LoopClock.due_at)
        .outerjoin(
            LoopClock,
            and_(
                LoopClock.subject == literal("Communication/") + CriticalAlert.id,
                LoopClock.kind == Clock.CRITICAL_ACK.value,
            ),
        )
        .where(CriticalAlert.acknowledged_at.is_(None), CriticalAlert.escalated_at.is_(None))
    ).all()
    overdue = [
        row
        for row, due_at in waiting
        if (as_utc(due_at) if due_at is not None else as_utc(row.created_at) + fallback) <= as_utc(now)
    ]
    escalated: list[str] = []
    for row in overdue:
        claimed = services.db.execute(
            update(CriticalAlert)
            .where(
                CriticalAlert.id == row.id,
                CriticalAlert.escalated_at.is_(None),
                CriticalAlert.acknowledged_at.is_(None),
            )
            .values(escalated_at=now)
            .execution_options(synchronize_session=False)
        )
        if getattr(claimed, "rowcount", 0) != 1:
            continue  # acknowledged or escalated by someone else meanwhile
        # The loop tracker leaves critical acknowledgements to this escalation; mark its clock alerted here.
        services.db.execute(
            update(LoopClock)
            .where(LoopClock.subject == f"Communication/{row.id}", LoopClock.kind == Clock.CRITICAL_ACK.value)
            .values(overdue_alerted_at=now)
            .execution_options(synchronize_session=False)
        )
        hospitals = hospitals_of(row)
        message = {
            "v": PROTOCOL_VERSION,
            "type": "alert",
            "kind": ALERT_KIND,
            "communication_id": row.id,
            "patient_id": row.patient_id,
            "observation": f"Observation/{row.observation_id}/_history/{row.observation_version}",
            "value": row.value_text,
            "limit": row.limit_text,
            "waiting_seconds": int((as_utc(now) - as_utc(row.created_at)).total_seconds()),
            "home": row.home_id,
            "hospitals": hospitals,
        }
        services.db.add(
            SupervisorAlert(
                kind=ALERT_KIND,
                consult_id=None,
                home_id=row.home_id,
                # The table names one hospital; a home served by several has the others in the detail.
                hospital_id=hospitals[0] if hospitals else "",
                detail=json.dumps(message, ensure_ascii=False),
                created_at=now,
            )
        )
        topics = [alerts_topic(row.home_id), *(alerts_topic(h) for h in hospitals), ALL_ORGANIZATIONS_ALERTS]
        for topic in topics:
            services.announce(topic, message)
        logger.warning(
            "critical alert %s unacknowledged for %s s: supervisors alerted", row.id, message["waiting_seconds"]
        )
        escalated.append(row.id)
    return escalated


def sweep_once(runtime: Runtime) -> list[str]:
    with runtime.session_factory.begin() as db:
        return escalate_overdue(Services(db, runtime))


async def run_escalation(runtime: Runtime) -> None:
    """The application's escalation timer; cancelled at shutdown."""
    while True:
        # Read each round, so a test can shorten it without waiting out a long first sleep.
        await asyncio.sleep(SWEEP_SECONDS)
        try:
            await run_in_threadpool(sweep_once, runtime)
        except Exception:
            logger.exception("critical alert escalation sweep failed; the next one retries")
