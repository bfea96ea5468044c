"""This instance's WebSocket connections and the topics they listen to, on top of a Broker.

Every message reaches local sockets through the broker, including those published here, so a topic
behaves the same whether its listeners sit on this instance or another. Each connection has its own
bounded queue, written by a task while it holds anything: a slow socket fills only its own queue, and
when that overflows the connection is given up rather than allowed to hold memory or delay anyone else.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from rtc.pubsub import Broker, cancel_and_wait, encode

logger = logging.getLogger(__name__)

SendText = Callable[[str], Awaitable[None]]
OnOverflow = Callable[[], Awaitable[None]]
# Sees every message this instance receives, before its local listeners get it.
Observer = Callable[[str, dict[str, Any]], None]

EXCLUDE_KEY = "exclude"


class _Connection:
    """A writer task exists only while frames are waiting: an idle socket (most of them, most of the
    time) holds no task and no queue."""

    def __init__(self, connection_id: str, send: SendText, on_overflow: OnOverflow | None, queue_size: int) -> None:
        self.id = connection_id
        self.on_overflow = on_overflow
        self.topics: set[str] = set()
        # False once the connection overflowed or a send failed: everything for it is dropped.
        self.open = True
        self._send = send
        self._limit = queue_size
        self._pending: deque[str] = deque()
        self._writer: asyncio.Task[None] | None = None

    def offer(self, text: str) -> bool:
        """Queue a frame; False when the queue is full."""
        if len(self._pending) >= self._limit:
            return False
        self._pending.append(text)
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())
        return True

    def give_up(self) -> None:
        self.open = False
        self._pending.clear()
        if self._writer is not None:
            self._writer.cancel()

    async def stop(self) -> None:
        writer = self._writer
        self.give_up()
        if writer is None or asyncio.current_task() is writer:
            return  # detached from inside its own send callback; the cancel above ends it
        await cancel_and_wait(writer)

    async def _write(self) -> None:
        try:
            while self._pending:
                await self._send(self._pending.popleft())
        except Exception as exc:
            # The socket is gone; the server's receive loop notices and detaches it.
            logger.info("sending to connection %s failed (%s); dropping its messages", self.id, exc)
            self.open = False
            self._pending.clear()
        finally:
            self._writer = None


@dataclass
class _TopicState:
    """Serialises broker (un)subscription of one topic, so that listen() returns only once it is live."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    subscribed: bool = False
    users: int = 0


class Hub:
    """Owns its broker: start() starts it with the hub's handler and close() closes it."""

    def __init__(self, broker: Broker, *, queue_size: int = 256, observer: Observer | None = None) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, not {queue_size}")
        self._broker = broker
        self._observer = observer
        self._queue_size = queue_size
        self._connections: dict[str, _Connection] = {}
        self._listeners: dict[str, set[str]] = {}
        self._topics: dict[str, _TopicState] = {}
        self._overflow_tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self._broker.start(self._on_message)

    async def close(self) -> None:
        for connection_id in list(self._connections):
            await self.detach(connection_id)
        for task in list(self._overflow_tasks):
            task.cancel()
        await asyncio.gather(*self._overflow_tasks, return_exceptions=True)
        await self._broker.close()

    def attach(self, connection_id: str, send: SendText, on_overflow: OnOverflow | None = None) -> None:
        if connection_id in self._connections:
            raise ValueError(f"connection {connection_id!r} is already attached")
        self._connections[connection_id] = _Connection(connection_id, send, on_overflow, self._queue_size)

    async def detach(self, connection_id: str) -> None:
        connection = self._connections.pop(connection_id, None)
        if connection is None:
            return
        await connection.stop()
        topics = list(connection.topics)
        connection.topics.clear()
        for topic in topics:
            self._remove_listener(connection_id, topic)
        for topic in topics:
            await self._reconcile(topic)

    async def listen(self, connection_id: str, topic: str) -> None:
        connection = self._connections.get(connection_id)
        if connection is None:
            raise KeyError(f"connection {connection_id!r} is not attached")
        if topic in connection.topics:
            return
        connection.topics.add(topic)
        self._listeners.setdefault(topic, set()).add(connection_id)
        try:
            await self._reconcile(topic)
        except BaseException:
            connection.topics.discard(topic)
            self._remove_listener(connection_id, topic)
            raise

    async def unlisten(self, connection_id: str, topic: str) -> None:
        connection = self._connections.get(connection_id)
        if connection is None or topic not in connection.topics:
            return
        connection.topics.discard(topic)
        self._remove_listener(connection_id, topic)
        await self._reconcile(topic)

    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        """Send to every listener of the topic on every instance, except the one named by "exclude"."""
        await self._broker.publish(topic, message)

    def send_to(self, connection_id: str, message: dict[str, Any]) -> bool:
        """Queue a message for one local connection, behind what the hub already queued for it."""
        connection = self._connections.get(connection_id)
        if connection is None or not connection.open:
            return False
        if not connection.offer(encode(message)):
            self._overflow(connection)
            return False
        return True

    def local_listeners(self, topic: str) -> int:
        return len(self._listeners.get(topic, ()))

    def _remove_listener(self, connection_id: str, topic: str) -> None:
        listeners = self._listeners.get(topic)
        if listeners is None:
            return
        listeners.discard(connection_id)
        if not listeners:
            del self._listeners[topic]

    async def _reconcile(self, topic: str) -> None:
        """Bring the broker subscription in line with whether the topic has local listeners now."""
        state = self._topics.setdefault(topic, _TopicState())
        state.users += 1
        try:
            async with state.lock:
                wanted = topic in self._listeners
                if wanted and not state.subscribed:
                    await self._broker.subscribe(topic)
                    state.subscribed = True
                elif not wanted and state.subscribed:
                    await self._broker.unsubscribe(topic)
                    state.subscribed = False
        finally:
            state.users -= 1
            if state.users == 0 and not state.subscribed:
                del self._topics[topic]

    async def _on_message(self, topic: str, message: dict[str, Any]) -> None:
        exclude = message.pop(EXCLUDE_KEY, None)
        if self._observer is not None:
            self._observer(topic, message)
        listeners = self._listeners.get(topic)
        if not listeners:
            return
        text: str | None = None
        for connection_id in listeners:
            connection = self._connections.get(connection_id)
            if connection_id == exclude or connection is None or not connection.open:
                continue
            if text is None:
                text = encode(message)
            if not connection.offer(text):
                self._overflow(connection)
        # Brokers hand over a burst without suspending; yielding lets the writers drain their queues
        # between messages, so only a socket that really is slow can overflow.
        await asyncio.sleep(0)

    def _overflow(self, connection: _Connection) -> None:
        logger.warning(
            "connection %s fell %d messages behind; dropping its messages and closing it",
            connection.id,
            self._queue_size,
        )
        # Nothing more is worth writing to a socket that is about to be closed.
        connection.give_up()
        if connection.on_overflow is not None:
            task = asyncio.create_task(self._call_overflow(connection.id, connection.on_overflow))
            self._overflow_tasks.add(task)
            task.add_done_callback(self._overflow_tasks.discard)

    async def _call_overflow(self, connection_id: str, on_overflow: OnOverflow) -> None:
        try:
            await on_overflow()
        except Exception:
            logger.exception("on_overflow of connection %s failed", connection_id)
