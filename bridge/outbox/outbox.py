"""The outbox: enqueue in the caller's transaction; claim, record and retry deliveries.

Nothing here knows what a message means: a destination kind (``hospital-fhir``) picks the sender
(worker.py), the payload is the sender's JSON text. Guarantees:

- `enqueue` writes in the caller's transaction: a rollback leaves no message, a commit leaves one (or
  none new, when a message with the same dedupe key to the same destination exists).
- `claim_due` hands a due message to one worker at a time, however many instances run: row locks with
  SKIP LOCKED on PostgreSQL, a compare-and-set on (status, attempts) on SQLite. A claim is a lease:
  if the worker's instance dies mid-send, the message is due again when the lease lapses.
- Messages with the same ordering key to the same destination go out in the order they were enqueued,
  and an older one is never sent again after a newer one was delivered (`retry` says "superseded").
"""

from __future__ import annotations

import random
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased, sessionmaker

from bridge.clock import as_utc
from bridge.outbox.doorbell import ring_after_commit
from bridge.outbox.tables import OutboxMessage

MAX_ERROR_CHARS = 2000


class Status(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"  # gave up (or refused at once); kept, and can be retried by hand


OPEN = (Status.PENDING.value, Status.SENDING.value)


class RetryResult(StrEnum):
    RETRIED = "retried"
    NOT_FAILED = "not_failed"  # pending, sending or sent: nothing to do
    SUPERSEDED = "superseded"  # a newer message with its ordering key was delivered since


@dataclass(frozen=True)
class NewMessage:
    destination_kind: str
    destination_id: str
    payload: str
    dedupe_key: str
    ordering_key: str | None = None
    description: str = ""


@dataclass(frozen=True)
class ClaimedMessage:
    """A message this worker holds until it records the outcome (or its lease lapses)."""

    id: int
    destination_kind: str
    destination_id: str
    payload: str
    attempts: int  # including the one under way
    description: str


@dataclass(frozen=True)
class Backoff:
    base_seconds: float = 5.0
    max_seconds: float = 3600.0
    jitter: float = 0.2

    def delay(self, attempts: int, rng: random.Random | None = None) -> timedelta:
        """After the n-th failed attempt: base x 2^(n-1) up to the maximum, spread by +-jitter so that
        the messages that failed together (a hospital went down) do not all retry at the same instant."""
        exponent = min(max(attempts - 1, 0), 40)
        seconds = min(self.max_seconds, self.base_seconds * 2**exponent)
        spread = 1 + self.jitter * (2 * (rng or random).random() - 1)
        return timedelta(seconds=seconds * spread)


def enqueue(db: Session, message: NewMessage, now: datetime) -> int:
    """Add the message in `db`'s transaction; its id (the existing one's for a known dedupe key)."""
    values = {
        "destination_kind": message.destination_kind,
        "destination_id": message.destination_id,
        "dedupe_key": message.dedupe_key,
        "ordering_key": message.ordering_key,
        "description": message.description[:255],
        "payload": message.payload,
        "created_at": as_utc(now),
        "status": Status.PENDING.value,
        "attempts": 0,
        "next_attempt_at": as_utc(now),
    }
    # ON CONFLICT DO NOTHING rather than look-then-insert: two transactions enqueuing the same content
    # at once must not fail the second one's whole unit of work on the unique constraint.
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(OutboxMessage)
        .values(values)
        .on_conflict_do_nothing(index_elements=["destination_kind", "destination_id", "dedupe_key"])
        .returning(OutboxMessage.id)
    )
    inserted = db.execute(statement).scalar_one_or_none()
    if inserted is not None:
        ring_after_commit(db)
        return int(inserted)
    existing = db.scalar(
        select(OutboxMessage.id).where(
            OutboxMessage.destination_kind == message.destination_kind,
            OutboxMessage.destination_id == message.destination_id,
            OutboxMessage.dedupe_key == message.dedupe_key,
        )
    )
    assert existing is not None, "a conflicting message must exist"
    return int(existing)


def _due(now: datetime, kinds: Collection[str]) -> ColumnElement[bool]:
    earlier = aliased(OutboxMessage)
    waits_for_earlier = exists().where(
        earlier.destination_kind == OutboxMessage.destination_kind,
        earlier.destination_id == OutboxMessage.destination_id,
        earlier.ordering_key == OutboxMessage.ordering_key,  # NULL keys never match: no order
        earlier.id < OutboxMessage.id,
        earlier.status.in_(OPEN),
    )
    return and_(
        OutboxMessage.status.in_(OPEN),
        OutboxMessage.next_attempt_at <= as_utc(now),
        OutboxMessage.destination_kind.in_(list(kinds)),
        ~waits_for_earlier,
    )


def claim_due(
    session_factory: sessionmaker[Session], now: datetime, *, kinds: Collection[str], limit: int, lease: timedelta
) -> list[ClaimedMessage]:
    """Up to `limit` due messages of these kinds, now this caller's (status sending) until `now + lease`."""
    if not kinds:
        return []
    with session_factory() as db:
        locking = db.get_bind().dialect.name == "postgresql"
    if locking:
        return _claim_with_row_locks(session_factory, now, kinds, limit, lease)
    return _claim_compare_and_set(session_factory, now, kinds, limit, lease)


def _claim_with_row_locks(
    session_factory: sessionmaker[Session], now: datetime, kinds: Collection[str], limit: int, lease: timedelta
) -> list[ClaimedMessage]:
    with session_factory.begin() as db:
        rows = db.scalars(
            select(OutboxMessage)
            .where(_due(now, kinds))
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=OutboxMessage)
        ).all()
        for row in rows:
            _take(row, now, lease)
        return [_claimed(row) for row in rows]


