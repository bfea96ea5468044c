"""News for open pages, published once the change behind it is committed.

Services that store something people are waiting for (a new result, a critical value) call
`announce(services, topic, message)`; the message goes out through the signalling hub (and Redis, with
several instances) only after the transaction commits, and not at all when it rolls back, so a page
never fetches what is not there yet. Work runs in worker threads; the hub lives on the event loop: the
publisher hands the message over thread-safely and never waits for it (a lost notification costs a
page a reload, never a record).

Without a running server (the command line, or a test without one) there is no publisher and news is
dropped: nothing is listening in that process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

logger = logging.getLogger(__name__)

Publish = Callable[[str, dict[str, Any]], Coroutine[Any, Any, None]]


class LivePublisher:
    def __init__(self, publish: Publish, loop: asyncio.AbstractEventLoop) -> None:
        self._publish = publish
        self._loop = loop

    def send(self, topic: str, message: dict[str, Any]) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            task = self._loop.create_task(self._publish(topic, message))
            task.add_done_callback(_log_failure)
            return
        future: Future[None] = asyncio.run_coroutine_threadsafe(self._publish(topic, message), self._loop)
        future.add_done_callback(_log_failure)


def _log_failure(done: asyncio.Future[None] | Future[None]) -> None:
    if done.cancelled():
        return
    error = done.exception()
    if error is not None:
        logger.warning("live news not published: %s", error)


def announce(session: Session, publisher: LivePublisher | None, topic: str, message: dict[str, Any]) -> None:
    """Send `message` on `topic` when `session`'s transaction commits."""
    if publisher is None:
        return
    pending: list[tuple[str, dict[str, Any]]] = session.info.setdefault("live_news", [])
    if not pending:
        event.listen(session, "after_commit", _flush, once=True)
        event.listen(session, "after_rollback", _forget, once=True)
    pending.append((topic, message))
    session.info["live_publisher"] = publisher


def _flush(session: Session) -> None:
    pending: list[tuple[str, dict[str, Any]]] = session.info.pop("live_news", [])
    publisher: LivePublisher | None = session.info.pop("live_publisher", None)
    if event.contains(session, "after_rollback", _forget):
        event.remove(session, "after_rollback", _forget)
    if publisher is None:
        return
    for topic, message in pending:
        publisher.send(topic, message)


def _forget(session: Session) -> None:
    session.info.pop("live_news", None)
    session.info.pop("live_publisher", None)
    if event.contains(session, "after_commit", _flush):
        event.remove(session, "after_commit", _flush)
