"""The worker does not wait for its poll: a commit that enqueued rings it, and a round that delivered is
followed at once by the next, so one destination's ordered messages go out back to back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from bridge.outbox.outbox import NewMessage, Status, enqueue
from bridge.outbox.worker import OutboxWorker, Outcome
from bridge.runtime import Runtime
from tests.bridge.outbox.support import outbox_runtime
from tests.bridge.outbox.test_outbox import ScriptedSender, row

# Far longer than the test waits: a delivery within the wait can only come from the doorbell.
POLL_SECONDS = 120.0
WAIT_SECONDS = 20.0


@pytest.fixture
def runtime(database_url: str) -> Iterator[Runtime]:
    runtime = outbox_runtime(database_url, outbox_poll_seconds=POLL_SECONDS)
    yield runtime
    runtime.engine.dispose()


def _enqueue_in_a_thread(runtime: Runtime, kind: str, count: int, ordering_key: str | None) -> list[int]:
    ids = []
    with runtime.session_factory.begin() as db:
        for n in range(count):
            new = NewMessage(kind, "dest-1", f'{{"n": {n}}}', uuid.uuid4().hex, ordering_key, "wake-up test")
            ids.append(enqueue(db, new, runtime.clock.now()))
    return ids


def test_a_commit_that_enqueued_wakes_the_worker_and_ordered_messages_follow_at_once(runtime: Runtime) -> None:
    kind = f"test-{uuid.uuid4().hex[:12]}"
    sender = ScriptedSender(Outcome.SENT)

    async def scenario() -> list[int]:
        worker = asyncio.create_task(OutboxWorker(runtime, {kind: sender}).run())
        await asyncio.sleep(0.5)  # the worker has found nothing and waits out its poll
        ids = await asyncio.to_thread(_enqueue_in_a_thread, runtime, kind, 5, "one-key")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_SECONDS
        while len(sender.seen) < len(ids) and loop.time() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # the last outcome is recorded after the delivery returns
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
        return ids

    ids = asyncio.run(scenario())
    assert [m.id for m in sender.seen] == ids
    assert all(row(runtime, message_id).status == Status.SENT.value for message_id in ids)


def test_a_rolled_back_enqueue_leaves_nothing_to_deliver(runtime: Runtime) -> None:
    kind = f"test-{uuid.uuid4().hex[:12]}"
    with runtime.session_factory() as db:
        enqueue(db, NewMessage(kind, "dest-1", "{}", uuid.uuid4().hex, None, "rolled back"), runtime.clock.now())
        db.rollback()
    sender = ScriptedSender(Outcome.SENT)

    async def one_round() -> int:
        return await OutboxWorker(runtime, {kind: sender}).run_once()

    assert asyncio.run(one_round()) == 0 and sender.seen == []