def _claim_compare_and_set(
    session_factory: sessionmaker[Session], now: datetime, kinds: Collection[str], limit: int, lease: timedelta
) -> list[ClaimedMessage]:
    # Read, then one short write transaction per message: a write after a read in the same SQLite
    # transaction fails outright when another connection wrote in between (WAL snapshot rules).
    with session_factory() as db:
        candidates = db.execute(
            select(OutboxMessage.id, OutboxMessage.status, OutboxMessage.attempts)
            .where(_due(now, kinds))
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
        ).all()
    claimed: list[ClaimedMessage] = []
    for message_id, status, attempts in candidates:
        with session_factory.begin() as db:
            taken = db.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == message_id,
                    OutboxMessage.status == status,
                    OutboxMessage.attempts == attempts,
                )
                .values(
                    status=Status.SENDING.value,
                    attempts=attempts + 1,
                    next_attempt_at=as_utc(now) + lease,
                    last_attempt_at=as_utc(now),
                )
                .execution_options(synchronize_session=False)
            )
            if getattr(taken, "rowcount", 0) == 1:
                row = db.get(OutboxMessage, message_id)
                assert row is not None
                claimed.append(_claimed(row))
    return claimed


def _take(row: OutboxMessage, now: datetime, lease: timedelta) -> None:
    row.status = Status.SENDING.value
    row.attempts += 1
    row.next_attempt_at = as_utc(now) + lease
    row.last_attempt_at = as_utc(now)


def _claimed(row: OutboxMessage) -> ClaimedMessage:
    return ClaimedMessage(
        row.id, row.destination_kind, row.destination_id, row.payload, row.attempts, row.description or ""
    )


def _still_ours(db: Session, claimed: ClaimedMessage, **values: object) -> bool:
    """Record an outcome only while the claim holds: if the lease lapsed and another worker took the
    message over, its outcome is the one that counts."""
    result = db.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == claimed.id,
            OutboxMessage.status == Status.SENDING.value,
            OutboxMessage.attempts == claimed.attempts,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


def mark_sent(db: Session, claimed: ClaimedMessage, now: datetime, summary: str) -> bool:
    return _still_ours(
        db, claimed, status=Status.SENT.value, sent_at=as_utc(now), response_summary=summary, last_error=None
    )


def mark_failed(db: Session, claimed: ClaimedMessage, error: str) -> bool:
    return _still_ours(db, claimed, status=Status.FAILED.value, last_error=error[:MAX_ERROR_CHARS])


def mark_retry(
    db: Session,
    claimed: ClaimedMessage,
    now: datetime,
    error: str,
    *,
    backoff: Backoff,
    max_attempts: int,
    not_before: timedelta | None = None,
) -> Status | None:
    """Pending again after the backoff (at least `not_before`, a receiver's Retry-After), or failed once
    `max_attempts` were made. The new status; None if the claim no longer held."""
    if claimed.attempts >= max_attempts:
        gave_up = f"gave up after {claimed.attempts} attempts: {error}"
        return Status.FAILED if mark_failed(db, claimed, gave_up) else None
    delay = max(backoff.delay(claimed.attempts), not_before or timedelta(0))
    retried = _still_ours(
        db,
        claimed,
        status=Status.PENDING.value,
        next_attempt_at=as_utc(now) + delay,
        last_error=error[:MAX_ERROR_CHARS],
    )
    return Status.PENDING if retried else None


def retry(db: Session, message_id: int, now: datetime) -> RetryResult:
    """A failed message back in the queue, due now, with a fresh count of attempts."""
    row = db.get(OutboxMessage, message_id, with_for_update=True)
    if row is None or row.status != Status.FAILED.value:
        return RetryResult.NOT_FAILED
    if row.ordering_key is not None:
        newer_delivered = db.scalar(
            select(func.count(OutboxMessage.id)).where(
                OutboxMessage.destination_kind == row.destination_kind,
                OutboxMessage.destination_id == row.destination_id,
                OutboxMessage.ordering_key == row.ordering_key,
                OutboxMessage.id > row.id,
                OutboxMessage.status == Status.SENT.value,
            )
        )
        if newer_delivered:
            return RetryResult.SUPERSEDED
    row.status = Status.PENDING.value
    row.attempts = 0
    row.next_attempt_at = as_utc(now)
    return RetryResult.RETRIED


def counts(db: Session, destination_kind: str, destination_id: str) -> dict[str, int]:
    """Messages to one destination by status (every status present, zero or not)."""
    found = dict(
        db.execute(
            select(OutboxMessage.status, func.count(OutboxMessage.id))
            .where(OutboxMessage.destination_kind == destination_kind, OutboxMessage.destination_id == destination_id)
            .group_by(OutboxMessage.status)
        ).all()
    )
    return {status.value: int(found.get(status.value, 0)) for status in Status}


def listing(
    db: Session, destination_kind: str, destination_id: str, status: Status | None = None, limit: int = 100
) -> list[OutboxMessage]:
    """Messages to one destination, newest first."""
    query = select(OutboxMessage).where(
        OutboxMessage.destination_kind == destination_kind, OutboxMessage.destination_id == destination_id
    )
    if status is not None:
        query = query.where(OutboxMessage.status == status.value)
    return list(db.scalars(query.order_by(OutboxMessage.id.desc()).limit(limit)).all())
