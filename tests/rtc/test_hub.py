"""The hub: local sockets, their topics, fan-out through a broker (in-process, or Redis across instances)."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from rtc.broker import LocalBroker, RedisBroker
from rtc.hub import Hub
from tests.rtc.redis_support import REDIS_URL, eventually, require_redis, unique_prefix


@pytest.fixture(autouse=True)
def _collect_garbage() -> Iterator[None]:
    yield
    gc.collect()


class Socket:
    """Stands in for a WebSocket's send_text; a closed gate makes it as slow as a stalled client."""

    def __init__(self, *, blocked: bool = False, fail: bool = False) -> None:
        self.frames: list[str] = []
        self.gate = asyncio.Event()
        if not blocked:
            self.gate.set()
        self.fail = fail
        self.overflows = 0
        self._arrived = asyncio.Event()

    async def send(self, text: str) -> None:
        await self.gate.wait()
        if self.fail:
            raise ConnectionError("socket closed")
        self.frames.append(text)
        self._arrived.set()

    async def on_overflow(self) -> None:
        self.overflows += 1

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(frame) for frame in self.frames]

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        async def arrived() -> None:
            while len(self.frames) < count:
                self._arrived.clear()
                await self._arrived.wait()

        await asyncio.wait_for(arrived(), timeout)
        return self.messages


