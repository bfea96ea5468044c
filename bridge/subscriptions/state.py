"""The life of a Subscription as the bridge delivers it (the `subscription_state` row), mirrored into the
resource's `status` and `error` so a pharmacy reading its Subscription sees what is really happening.

    requested ──handshake delivered──▶ active
        │  ▲                              │
        │  └──── pharmacy asks requested ─┤ (after error or off too: undelivered events go out again)
        └────── no delivery for the retry window ──▶ error        any ── pharmacy asks off ──▶ off

Events are numbered and kept in every status but off (events.py), so an error loses nothing: the
pharmacy fetches them with `$events`, or sets the status back to `requested` to have them re-sent.
"""

from __future__ import annotations

import json
import logging
from enum import StrEnum
from typing import Any

from fhir_adapter.errors import OperationOutcomeError
from sqlalchemy import select, update

from bridge.auth.principal import Principal
from bridge.outbox.outbox import NewMessage, Status, enqueue
from bridge.outbox.tables import OutboxMessage
from bridge.services import Services
from bridge.subscriptions.subscription_requests import check_heartbeat, client_secret, parse_request
from bridge.subscriptions.tables import SubscriptionEvent, SubscriptionState

logger = logging.getLogger(__name__)

SUBSCRIPTION = "subscription"  # the outbox destination kind; destination_id = the Subscription's id


class SubscriptionStatus(StrEnum):
    REQUESTED = "requested"
    ACTIVE = "active"
    ERROR = "error"
    OFF = "off"


class IllegalTransition(ValueError):
    pass


_REQUESTED, _ACTIVE, _ERROR, _OFF = SubscriptionStatus
_TRANSITIONS: dict[SubscriptionStatus, frozenset[SubscriptionStatus]] = {
    _REQUESTED: frozenset(SubscriptionStatus),
    _ACTIVE: frozenset({_REQUESTED, _ERROR, _OFF}),
    _ERROR: frozenset({_REQUESTED, _OFF}),
    _OFF: frozenset({_REQUESTED, _OFF}),
}
# What a pharmacy may ask for; `active` and `error` are the bridge's to say.
_ASKABLE = frozenset({SubscriptionStatus.REQUESTED, SubscriptionStatus.OFF})
RECORDING = frozenset({SubscriptionStatus.REQUESTED, SubscriptionStatus.ACTIVE, SubscriptionStatus.ERROR})
DELIVERING = frozenset({SubscriptionStatus.REQUESTED, SubscriptionStatus.ACTIVE})


def _move(row: SubscriptionState, to: SubscriptionStatus) -> None:
    current = SubscriptionStatus(row.status)
    if to not in _TRANSITIONS[current]:
        raise IllegalTransition(f"Subscription/{row.subscription_id}: {current} cannot become {to}")
    row.status = to.value
    if to is not SubscriptionStatus.ERROR:
        row.error = None


# --- writes of the resource (bridge/fhir_api/writes.py) ---------------------------------------------


def accept_write(
    services: Services, principal: Principal, resource: dict[str, Any], old: dict[str, Any] | None
) -> dict[str, Any]:
    """The Subscription as it will be stored, with the server's status; OperationOutcomeError when refused."""
    settings = services.settings
    request = parse_request(
        resource, principal.organization_id, allow_http=settings.demo_mode or settings.subscription_allow_http
    )
    check_heartbeat(request, settings.subscription_heartbeat_min_seconds)
    client_secret(services, principal)
    # Locked before the resource is written, the order the worker takes too (state, then resource in
    # _mirror), so a pharmacy's update and a delivery outcome never deadlock on PostgreSQL.
    row = services.db.get(SubscriptionState, str(old["id"]), with_for_update=True) if old is not None else None
    status = SubscriptionStatus.REQUESTED
    if row is not None:
        current = SubscriptionStatus(row.status)
        asked = resource.get("status")
        status = SubscriptionStatus(asked) if asked in _ASKABLE and asked in _TRANSITIONS[current] else current
    accepted = {k: v for k, v in resource.items() if k != "error"}
    if status is SubscriptionStatus.ERROR and row is not None and row.error:
        accepted["error"] = row.error
    return {**accepted, "status": status.value}


def after_write(services: Services, principal: Principal, stored: dict[str, Any]) -> None:
    """Bring the delivery state in line with the stored Subscription (in the same transaction)."""
    subscription_id = str(stored["id"])
    request = parse_request(stored, principal.organization_id, allow_http=True)
    generation = str(stored.get("meta", {}).get("versionId", "1"))
    row = services.db.get(SubscriptionState, subscription_id, with_for_update=True)
    if row is None:
        row = SubscriptionState(
            subscription_id=subscription_id,
            owner_organization_id=request.owner_organization_id,
            client_id=principal.subject_id,
            topic=request.topic,
            status=SubscriptionStatus.REQUESTED.value,
            events_since_start=0,
            heartbeat_seconds=request.heartbeat_seconds,
            created_at=services.now(),
        )
        services.db.add(row)
        services.db.flush()
        _enqueue_notice(services, subscription_id, "handshake", None, f"handshake-v{generation}")
        logger.info("Subscription/%s requested by %s", subscription_id, principal.reference)
        return
    # The writer's secret keys the HMAC from now on: it is the one its system holds.
    row.client_id = principal.subject_id
    row.heartbeat_seconds = request.heartbeat_seconds
    wanted = SubscriptionStatus(stored["status"])
    if wanted.value == row.status:
        return
    _move(row, wanted)
    _cancel_pending(services, subscription_id, f"superseded: the Subscription was set to {wanted.value}")
    if wanted is SubscriptionStatus.REQUESTED:
        _resume(services, row, generation)
    logger.info("Subscription/%s set to %s by %s", subscription_id, wanted.value, principal.reference)


