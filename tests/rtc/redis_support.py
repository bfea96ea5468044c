"""Redis for the rtc tests: the real server on 127.0.0.1:6379 (a failure, not a skip, in CI).

Also a TCP proxy in front of it, so a test can cut the broker's connections and refuse new ones for a
while, the way a Redis restart or a network blip looks from the application.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from typing import Any

import pytest
import redis

from tests.support import IN_CI

REDIS_URL = os.environ.get("BRIDGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_available() -> bool:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def require_redis() -> None:
    if redis_available():
        return
    message = f"Redis is not reachable at {REDIS_URL}"
    if IN_CI:
        pytest.fail(message + " (required in CI)")
    pytest.skip(message)


def unique_prefix() -> str:
    """A channel prefix no other test (or a bridge running against the same Redis) publishes on."""
    return f"nhbridge-test:{uuid.uuid4().hex[:12]}:"


class Inbox:
    """A broker handler that records what it is given and lets a test wait for it."""

    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []
        self._arrived = asyncio.Event()

    async def __call__(self, topic: str, message: dict[str, Any]) -> None:
        self.items.append((topic, message))
        self._arrived.set()

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[str, dict[str, Any]]]:
        async def arrived() -> None:
            while len(self.items) < count:
                self._arrived.clear()
                await self._arrived.wait()

        await asyncio.wait_for(arrived(), timeout)
        return self.items


async def eventually(condition: Any, timeout: float = 5.0) -> None:
    """Poll a condition that no event announces (a reconnection inside the broker)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


class RedisProxy:
    """Forwards loopback TCP to Redis; cut() drops every connection, and while down new ones are dropped."""

    def __init__(self, host: str = "127.0.0.1", port: int = 6379) -> None:
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.down = False
        # While stalled, bytes are swallowed and connections stay open: a dead peer behind a NAT.
        self.stalled = False
        self.accepted = 0

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    async def __aenter__(self) -> RedisProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self.cut()
        await self._server.wait_closed()

    async def cut(self) -> None:
        for writer in list(self._writers):
            writer.close()
        for writer in list(self._writers):
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        self._writers.clear()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.down:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        self._writers.update((writer, upstream_writer))
        pipes = [
            asyncio.create_task(self._pipe(reader, upstream_writer)),
            asyncio.create_task(self._pipe(upstream_reader, writer)),
        ]
        self._pipes.update(pipes)
        await asyncio.gather(*pipes, return_exceptions=True)
        self._pipes.difference_update(pipes)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                if not self.stalled:
                    writer.write(data)
                    await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self._writers.discard(writer)
            with contextlib.suppress(OSError):
                await writer.wait_closed()
