"""The outbox itself, on both backends: enqueue in the caller's transaction, claims that never hand one
message to two workers, backoff and giving up on an adjustable clock, leases, order per key."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bridge.clock import as_utc
from bridge.outbox.outbox import (
    Backoff,
    ClaimedMessage,
    NewMessage,
    RetryResult,
    Status,
    claim_due,
    counts,
    enqueue,
    mark_sent,
    retry,
)
from bridge.outbox.tables import OutboxMessage
from bridge.outbox.worker import Delivery, Outcome
from bridge.runtime import Runtime
from tests.bridge.outbox.support import clock_of, outbox_runtime, run_round

LEASE = timedelta(seconds=30)


class ScriptedSender:
    """Answers each delivery with the next outcome of its script (the last one repeats)."""

    def __init__(self, *outcomes: Outcome) -> None:
        self.outcomes = list(outcomes)
        self.seen: list[ClaimedMessage] = []

    async def deliver(self, message: ClaimedMessage) -> Delivery:
        self.seen.append(message)
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        return Delivery(outcome, "receiver said 503" if outcome is not Outcome.SENT else "Thing/1")

    async def aclose(self) -> None:
        pass


@pytest.fixture
def runtime(database_url: str) -> Iterator[Runtime]:
    runtime = outbox_runtime(database_url)
    yield runtime
    runtime.engine.dispose()


@pytest.fixture
def kind() -> str:
    """A destination kind of this test's own: other tests' messages are never claimed here."""
    return f"test-{uuid.uuid4().hex[:12]}"


def message(kind: str, key: str = "", ordering_key: str | None = None) -> NewMessage:
    return NewMessage(kind, "dest-1", '{"n": 1}', key or uuid.uuid4().hex, ordering_key, "test message")


def put(runtime: Runtime, new: NewMessage) -> int:
    with runtime.session_factory.begin() as db:
        return enqueue(db, new, runtime.clock.now())


def row(runtime: Runtime, message_id: int) -> OutboxMessage:
    with runtime.session_factory() as db:
        found = db.get(OutboxMessage, message_id)
        assert found is not None
        return found


def test_enqueue_belongs_to_the_callers_transaction_and_dedupes(runtime: Runtime, kind: str) -> None:
    with runtime.session_factory() as db:
        enqueue(db, message(kind, "same"), runtime.clock.now())
        db.rollback()
    with runtime.session_factory() as db:
        assert db.scalar(select(func.count()).where(OutboxMessage.destination_kind == kind)) == 0
    first = put(runtime, message(kind, "same"))
    again = put(runtime, message(kind, "same"))
    other = put(runtime, NewMessage(kind, "dest-2", "{}", "same"))  # another destination: its own message
    assert again == first and other != first
    with runtime.session_factory() as db:
        assert counts(db, kind, "dest-1") == {"pending": 1, "sending": 0, "sent": 0, "failed": 0}


def test_backoff_doubles_up_to_the_maximum_with_jitter() -> None:
    backoff = Backoff(5, 3600, jitter=0.2)
    rng = random.Random(7)
    for attempts, nominal in [(1, 5), (2, 10), (3, 20), (8, 640), (11, 3600), (60, 3600)]:
        for _ in range(20):
            assert nominal * 0.8 <= backoff.delay(attempts, rng).total_seconds() <= nominal * 1.2


def test_retries_back_off_then_give_up_and_a_person_can_retry(runtime: Runtime, kind: str) -> None:
    sender = ScriptedSender(Outcome.RETRY)
    clock = clock_of(runtime)
    message_id = put(runtime, message(kind))
    started = as_utc(runtime.clock.now())
    assert run_round(runtime, {kind: sender}) == 1
    first = row(runtime, message_id)
    assert (first.status, first.attempts, first.last_error) == ("pending", 1, "receiver said 503")
    assert 4 <= (as_utc(first.next_attempt_at) - started).total_seconds() <= 6.5
    assert run_round(runtime, {kind: sender}) == 0  # not due yet
    for attempts, wait in [(2, 7), (3, 13), (4, 25)]:
        clock.offset += timedelta(seconds=wait)
        assert run_round(runtime, {kind: sender}) == 1
        assert row(runtime, message_id).attempts == attempts
    gave_up = row(runtime, message_id)
    assert gave_up.status == "failed" and gave_up.last_error == "gave up after 4 attempts: receiver said 503"
    clock.offset += timedelta(hours=2)
    assert run_round(runtime, {kind: sender}) == 0  # failed stays failed
    with runtime.session_factory.begin() as db:
        assert retry(db, message_id, runtime.clock.now()) is RetryResult.RETRIED
        assert retry(db, message_id, runtime.clock.now()) is RetryResult.NOT_FAILED
    assert run_round(runtime, {kind: ScriptedSender(Outcome.SENT)}) == 1
    sent = row(runtime, message_id)
    assert (sent.status, sent.attempts, sent.response_summary, sent.last_error) == ("sent", 1, "Thing/1", None)


def test_a_refusal_fails_at_once(runtime: Runtime, kind: str) -> None:
    message_id = put(runtime, message(kind))
    assert run_round(runtime, {kind: ScriptedSender(Outcome.FAILED)}) == 1
    assert (row(runtime, message_id).status, row(runtime, message_id).attempts) == ("failed", 1)


def test_a_claim_lapses_when_its_worker_dies_and_the_late_worker_changes_nothing(runtime: Runtime, kind: str) -> None:
    message_id = put(runtime, message(kind))
    claim = claim_due(runtime.session_factory, runtime.clock.now(), kinds=[kind], limit=10, lease=LEASE)
    assert [c.id for c in claim] == [message_id] and row(runtime, message_id).status == "sending"
    assert claim_due(runtime.session_factory, runtime.clock.now(), kinds=[kind], limit=10, lease=LEASE) == []
    clock_of(runtime).offset += LEASE + timedelta(seconds=1)
    again = claim_due(runtime.session_factory, runtime.clock.now(), kinds=[kind], limit=10, lease=LEASE)
    assert [(c.id, c.attempts) for c in again] == [(message_id, 2)]
    with runtime.session_factory.begin() as db:
        assert not mark_sent(db, claim[0], runtime.clock.now(), "late")  # the first worker woke up too late
        assert mark_sent(db, again[0], runtime.clock.now(), "on time")
    assert row(runtime, message_id).response_summary == "on time"


def test_one_ordering_key_goes_in_order_and_an_older_message_is_never_resent(runtime: Runtime, kind: str) -> None:
    older = put(runtime, message(kind, ordering_key="DiagnosticReport/1"))
    newer = put(runtime, message(kind, ordering_key="DiagnosticReport/1"))
    unrelated = put(runtime, message(kind))

    def claim() -> list[int]:
        found = claim_due(runtime.session_factory, runtime.clock.now(), kinds=[kind], limit=10, lease=LEASE)
        return sorted(c.id for c in found)

    assert claim() == [older, unrelated]  # the newer one waits for the older
    assert claim() == []
    with runtime.session_factory.begin() as db:
        db.get(OutboxMessage, older).status = Status.FAILED.value  # type: ignore[union-attr]
    assert claim() == [newer]
    with runtime.session_factory.begin() as db:
        db.get(OutboxMessage, newer).status = Status.SENT.value  # type: ignore[union-attr]
        assert retry(db, older, runtime.clock.now()) is RetryResult.SUPERSEDED
    assert row(runtime, older).status == "failed"


def test_concurrent_claimers_never_claim_the_same_message(runtime: Runtime, kind: str) -> None:
    with runtime.session_factory.begin() as db:
        ids = {enqueue(db, message(kind), runtime.clock.now()) for _ in range(60)}
    claimed: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def claimer() -> None:
        try:
            start.wait()
            while True:
                batch = claim_due(runtime.session_factory, runtime.clock.now(), kinds=[kind], limit=4, lease=LEASE)
                if not batch:
                    return
                claimed.extend(c.id for c in batch)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=claimer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sorted(claimed) == sorted(ids)  # every message once, none twice