def after_delete(services: Services, subscription_id: str) -> None:
    row = services.db.get(SubscriptionState, subscription_id, with_for_update=True)
    if row is None:
        return
    row.status = SubscriptionStatus.OFF.value
    _cancel_pending(services, subscription_id, "superseded: the Subscription was deleted")


def _resume(services: Services, row: SubscriptionState, generation: str) -> None:
    """A new handshake, then every event not yet delivered, in order (new dedupe keys: the old messages
    may have failed, and a duplicate is harmless, it carries the same event number)."""
    subscription_id = row.subscription_id
    _enqueue_notice(services, subscription_id, "handshake", None, f"handshake-v{generation}")
    delivered = last_delivered_event(services, subscription_id)
    numbers = services.db.scalars(
        select(SubscriptionEvent.event_number)
        .where(SubscriptionEvent.subscription_id == subscription_id, SubscriptionEvent.event_number > delivered)
        .order_by(SubscriptionEvent.event_number)
    ).all()
    for number in numbers:
        _enqueue_notice(services, subscription_id, "event-notification", number, f"event-{number}-v{generation}")
    logger.info("Subscription/%s resumed: %d undelivered events queued again", subscription_id, len(numbers))


def last_delivered_event(services: Services, subscription_id: str) -> int:
    """The highest event number delivered (0 for none). Messages of one subscription go out in order, so
    the newest sent event message carries it."""
    payload = services.db.scalar(
        select(OutboxMessage.payload)
        .where(
            OutboxMessage.destination_kind == SUBSCRIPTION,
            OutboxMessage.destination_id == subscription_id,
            OutboxMessage.status == Status.SENT.value,
            OutboxMessage.dedupe_key.like("event-%"),
        )
        .order_by(OutboxMessage.sent_at.desc(), OutboxMessage.id.desc())
        .limit(1)
    )
    return int(json.loads(payload).get("event") or 0) if payload else 0


def _cancel_pending(services: Services, subscription_id: str, reason: str) -> None:
    # Only pending ones: a message being sent right now finishes (a duplicate at worst).
    services.db.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.destination_kind == SUBSCRIPTION,
            OutboxMessage.destination_id == subscription_id,
            OutboxMessage.status == Status.PENDING.value,
        )
        .values(status=Status.FAILED.value, last_error=reason)
        .execution_options(synchronize_session=False)
    )


def _enqueue_notice(services: Services, subscription_id: str, kind: str, event: int | None, dedupe_key: str) -> None:
    payload = json.dumps({"type": kind, "event": event})
    what = f"{kind} {event}" if event is not None else kind
    message = NewMessage(SUBSCRIPTION, subscription_id, payload, dedupe_key, subscription_id, f"{what} to Subscription")
    enqueue(services.db, message, services.now())


def enqueue_event(services: Services, subscription_id: str, number: int) -> None:
    _enqueue_notice(services, subscription_id, "event-notification", number, f"event-{number}")


def enqueue_heartbeat(services: Services, subscription_id: str, dedupe_key: str) -> None:
    _enqueue_notice(services, subscription_id, "heartbeat", None, dedupe_key)


# --- outcomes of deliveries (sender.py, in the transaction that records them) -------------------------


def mark_delivered(services: Services, subscription_id: str, kind: str) -> None:
    row = services.db.get(SubscriptionState, subscription_id, with_for_update=True)
    if row is None:
        return
    row.last_delivered_at = services.now()
    if kind == "handshake" and row.status == SubscriptionStatus.REQUESTED.value:
        _move(row, SubscriptionStatus.ACTIVE)
        _mirror(services, row)
        logger.info("Subscription/%s is active (handshake delivered)", subscription_id)


def mark_error(services: Services, subscription_id: str, error: str) -> None:
    row = services.db.get(SubscriptionState, subscription_id, with_for_update=True)
    if row is None or row.status not in DELIVERING:
        return
    _move(row, SubscriptionStatus.ERROR)
    row.error = error[:1000]
    _mirror(services, row)
    logger.warning("Subscription/%s is in error: %s", subscription_id, error)


def _mirror(services: Services, row: SubscriptionState) -> None:
    """The resource says what the row says (a new version, as any server-side status change)."""
    try:
        resource = services.repository.read("Subscription", row.subscription_id)
    except OperationOutcomeError:
        return  # deleted meanwhile
    content = {k: v for k, v in resource.items() if k != "error"}
    content["status"] = row.status
    if row.status == SubscriptionStatus.ERROR.value and row.error:
        content["error"] = row.error
    services.repository.update(content)
