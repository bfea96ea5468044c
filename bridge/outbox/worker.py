"""The outbox worker: claims due messages, hands each to its destination kind's sender, records the outcome.

It runs in `bridge serve` (bridge/app.py, in the lifespan) on every instance; claims keep instances from
sending the same message twice at once (outbox.py). Database work runs in threads, sending on the event
loop, a claimed batch concurrently so one slow hospital does not hold up the others. A restart needs no
recovery step: pending messages are simply due, and the ones a dead instance was sending are due again
when their lease lapses.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge.clock import as_utc
from bridge.outbox.doorbell import Doorbell, listening
from bridge.outbox.outbox import Backoff, ClaimedMessage, Status, claim_due, mark_failed, mark_retry, mark_sent
from bridge.outbox.tables import OutboxMessage
from bridge.runtime import Runtime
from bridge.services import Services

logger = logging.getLogger(__name__)

BATCH_SIZE = 16
ERROR_PAUSE_SECONDS = 5.0


class Outcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"  # the receiver is down, busy or slow: try again after the backoff
    FAILED = "failed"  # the receiver refused it: sending it again will not help


@dataclass(frozen=True)
class Delivery:
    outcome: Outcome
    detail: str  # sent: what the receiver answered (its locations); otherwise the error
    retry_after: float | None = None  # seconds, when the receiver said (HTTP Retry-After)
    # Runs in the transaction that marks the message sent (an audit record of the disclosure).
    on_sent: Callable[[Services], None] | None = None


class Sender(Protocol):
    async def deliver(self, message: ClaimedMessage) -> Delivery: ...

    async def aclose(self) -> None: ...


class GivesUpAfter(Protocol):
    """A sender whose messages are retried for a time rather than a number of attempts (subscriptions:
    at least a day), told when one is given up, in the transaction that marks it failed."""

    give_up_after: timedelta

    def gave_up(self, services: Services, message: ClaimedMessage, error: str) -> None: ...


def _retry_window_open(db: Session, message: ClaimedMessage, now: datetime, window: timedelta) -> bool:
    """Measured from the message's creation, or from the destination's last delivery if later: a message
    that waited behind others for a day is not given up at its first failure."""
    created = db.scalar(select(OutboxMessage.created_at).where(OutboxMessage.id == message.id))
    last_sent = db.scalar(
        select(func.max(OutboxMessage.sent_at)).where(
            OutboxMessage.destination_kind == message.destination_kind,
            OutboxMessage.destination_id == message.destination_id,
            OutboxMessage.status == Status.SENT.value,
        )
    )
    starts = [as_utc(t) for t in (created, last_sent) if t is not None]
    return not starts or as_utc(now) - max(starts) < window


class OutboxWorker:
    def __init__(self, runtime: Runtime, senders: Mapping[str, Sender]) -> None:
        self.runtime = runtime
        self.senders = dict(senders)
        s = runtime.settings
        self.backoff = Backoff(s.outbox_backoff_base_seconds, s.outbox_backoff_max_seconds)
        self.max_attempts = s.outbox_max_attempts
        # Long enough for a two-request delivery at the full timeout each (fhir_push.py) and some slack.
        self.lease = timedelta(seconds=3 * s.outbox_timeout_seconds + 5)

    async def run(self) -> None:
        """Until cancelled. After a round that handled something the next starts at once: a delivered
        message may have released the next one of its ordering key (a pharmacy's events go one by one).
        An idle worker waits for the poll interval or for a commit in this process that enqueued."""
        poll = self.runtime.settings.outbox_poll_seconds
        with listening(Doorbell(asyncio.get_running_loop())) as doorbell:
            while True:
                doorbell.clear()
                try:
                    handled = await self.run_once()
                except Exception:
                    # A database outage must not end the loop: the messages wait in the table meanwhile.
                    logger.exception("outbox round failed; trying again in %.0f s", ERROR_PAUSE_SECONDS)
                    await asyncio.sleep(ERROR_PAUSE_SECONDS)
                    continue
                if not handled:
                    await doorbell.wait(poll)

    async def run_once(self) -> int:
        """One round: claim what is due, deliver it, record each outcome. How many were claimed."""
        now = self.runtime.clock.now()
        claimed = await asyncio.to_thread(
            claim_due,
            self.runtime.session_factory,
            now,
            kinds=list(self.senders),
            limit=BATCH_SIZE,
            lease=self.lease,
        )
        outcomes = await asyncio.gather(*(self._handle(message) for message in claimed), return_exceptions=True)
        for message, outcome in zip(claimed, outcomes, strict=True):
            if isinstance(outcome, Exception):
                # Not recorded (the database failed): the claim lapses and the message is sent again.
                logger.error("outbox message %s: outcome not recorded: %s", message.id, outcome)
        return len(claimed)

    async def _handle(self, message: ClaimedMessage) -> None:
        sender = self.senders[message.destination_kind]
        try:
            delivery = await sender.deliver(message)
        except asyncio.CancelledError:
            raise  # the claim lapses and another round (here or elsewhere) sends it
        except Exception as exc:
            logger.exception("outbox message %s: sender %s raised", message.id, message.destination_kind)
            delivery = Delivery(Outcome.RETRY, f"internal error: {type(exc).__name__}: {exc}")
        await asyncio.to_thread(self._record, message, delivery)

    def _record(self, message: ClaimedMessage, delivery: Delivery) -> None:
        runtime = self.runtime
        with runtime.session_factory.begin() as db:
            now = runtime.clock.now()
            where = f"outbox message {message.id} to {message.destination_kind} {message.destination_id}"
            if delivery.outcome is Outcome.SENT:
                if mark_sent(db, message, now, delivery.detail) and delivery.on_sent is not None:
                    delivery.on_sent(Services(db, runtime))
                logger.info("%s sent (attempt %d)", where, message.attempts)
                return
            if delivery.outcome is Outcome.FAILED:
                mark_failed(db, message, delivery.detail)
                logger.warning("%s refused, not retried: %s", where, delivery.detail)
                return
            # A receiver's Retry-After is honoured, up to the longest backoff (not a day because it said so).
            wait = min(delivery.retry_after, self.backoff.max_seconds) if delivery.retry_after else None
            not_before = timedelta(seconds=wait) if wait else None
            sender = self.senders.get(message.destination_kind)
            window = getattr(sender, "give_up_after", None)
            max_attempts = self.max_attempts
            if isinstance(window, timedelta):
                open_ = _retry_window_open(db, message, now, window)
                max_attempts = message.attempts + 1 if open_ else message.attempts
            status = mark_retry(
                db,
                message,
                now,
                delivery.detail,
                backoff=self.backoff,
                max_attempts=max_attempts,
                not_before=not_before,
            )
            if status is Status.FAILED and isinstance(window, timedelta):
                gave_up: GivesUpAfter = sender  # type: ignore[assignment]
                gave_up.gave_up(Services(db, runtime), message, delivery.detail)
            logger.warning("%s attempt %d failed (%s): %s", where, message.attempts, status, delivery.detail)


async def run_outbox_worker(runtime: Runtime, senders: Mapping[str, Sender] | None = None) -> None:
    """The application's worker (bridge/app.py); by default with every sender the bridge has."""
    if senders is None:
        from bridge.outbox.fhir_push import HOSPITAL_FHIR, HospitalFhirSender
        from bridge.subscriptions.sender import SUBSCRIPTION, SubscriptionSender

        senders = {HOSPITAL_FHIR: HospitalFhirSender(runtime), SUBSCRIPTION: SubscriptionSender(runtime)}
    try:
        await OutboxWorker(runtime, senders).run()
    finally:
        for sender in senders.values():
            await sender.aclose()
