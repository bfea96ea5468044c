"""Recording topic events: called in the transaction that made a prescription Task ready (or cancelled it),
so an event exists exactly when the change does, and its notification is in the outbox with it."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select, update

from bridge.services import Services
from bridge.subscriptions.state import DELIVERING, RECORDING, SubscriptionStatus, enqueue_event
from bridge.subscriptions.tables import SubscriptionEvent, SubscriptionState
from bridge.subscriptions.topic import TOPIC_URL, is_prescription_event, owner_of

logger = logging.getLogger(__name__)


def record_prescription_event(services: Services, task: dict[str, Any]) -> None:
    """One numbered event per matching Subscription of the owning pharmacy, for this stored version of
    the Task (it must carry meta.versionId: the notification shows that version, whatever came after).

    Matching: the prescription-for-pharmacy topic (a `fulfill` Task focused on a MedicationRequest, status
    ready or cancelled) and the filter Task?owner=Organization/<id> of a Subscription that is requested,
    active or in error (in error the event is kept for `$events` and sent when the pharmacy resumes).
    """
    if not is_prescription_event(task):
        logger.debug("Task/%s (status %s) is not a prescription event", task.get("id"), task.get("status"))
        return
    owner = owner_of(task)
    version = (task.get("meta") or {}).get("versionId")
    if owner is None or not task.get("id") or version is None:
        raise ValueError("a prescription event needs a stored Task (id, meta.versionId) owned by an Organization")
    db = services.db
    for subscription_id, status in db.execute(
        select(SubscriptionState.subscription_id, SubscriptionState.status)
        .where(
            SubscriptionState.topic == TOPIC_URL,
            SubscriptionState.owner_organization_id == owner,
            SubscriptionState.status.in_([s.value for s in RECORDING]),
        )
        .order_by(SubscriptionState.subscription_id)
    ).all():
        # Numbered by one UPDATE ... RETURNING: two transactions recording at once get consecutive numbers
        # (the row lock on PostgreSQL, the single writer on SQLite), never the same one.
        number = db.execute(
            update(SubscriptionState)
            .where(SubscriptionState.subscription_id == subscription_id)
            .values(events_since_start=SubscriptionState.events_since_start + 1)
            .returning(SubscriptionState.events_since_start)
            .execution_options(synchronize_session=False)
        ).scalar_one()
        db.add(
            SubscriptionEvent(
                subscription_id=subscription_id,
                event_number=int(number),
                focus_type="Task",
                focus_id=str(task["id"]),
                focus_version=int(version),
                created_at=services.now(),
            )
        )
        if SubscriptionStatus(status) in DELIVERING:
            enqueue_event(services, subscription_id, int(number))
        logger.info("event %s of Subscription/%s: Task/%s/_history/%s", number, subscription_id, task["id"], version)
    db.flush()