class RecordingBroker(LocalBroker):
    """The in-process broker, counting (un)subscriptions; subscribe can be held to expose races."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str]] = []
        self.subscribe_gate = asyncio.Event()
        self.subscribe_gate.set()

    async def subscribe(self, topic: str) -> None:
        self.calls.append(("subscribe", topic))
        await self.subscribe_gate.wait()
        await super().subscribe(topic)

    async def unsubscribe(self, topic: str) -> None:
        self.calls.append(("unsubscribe", topic))
        await super().unsubscribe(topic)


def test_single_instance_fan_out_with_exclude() -> None:
    async def scenario() -> None:
        hub = Hub(LocalBroker())
        await hub.start()
        a, b, c = Socket(), Socket(), Socket()
        for name, socket in (("a", a), ("b", b), ("c", c)):
            hub.attach(name, socket.send)
        await hub.listen("a", "consult:1")
        await hub.listen("b", "consult:1")
        await hub.listen("c", "consult:2")
        assert hub.local_listeners("consult:1") == 2
        assert hub.local_listeners("nothing") == 0
        await hub.publish("consult:1", {"type": "signal.offer", "from": "p-1", "exclude": "a"})
        await hub.publish("consult:1", {"type": "consult.state", "display": "王芳"})
        assert await b.wait_for(2) == [
            {"type": "signal.offer", "from": "p-1"},
            {"type": "consult.state", "display": "王芳"},
        ]
        assert await a.wait_for(1) == [{"type": "consult.state", "display": "王芳"}]
        assert a.frames[0] is b.frames[1]  # encoded once for every local socket
        await hub.publish("consult:2", {"n": 1})
        assert await c.wait_for(1) == [{"n": 1}]
        assert len(a.frames) == 1
        await hub.close()

    asyncio.run(scenario())


def test_each_connection_receives_in_publish_order() -> None:
    async def scenario() -> None:
        hub = Hub(LocalBroker())
        await hub.start()
        sockets = [Socket() for _ in range(3)]
        for i, socket in enumerate(sockets):
            hub.attach(f"s{i}", socket.send)
            await hub.listen(f"s{i}", "t")
        for n in range(200):
            await hub.publish("t", {"n": n})
        for socket in sockets:
            assert [m["n"] for m in await socket.wait_for(200)] == list(range(200))
        await hub.close()

    asyncio.run(scenario())


def test_a_slow_socket_neither_delays_others_nor_holds_memory(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        hub = Hub(LocalBroker(), queue_size=3)
        await hub.start()
        slow, fast, quiet = Socket(blocked=True), Socket(), Socket(blocked=True)
        hub.attach("slow", slow.send, slow.on_overflow)
        hub.attach("fast", fast.send, fast.on_overflow)
        hub.attach("quiet", quiet.send)  # no on_overflow: its messages are just dropped
        for name in ("slow", "fast", "quiet"):
            await hub.listen(name, "t")
        for n in range(10):
            await hub.publish("t", {"n": n})
        assert [m["n"] for m in await fast.wait_for(10)] == list(range(10))
        await eventually(lambda: slow.overflows == 1)
        slow.gate.set()
        quiet.gate.set()
        await hub.publish("t", {"n": 10})
        await fast.wait_for(11)
        await asyncio.sleep(0.02)
        assert slow.frames == [] and quiet.frames == []  # given up: nothing more is written
        assert slow.overflows == 1 and fast.overflows == 0
        await hub.detach("slow")
        assert hub.local_listeners("t") == 2
        await hub.close()

    with caplog.at_level(logging.WARNING, logger="rtc.hub"):
        asyncio.run(scenario())
    assert "fell 3 messages behind" in caplog.text


def test_a_failing_socket_is_dropped_without_affecting_others() -> None:
    async def scenario() -> None:
        hub = Hub(LocalBroker())
        await hub.start()
        broken, ok = Socket(fail=True), Socket()
        hub.attach("broken", broken.send)
        hub.attach("ok", ok.send)
        await hub.listen("broken", "t")
        await hub.listen("ok", "t")
        for n in range(3):
            await hub.publish("t", {"n": n})
        assert len(await ok.wait_for(3)) == 3
        await hub.close()

    asyncio.run(scenario())


def test_overflow_callback_errors_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        hub = Hub(LocalBroker(), queue_size=1)
        await hub.start()
        slow = Socket(blocked=True)

        async def on_overflow() -> None:
            raise RuntimeError("close failed")

        hub.attach("slow", slow.send, on_overflow)
        await hub.listen("slow", "t")
        for n in range(3):
            await hub.publish("t", {"n": n})
        await eventually(lambda: "close failed" in caplog.text)
        await hub.close()

    with caplog.at_level(logging.ERROR, logger="rtc.hub"):
        asyncio.run(scenario())


def test_broker_subscriptions_follow_the_first_and_last_local_listener() -> None:
    async def scenario() -> None:
        broker = RecordingBroker()
        hub = Hub(broker)
        await hub.start()
        for name in ("a", "b"):
            hub.attach(name, Socket().send)
        await hub.listen("a", "t")
        await hub.listen("a", "t")
        await hub.listen("b", "t")
        await hub.listen("b", "u")
        assert broker.calls == [("subscribe", "t"), ("subscribe", "u")]
        await hub.unlisten("a", "t")
        await hub.unlisten("a", "t")
        await hub.unlisten("nobody", "t")
        assert broker.calls[-1] == ("subscribe", "u")
        await hub.detach("b")
        await hub.detach("b")
        assert sorted(broker.calls[2:]) == [("unsubscribe", "t"), ("unsubscribe", "u")]
        assert hub.local_listeners("t") == hub.local_listeners("u") == 0
        await hub.close()

    asyncio.run(scenario())


def test_listen_returns_only_once_the_subscription_is_live_even_for_a_second_listener() -> None:
    async def scenario() -> None:
        broker = RecordingBroker()
        hub = Hub(broker)
        await hub.start()
        first, second = Socket(), Socket()
        hub.attach("first", first.send)
        hub.attach("second", second.send)
        broker.subscribe_gate.clear()
        listening = [asyncio.create_task(hub.listen(name, "t")) for name in ("first", "second")]
        await asyncio.sleep(0.01)
        assert not any(task.done() for task in listening)
        broker.subscribe_gate.set()
        await asyncio.gather(*listening)
        assert broker.calls == [("subscribe", "t")]
        await hub.publish("t", {"n": 1})
        assert await first.wait_for(1) == await second.wait_for(1) == [{"n": 1}]
        await hub.close()

    asyncio.run(scenario())


def test_misuse_is_refused() -> None:
    async def scenario() -> None:
        hub = Hub(LocalBroker())
        await hub.start()
        hub.attach("a", Socket().send)
        with pytest.raises(ValueError):
            hub.attach("a", Socket().send)
        with pytest.raises(KeyError):
            await hub.listen("nobody", "t")
        await hub.close()
        with pytest.raises(ValueError):
            Hub(LocalBroker(), queue_size=0)

    asyncio.run(scenario())


def test_two_instances_over_redis() -> None:
    require_redis()
    prefix = unique_prefix()

    async def scenario() -> None:
        one = Hub(RedisBroker(REDIS_URL, prefix=prefix))
        two = Hub(RedisBroker(REDIS_URL, prefix=prefix))
        await one.start()
        await two.start()
        doctor, nurse, station = Socket(), Socket(), Socket()
        one.attach("doctor", doctor.send)
        two.attach("nurse", nurse.send)
        two.attach("station", station.send)
        await one.listen("doctor", "consult:7")
        await two.listen("nurse", "consult:7")
        await two.listen("station", "consult:7")
        await two.publish("consult:7", {"type": "signal.offer", "sdp": "v=0", "exclude": "nurse"})
        await one.publish("consult:7", {"type": "consult.state"})
        assert await doctor.wait_for(2) == [{"type": "signal.offer", "sdp": "v=0"}, {"type": "consult.state"}]
        assert await station.wait_for(2) == [{"type": "signal.offer", "sdp": "v=0"}, {"type": "consult.state"}]
        assert await nurse.wait_for(1) == [{"type": "consult.state"}]
        await two.detach("nurse")
        await two.detach("station")
        await one.publish("consult:7", {"type": "after"})
        await one.publish("marker", {})
        assert (await doctor.wait_for(3))[-1] == {"type": "after"}
        assert len(nurse.frames) == 1 and len(station.frames) == 2
        await one.close()
        await two.close()

    asyncio.run(scenario())
