"""Redis pub/sub for the Broker interface: fan-out of signalling messages between app instances.

This module is also where the rest of the application finds every broker (``broker_for``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from rtc.pubsub import Broker, BrokerUnavailable, LocalBroker, MessageHandler, cancel_and_wait, deliver, encode

__all__ = ["Broker", "BrokerUnavailable", "LocalBroker", "MessageHandler", "RedisBroker", "broker_for"]

logger = logging.getLogger(__name__)

# PUBLISHes sent in one round trip at most; more wait for the next.
MAX_PIPELINE = 500


class RedisBroker(Broker):
    """Redis pub/sub: channel ``f"{prefix}{topic}"``, one JSON object per message.

    Publishing goes through one connection, written by one task that sends whatever has queued up
    since its last round trip as one pipeline: a thousand sockets relaying at once cost a few round
    trips, not a thousand, and never more connections than one (a pool would run out and fail).
    One subscriber connection is read by one task. If it drops, the task reconnects with exponential
    backoff and subscribes every topic again; messages published while it was down are lost, as with
    any Redis pub/sub, so callers must tolerate gaps (signalling clients re-join after reconnecting).
    While connected, subscribe() returns once Redis has confirmed the subscription; while not, it
    returns at once and the reconnection subscribes the topic.
    """

    def __init__(
        self,
        url: str,
        prefix: str = "nhbridge:signal:",
        *,
        reconnect_delay: float = 0.1,
        max_reconnect_delay: float = 5.0,
        idle_ping_seconds: float = 15.0,
        subscribe_timeout: float = 5.0,
        connect_timeout: float = 2.0,
    ) -> None:
        self._url = url
        self._prefix = prefix
        self._reconnect_delay = reconnect_delay
        self._max_reconnect_delay = max_reconnect_delay
        self._idle_ping_seconds = idle_ping_seconds
        self._subscribe_timeout = subscribe_timeout
        self._connect_timeout = connect_timeout
        self._topics: set[str] = set()
        self._waiters: dict[str, deque[asyncio.Future[None]]] = {}
        self._publisher: Redis | None = None
        self._subscriber: Redis | None = None
        self._pubsub: PubSub | None = None  # None while (re)connecting
        self._reader: asyncio.Task[None] | None = None
        self._outbox: deque[_Outgoing] = deque()
        self._outbox_filled = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self.reconnects = 0

    @property
    def connected(self) -> bool:
        return self._pubsub is not None

    def _client(self, retries: int) -> Redis:
        return Redis.from_url(
            self._url,
            retry=Retry(NoBackoff(), retries),
            socket_connect_timeout=self._connect_timeout,
            socket_timeout=self._connect_timeout,
            socket_keepalive=True,
        )

    async def start(self, handler: MessageHandler) -> None:
        if self._reader is not None:
            raise RuntimeError("broker already started")
        # One retry lets a publish survive a pooled connection that went stale across a Redis restart.
        self._publisher = self._client(retries=1)
        # No retries underneath the reader: it reconnects itself, so it can back off, log, re-subscribe.
        self._subscriber = self._client(retries=0)
        first_attempt = asyncio.Event()
        self._writer = asyncio.create_task(self._write(), name="redis-broker-writer")
        self._reader = asyncio.create_task(self._run(handler, first_attempt), name="redis-broker-reader")
        # Subscriptions right after start should be confirmed, so let the first connection happen first.
        await first_attempt.wait()

    async def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            await cancel_and_wait(reader)
        writer, self._writer = self._writer, None
        if writer is not None:
            await cancel_and_wait(writer)
        _settle(list(self._outbox), BrokerUnavailable("the broker was closed"))
        self._outbox.clear()
        for client in (self._publisher, self._subscriber):
            if client is not None:
                await client.aclose()
        self._publisher = self._subscriber = None

    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        """Returns once Redis took the message; BrokerUnavailable when it could not."""
        if self._publisher is None or self._writer is None:
            raise RuntimeError("broker not started")
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._outbox.append(_Outgoing(self._prefix + topic, encode(message), sent))
        self._outbox_filled.set()
        await sent

    async def _write(self) -> None:
        while True:
            await self._outbox_filled.wait()
            self._outbox_filled.clear()
            while self._outbox:
                batch = [self._outbox.popleft() for _ in range(min(len(self._outbox), MAX_PIPELINE))]
                try:
                    await self._send(batch)
                except (RedisError, OSError) as exc:
                    _settle(batch, BrokerUnavailable(f"cannot publish to Redis: {exc}"))
                else:
                    _settle(batch, None)

    async def _send(self, batch: list[_Outgoing]) -> None:
        assert self._publisher is not None
        async with self._publisher.pipeline(transaction=False) as pipeline:
            for outgoing in batch:
                pipeline.publish(outgoing.channel, outgoing.text)
            await pipeline.execute()

    async def subscribe(self, topic: str) -> None:
        if topic in self._topics:
            return
        self._topics.add(topic)
        pubsub = self._pubsub
        if pubsub is None:
            return  # the (re)connection subscribes every topic
        channel = self._prefix + topic
        confirmed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(channel, deque()).append(confirmed)
        try:
            await pubsub.subscribe(channel)
        except (RedisError, OSError) as exc:
            logger.debug("SUBSCRIBE %s failed (%s); the reconnection will subscribe it", channel, exc)
            return
        try:
            await asyncio.wait_for(confirmed, self._subscribe_timeout)
        except TimeoutError:
            logger.warning("Redis did not confirm SUBSCRIBE %s within %.1f s", channel, self._subscribe_timeout)

    async def unsubscribe(self, topic: str) -> None:
        if topic not in self._topics:
            return
        self._topics.discard(topic)
        pubsub = self._pubsub
        if pubsub is None:
            return
        try:
            await pubsub.unsubscribe(self._prefix + topic)
        except (RedisError, OSError) as exc:
            # The topic is already out of the set, so neither delivery nor a reconnection brings it back.
            logger.debug("UNSUBSCRIBE %s%s failed: %s", self._prefix, topic, exc)

    async def _run(self, handler: MessageHandler, first_attempt: asyncio.Event) -> None:
        delay = self._reconnect_delay
        failures = 0
        while True:
            try:
                pubsub = await self._connect()
            except (RedisError, OSError) as exc:
                failures += 1
                # Attempts 1, 2, 4, 8…: a long outage is reported without a warning every few seconds.
                level = logging.WARNING if failures & (failures - 1) == 0 else logging.DEBUG
                logger.log(level, "cannot reach Redis (attempt %d): %s; retrying in %.2f s", failures, exc, delay)
            else:
                if failures:
                    self.reconnects += 1
                    logger.warning("reconnected to Redis; re-subscribed %d topics", len(self._topics))
                failures = 0
                delay = self._reconnect_delay
                first_attempt.set()
                try:
                    await self._read(pubsub, handler)
                except (RedisError, OSError) as exc:
                    failures = 1
                    logger.warning("lost the Redis pub/sub connection: %s; reconnecting", exc)
                finally:
                    await self._drop(pubsub)
            first_attempt.set()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_reconnect_delay)

    async def _connect(self) -> PubSub:
        assert self._subscriber is not None
        pubsub = self._subscriber.pubsub()
        try:
            await pubsub.connect()  # type: ignore[no-untyped-call]  # unannotated in redis-py
            # Published before the snapshot below, so a concurrent subscribe() either lands in the
            # snapshot or sends its own SUBSCRIBE on this connection.
            self._pubsub = pubsub
            channels = [self._prefix + topic for topic in self._topics]
            if channels:
                await pubsub.subscribe(*channels)
        except BaseException:
            await self._drop(pubsub)
            raise
        return pubsub

    async def _drop(self, pubsub: PubSub) -> None:
        if self._pubsub is pubsub:
            self._pubsub = None
        # Confirmations cannot arrive any more; the topics stay recorded and are re-subscribed.
        for waiters in self._waiters.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
        self._waiters.clear()
        await pubsub.aclose()  # type: ignore[no-untyped-call]  # unannotated in redis-py

    async def _read(self, pubsub: PubSub, handler: MessageHandler) -> None:
        # A silently dead TCP connection (a NAT or proxy forgot it) never errors; a PING unanswered
        # for a whole idle period exposes it.
        awaiting_pong = False
        while True:
            message = await pubsub.get_message(timeout=self._idle_ping_seconds)
            if message is None:
                if awaiting_pong:
                    raise ConnectionError(f"no reply from Redis in {self._idle_ping_seconds} s")
                await pubsub.ping()
                awaiting_pong = True
                continue
            awaiting_pong = False
            await self._handle(message, handler)

    async def _handle(self, message: dict[str, Any], handler: MessageHandler) -> None:
        kind = message["type"]
        channel = message["channel"]
        if isinstance(channel, bytes):
            channel = channel.decode("utf-8", "replace")
        if kind == "subscribe":
            waiters = self._waiters.get(channel)
            while waiters:
                waiter = waiters.popleft()
                if not waiter.done():  # a subscribe() that timed out has given up on its waiter
                    waiter.set_result(None)
                    break
            if waiters is not None and not waiters:
                del self._waiters[channel]
            return
        if kind != "message" or not channel.startswith(self._prefix):
            return
        topic = channel[len(self._prefix) :]
        if topic not in self._topics:
            return  # sent before our UNSUBSCRIBE reached Redis
        try:
            payload = json.loads(message["data"])
        except ValueError:
            logger.warning("ignored a message on %s that is not JSON", channel)
            return
        if not isinstance(payload, dict):
            logger.warning("ignored a message on %s that is not a JSON object", channel)
            return
        await deliver(handler, topic, payload)


@dataclass(frozen=True)
class _Outgoing:
    channel: str
    text: str
    sent: asyncio.Future[None]


def _settle(batch: list[_Outgoing], error: Exception | None) -> None:
    for outgoing in batch:
        if outgoing.sent.done():
            continue  # its publisher was cancelled and no longer waits
        if error is None:
            outgoing.sent.set_result(None)
        else:
            outgoing.sent.set_exception(error)


def broker_for(redis_url: str | None, prefix: str = "nhbridge:signal:") -> Broker:
    """Redis when configured (several instances), otherwise the in-process broker."""
    return RedisBroker(redis_url, prefix) if redis_url else LocalBroker()
