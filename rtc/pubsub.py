"""The Broker interface (publish/subscribe of JSON messages by topic) and the in-process broker.

Delivery is the same on every broker: ``publish`` only hands the message over, and the handler runs
later in the broker's own task, in publish order, for topics subscribed at delivery time. A message
published by an instance comes back to that instance too, so callers deliver locally and remotely
through one path.
"""

from __future__ import annotations

import asyncio
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

logger = logging.getLogger(__name__)

MessageHandler = Callable[[str, dict[str, Any]], Awaitable[None]]  # (topic, message)


class BrokerUnavailable(RuntimeError):
    """A message could not be handed to the broker (Redis unreachable)."""


def encode(message: dict[str, Any]) -> str:
    """Compact JSON text; orjson, several times faster on SDP, with the standard library for the
    integers beyond 64 bits that orjson refuses."""
    try:
        return orjson.dumps(message).decode()
    except TypeError:  # orjson.JSONEncodeError; also what nothing can encode, raised again below
        return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


async def deliver(handler: MessageHandler, topic: str, message: dict[str, Any]) -> None:
    """Run the handler; its exceptions are logged, never raised into the broker's task."""
    try:
        await handler(topic, message)
    except Exception:
        # One bad message or handler bug must not stop delivery of everything after it.
        logger.exception("message handler failed for topic %r", topic)


def _current_task_is_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def cancel_and_wait(task: asyncio.Task[None]) -> None:
    """Cancel a task and wait for it, letting a cancellation of the caller itself propagate."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        if _current_task_is_cancelled():
            raise


class Broker(ABC):
    @abstractmethod
    async def start(self, handler: MessageHandler) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def publish(self, topic: str, message: dict[str, Any]) -> None: ...

    @abstractmethod
    async def subscribe(self, topic: str) -> None:
        """Receive the topic's messages; once this returns, messages published later are delivered."""

    @abstractmethod
    async def unsubscribe(self, topic: str) -> None:
        """Stop receiving the topic; nothing more is delivered for it once this returns."""


class LocalBroker(Broker):
    """One instance, no Redis: publish queues the message for this instance's own handler."""

    def __init__(self) -> None:
        self._topics: set[str] = set()
        self._queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def start(self, handler: MessageHandler) -> None:
        if self._task is not None:
            raise RuntimeError("broker already started")
        self._task = asyncio.create_task(self._dispatch(handler), name="local-broker")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)

    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        # Encoding refuses what Redis would refuse, so code tested on one instance behaves the same on
        # several. The handler gets its own copy of the top level (where the hub takes its routing
        # keys out), not a decoded one: publishers hand over messages they no longer touch.
        encode(message)
        if topic in self._topics:
            self._queue.put_nowait((topic, dict(message)))

    async def subscribe(self, topic: str) -> None:
        self._topics.add(topic)

    async def unsubscribe(self, topic: str) -> None:
        self._topics.discard(topic)

    async def _dispatch(self, handler: MessageHandler) -> None:
        while True:
            topic, message = await self._queue.get()
            if topic in self._topics:
                await deliver(handler, topic, message)
