"""Overdue clocks: the responsible party and the supervisors hear of each once.

Every SWEEP_SECONDS the application (bridge/app.py, in its lifespan) looks for open clocks past their
due time, marks each alerted with a conditional update (several instances may sweep at once; only the
one that marks the row goes on), stores a SupervisorAlert of kind `loop_overdue` and announces it:
on the responsible organisation's `results:` topic for its staff (nurses, doctors or pharmacists) and on
the alerts topics of the home, the hospital, the pharmacy and the supervisory authorities.
Critical-value acknowledgements escalate through bridge/results/critical_escalation.py, which marks
their clocks alerted itself.
"""

from __future__ import annotations

import asyncio
import json
import logging

from sqlalchemy import select, update
from starlette.concurrency import run_in_threadpool

from bridge.clock import as_utc
from bridge.consults.events import alerts_topic
from bridge.consults.queue import ALL_ORGANIZATIONS_ALERTS
from bridge.db.tables import SupervisorAlert
from bridge.loops.codes import RESPONSIBLE, Clock
from bridge.loops.tables import LoopClock
from bridge.runtime import Runtime
from bridge.services import Services
from bridge.signalling.connection import RESULTS_TOPIC_PREFIX
from bridge.signalling.protocol import PROTOCOL_VERSION

logger = logging.getLogger(__name__)

SWEEP_SECONDS = 15.0
ALERT_KIND = "loop_overdue"
NEWS_TYPE = "loop.overdue"
OWN_ESCALATION = (Clock.CRITICAL_ACK.value,)


def overdue_message(row: LoopClock, now_seconds: int) -> dict[str, object]:
    return {
        "v": PROTOCOL_VERSION,
        "type": NEWS_TYPE,
        "kind": ALERT_KIND,
        "clock": row.kind,
        "clock_id": row.id,
        "loop": row.loop_id,
        "subject": row.subject,
        "patient_id": row.patient_id,
        "home": row.home_id,
        "hospital": row.hospital_id,
        "pharmacy": row.pharmacy_id,
        "responsible": row.responsible_id,
        "party": RESPONSIBLE[Clock(row.kind)].value,
        "due_at": as_utc(row.due_at).isoformat(),
        "overdue_seconds": now_seconds,
    }


def alert_overdue(services: Services) -> list[int]:
    """Alert on every open clock past due and not alerted yet; the clock ids alerted now."""
    now = as_utc(services.now())
    due = services.db.scalars(
        select(LoopClock).where(
            LoopClock.done_at.is_(None),
            LoopClock.overdue_alerted_at.is_(None),
            LoopClock.due_at <= now,
            LoopClock.kind.not_in(OWN_ESCALATION),
        )
    ).all()
    alerted: list[int] = []
    for row in due:
        claimed = services.db.execute(
            update(LoopClock)
            .where(LoopClock.id == row.id, LoopClock.done_at.is_(None), LoopClock.overdue_alerted_at.is_(None))
            .values(overdue_alerted_at=now)
            .execution_options(synchronize_session=False)
        )
        if getattr(claimed, "rowcount", 0) != 1:
            continue  # met, or alerted by another instance, meanwhile
        message = overdue_message(row, int((now - as_utc(row.due_at)).total_seconds()))
        partner = row.hospital_id or row.pharmacy_id or ""
        services.db.add(
            SupervisorAlert(
                kind=ALERT_KIND,
                consult_id=None,
                home_id=row.home_id,
                hospital_id=partner,
                detail=json.dumps(message, ensure_ascii=False),
                created_at=now,
            )
        )
        services.announce(f"{RESULTS_TOPIC_PREFIX}{row.responsible_id}", message)
        organisations = {row.home_id, row.hospital_id, row.pharmacy_id} - {None}
        for organisation in sorted(o for o in organisations if o):
            services.announce(alerts_topic(organisation), message)
        services.announce(ALL_ORGANIZATIONS_ALERTS, message)
        logger.warning(
            "%s clock of %s (loop %s) overdue since %s: %s and supervisors alerted",
            row.kind,
            row.subject,
            row.loop_id,
            message["due_at"],
            row.responsible_id,
        )
        alerted.append(row.id)
    return alerted


def sweep_once(runtime: Runtime) -> list[int]:
    with runtime.session_factory.begin() as db:
        return alert_overdue(Services(db, runtime))


async def run_overdue_alerts(runtime: Runtime) -> None:
    """The application's overdue timer; cancelled at shutdown."""
    while True:
        await asyncio.sleep(SWEEP_SECONDS)
        try:
            await run_in_threadpool(sweep_once, runtime)
        except Exception:
            logger.exception("overdue sweep failed; the next one retries")
