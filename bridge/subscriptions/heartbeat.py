"""Heartbeats: an active Subscription with a backport-heartbeat-period hears from the bridge at least that
often, so a pharmacy can tell "no prescriptions" from "no connection".

A heartbeat is due when nothing was delivered (and no heartbeat queued) for the period; none is queued
while a notification to the Subscription is still waiting, since that one will say the same and more.
Run by every instance (bridge/app.py): the dedupe key is derived from the last delivery, so two
instances looking at once queue one heartbeat.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import exists, select

from bridge.clock import as_utc
from bridge.outbox.outbox import OPEN
from bridge.outbox.tables import OutboxMessage
from bridge.runtime import Runtime
from bridge.services import Services
from bridge.subscriptions.state import SUBSCRIPTION, SubscriptionStatus, enqueue_heartbeat
from bridge.subscriptions.tables import SubscriptionState

logger = logging.getLogger(__name__)

ERROR_PAUSE_SECONDS = 5.0


def enqueue_due_heartbeats(services: Services) -> int:
    """Queue the heartbeats that have fallen due; how many."""
    db = services.db
    now = as_utc(services.now())
    waiting = exists().where(
        OutboxMessage.destination_kind == SUBSCRIPTION,
        OutboxMessage.destination_id == SubscriptionState.subscription_id,
        OutboxMessage.status.in_(OPEN),
    )
    rows = db.scalars(
        select(SubscriptionState).where(
            SubscriptionState.status == SubscriptionStatus.ACTIVE.value,
            SubscriptionState.heartbeat_seconds.is_not(None),
            ~waiting,
        )
    ).all()
    queued = 0
    for row in rows:
        assert row.heartbeat_seconds is not None
        last = max(as_utc(t) for t in (row.created_at, row.last_delivered_at, row.last_heartbeat_at) if t is not None)
        if now - last < timedelta(seconds=row.heartbeat_seconds):
            continue
        enqueue_heartbeat(services, row.subscription_id, f"heartbeat-{last.isoformat()}")
        row.last_heartbeat_at = now
        queued += 1
    return queued


def heartbeat_round(runtime: Runtime) -> int:
    with runtime.session_factory.begin() as db:
        return enqueue_due_heartbeats(Services(db, runtime))


async def run_heartbeats(runtime: Runtime) -> None:
    """Until cancelled (bridge/app.py's lifespan, next to the outbox worker)."""
    poll = runtime.settings.subscription_heartbeat_poll_seconds
    while True:
        try:
            queued = await asyncio.to_thread(heartbeat_round, runtime)
        except Exception:
            logger.exception("heartbeat round failed; trying again in %.0f s", ERROR_PAUSE_SECONDS)
            await asyncio.sleep(ERROR_PAUSE_SECONDS)
            continue
        if queued:
            logger.info("%d subscription heartbeats queued", queued)
        await asyncio.sleep(poll)
