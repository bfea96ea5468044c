"""Brokers: the in-process one, and Redis pub/sub against the real server (two brokers = two instances)."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import redis.asyncio

from rtc.broker import BrokerUnavailable, LocalBroker, RedisBroker, broker_for
from tests.rtc.redis_support import REDIS_URL, Inbox, RedisProxy, eventually, require_redis, unique_prefix


@pytest.fixture(autouse=True)
def _collect_garbage() -> Iterator[None]:
    """Unclosed sockets and pending tasks show up as warnings (errors here) only once collected."""
    yield
    gc.collect()


@pytest.fixture
def redis_prefix() -> str:
    require_redis()
    return unique_prefix()


def _failing_handler(inbox: Inbox) -> Any:
    async def handler(topic: str, message: dict[str, Any]) -> None:
        if message.get("boom"):
            raise RuntimeError("handler bug")
        await inbox(topic, message)

    return handler


# --- LocalBroker ---------------------------------------------------------------------------------


def test_local_broker_delivers_subscribed_topics_in_order_after_publish_returns() -> None:
    async def scenario() -> None:
        inbox = Inbox()
        broker = LocalBroker()
        await broker.start(inbox)
        await broker.subscribe("a")
        await broker.subscribe("a")
        message = {"n": 0}
        await broker.publish("a", message)
        assert inbox.items == []  # delivered from the broker's task, as with Redis
        message["n"] = 99  # the handler gets its own copy
        await broker.publish("other", {"n": -1})
        for n in range(1, 5):
            await broker.publish("a", {"n": n})
        items = await inbox.wait_for(5)
        assert items == [("a", {"n": n}) for n in range(5)]
        await broker.unsubscribe("a")
        await broker.unsubscribe("a")
        await broker.publish("a", {"n": 5})
        await asyncio.sleep(0.01)
        assert len(inbox.items) == 5
        await broker.close()
        await broker.close()

    asyncio.run(scenario())


def test_local_broker_survives_handler_errors(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        inbox = Inbox()
        broker = LocalBroker()
        await broker.start(_failing_handler(inbox))
        await broker.subscribe("t")
        await broker.publish("t", {"boom": True})
        await broker.publish("t", {"ok": 1})
        assert await inbox.wait_for(1) == [("t", {"ok": 1})]
        await broker.close()

    with caplog.at_level(logging.ERROR, logger="rtc"):
        asyncio.run(scenario())
    assert "message handler failed" in caplog.text


def test_local_broker_refuses_what_json_cannot_carry() -> None:
    async def scenario() -> None:
        broker = LocalBroker()
        await broker.start(Inbox())
        with pytest.raises(TypeError):
            await broker.publish("t", {"when": object()})
        with pytest.raises(RuntimeError):
            await broker.start(Inbox())
        await broker.close()

    asyncio.run(scenario())


def test_broker_for_picks_redis_only_when_configured() -> None:
    assert isinstance(broker_for(None), LocalBroker)
    assert isinstance(broker_for(""), LocalBroker)
    assert isinstance(broker_for(REDIS_URL), RedisBroker)


# --- RedisBroker ---------------------------------------------------------------------------------


def test_a_message_published_on_one_instance_reaches_subscribers_on_both(redis_prefix: str) -> None:
    async def scenario() -> None:
        inbox_a, inbox_b = Inbox(), Inbox()
        a, b = RedisBroker(REDIS_URL, prefix=redis_prefix), RedisBroker(REDIS_URL, prefix=redis_prefix)
        await a.start(inbox_a)
        await b.start(inbox_b)
        await a.subscribe("consult:1")
        await b.subscribe("consult:1")
        await b.subscribe("consult:1")  # idempotent
        await b.publish("consult:1", {"type": "consult.state", "display": "王芳", "n": 1})
        await b.publish("consult:2", {"n": 2})  # nobody listens
        await b.publish("consult:1", {"n": 3})
        expected = [("consult:1", {"type": "consult.state", "display": "王芳", "n": 1}), ("consult:1", {"n": 3})]
        assert await inbox_a.wait_for(2) == expected
        assert await inbox_b.wait_for(2) == expected  # the publisher hears itself through Redis
        await a.close()
        await b.close()

    asyncio.run(scenario())


def test_unsubscribe_stops_delivery(redis_prefix: str) -> None:
    async def scenario() -> None:
        inbox = Inbox()
        a, b = RedisBroker(REDIS_URL, prefix=redis_prefix), RedisBroker(REDIS_URL, prefix=redis_prefix)
        await a.start(inbox)
        await b.start(Inbox())
        await a.subscribe("t")
        await a.subscribe("marker")
        await b.publish("t", {"n": 1})
        await inbox.wait_for(1)
        await a.unsubscribe("t")
        await a.unsubscribe("t")
        await a.unsubscribe("never-subscribed")
        await b.publish("t", {"n": 2})
        await b.publish("marker", {"n": 3})  # arrives after anything published before it
        assert await inbox.wait_for(2) == [("t", {"n": 1}), ("marker", {"n": 3})]
        await a.subscribe("t")  # and back again
        await b.publish("t", {"n": 4})
        assert (await inbox.wait_for(3))[-1] == ("t", {"n": 4})
        await a.close()
        await b.close()

    asyncio.run(scenario())


def test_reader_survives_handler_errors_and_foreign_payloads(
    redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        inbox = Inbox()
        broker = RedisBroker(REDIS_URL, prefix=redis_prefix)
        await broker.start(_failing_handler(inbox))
        await broker.subscribe("t")
        raw = redis.asyncio.Redis.from_url(REDIS_URL)
        await raw.publish(f"{redis_prefix}t", b"not json")
        await raw.publish(f"{redis_prefix}t", b"[1, 2]")
        await raw.aclose()
        await broker.publish("t", {"boom": True})
        await broker.publish("t", {"ok": 1})
        assert await inbox.wait_for(1) == [("t", {"ok": 1})]
        await broker.close()

    with caplog.at_level(logging.WARNING, logger="rtc"):
        asyncio.run(scenario())
    assert "not JSON" in caplog.text
    assert "not a JSON object" in caplog.text
    assert "message handler failed" in caplog.text


def test_reconnects_with_backoff_and_resubscribes(redis_prefix: str, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        inbox = Inbox()
        async with RedisProxy() as proxy:
            broker = RedisBroker(proxy.url, prefix=redis_prefix, reconnect_delay=0.02, max_reconnect_delay=0.1)
            direct = RedisBroker(REDIS_URL, prefix=redis_prefix)
            await broker.start(inbox)
            await direct.start(Inbox())
            await broker.subscribe("before")
            proxy.down = True
            await proxy.cut()
            await eventually(lambda: not broker.connected)
            accepted = proxy.accepted
            await eventually(lambda: proxy.accepted >= accepted + 3)  # it keeps trying
            await broker.subscribe("during")  # recorded now, subscribed on reconnection
            with pytest.raises(BrokerUnavailable):
                await broker.publish("before", {"lost": True})
            proxy.down = False
            await eventually(lambda: broker.connected and broker.reconnects == 1)
            await direct.publish("before", {"n": 1})
            await direct.publish("during", {"n": 2})
            assert await inbox.wait_for(2) == [("before", {"n": 1}), ("during", {"n": 2})]
            await broker.publish("during", {"n": 3})  # the publisher's pool reconnects too
            assert (await inbox.wait_for(3))[-1] == ("during", {"n": 3})
            await broker.close()
            await direct.close()

    with caplog.at_level(logging.WARNING, logger="rtc"):
        asyncio.run(scenario())
    assert "lost the Redis pub/sub connection" in caplog.text
    assert "cannot reach Redis" in caplog.text
    assert "reconnected to Redis; re-subscribed 2 topics" in caplog.text


def test_a_silently_dead_connection_is_detected_by_ping(redis_prefix: str) -> None:
    async def scenario() -> None:
        inbox = Inbox()
        async with RedisProxy() as proxy:
            broker = RedisBroker(
                proxy.url,
                prefix=redis_prefix,
                reconnect_delay=0.02,
                idle_ping_seconds=0.05,
                connect_timeout=0.2,
            )
            await broker.start(inbox)
            await broker.subscribe("t")
            proxy.stalled = True
            await eventually(lambda: not broker.connected)
            proxy.stalled = False
            await eventually(lambda: broker.connected)
            await broker.publish("t", {"n": 1})
            assert await inbox.wait_for(1) == [("t", {"n": 1})]
            await broker.close()

    asyncio.run(scenario())


def test_start_with_redis_down_then_up(redis_prefix: str) -> None:
    async def scenario() -> None:
        inbox = Inbox()
        async with RedisProxy() as proxy:
            proxy.down = True
            broker = RedisBroker(proxy.url, prefix=redis_prefix, reconnect_delay=0.02, max_reconnect_delay=0.05)
            await broker.start(inbox)  # returns after the first failed attempt
            assert not broker.connected
            await broker.subscribe("t")
            proxy.down = False
            await eventually(lambda: broker.connected)
            await broker.publish("t", {"n": 1})
            assert await inbox.wait_for(1) == [("t", {"n": 1})]
            await broker.close()

    asyncio.run(scenario())


def test_close_during_an_outage_and_publish_before_start() -> None:
    async def scenario() -> None:
        async with RedisProxy() as proxy:
            proxy.down = True
            broker = RedisBroker(proxy.url, reconnect_delay=0.01)
            with pytest.raises(RuntimeError):
                await broker.publish("t", {})
            await broker.start(Inbox())
            await asyncio.sleep(0.05)
            await broker.close()
            await broker.close()

    asyncio.run(scenario())


def test_an_idle_connection_answers_pings_and_stays_up(redis_prefix: str) -> None:
    async def scenario() -> None:
        inbox = Inbox()
        broker = RedisBroker(REDIS_URL, prefix=redis_prefix, idle_ping_seconds=0.02)
        await broker.start(inbox)
        await asyncio.sleep(0.15)  # pings without any subscription
        await broker.subscribe("t")
        await asyncio.sleep(0.15)  # and while subscribed
        assert broker.connected and broker.reconnects == 0
        await broker.publish("t", {"n": 1})
        assert await inbox.wait_for(1) == [("t", {"n": 1})]
        assert broker._waiters == {}  # confirmations must leave nothing behind
        await broker.close()

    asyncio.run(scenario())
