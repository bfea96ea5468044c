"""Waking the outbox workers of this process when a transaction that enqueued something commits.

Without it a new delivery waits for the worker's next poll (2 s by default), which alone would make a
pharmacy wait longer than the one second a signed prescription may take to arrive. The ring happens
after commit, never before: a worker woken earlier would find nothing to claim. Workers of other
instances are not rung; they find the message at their next poll, and the instance that enqueued it
usually claims it first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.orm import Session

logger = logging.getLogger(__name__)

_RANG = "outbox_doorbell"


class Doorbell:
    """An asyncio.Event a worker waits on, safe to ring from the worker threads that commit."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._event = asyncio.Event()

    def ring(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self._event.set)
        except RuntimeError:  # the loop closed while a late transaction committed
            logger.debug("outbox doorbell rung after its loop closed")

    def clear(self) -> None:
        self._event.clear()

    async def wait(self, timeout: float) -> bool:
        """True when rung, False when `timeout` seconds passed first."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            return False
        return True


_doorbells: set[Doorbell] = set()


@contextmanager
def listening(doorbell: Doorbell) -> Iterator[Doorbell]:
    _doorbells.add(doorbell)
    try:
        yield doorbell
    finally:
        _doorbells.discard(doorbell)


def ring_after_commit(db: Session) -> None:
    """Called by `enqueue`: ring every listening worker once `db`'s transaction commits."""
    if db.info.get(_RANG):
        return
    db.info[_RANG] = True
    event.listen(db, "after_commit", _ring, once=True)
    event.listen(db, "after_rollback", _forget, once=True)


def _ring(db: Session) -> None:
    db.info.pop(_RANG, None)
    if event.contains(db, "after_rollback", _forget):
        event.remove(db, "after_rollback", _forget)
    for doorbell in list(_doorbells):
        doorbell.ring()


def _forget(db: Session) -> None:
    db.info.pop(_RANG, None)
    if event.contains(db, "after_commit", _ring):
        event.remove(db, "after_commit", _ring)
