"""SignallingClient against the fake relay: welcome, replies by ref, errors, events, closing."""

from __future__ import annotations

import asyncio

import pytest

from rtc.signalling_client import SignallingClient, SignallingError
from tests.rtc.fake_relay import FakeRelay, run


def test_connect_stores_welcome_and_request_gets_its_reply() -> None:
    async def body() -> None:
        async with FakeRelay() as relay:
            client = SignallingClient(relay.url, token="nurse-1")
            welcome = await client.connect()
            assert client.welcome is welcome and welcome["you"]["id"] == "nurse-1"
            assert welcome["ice_servers"] == []
            pong = await client.request("ping")
            assert pong["type"] == "pong" and pong["ref"]
            state = await client.request("consult.join", consult_id="c-1")
            assert state["type"] == "consult.state" and state["you"].startswith("p-")
            await client.close()
            assert client.closed.is_set() and not client.connected

    run(body)


def test_bearer_token_goes_in_the_authorization_header() -> None:
    async def body() -> None:
        async with FakeRelay() as relay:
            client = SignallingClient(relay.url, token="doctor-7", headers={"X-Trace": "t1"})
            await client.connect()
            assert relay.sockets["doctor-7"].request.headers["X-Trace"] == "t1"
            await client.close()

    run(body)


def test_auth_required_raises() -> None:
    async def body() -> None:
        async with FakeRelay() as relay:
            for token in (None, "bad"):
                client = SignallingClient(relay.url, token=token)
                with pytest.raises(SignallingError) as caught:
                    await client.connect()
                assert caught.value.code == "auth_required"
                assert client.closed.is_set()

    run(body)


def test_error_reply_raises_with_the_servers_code() -> None:
    async def body() -> None:
        async with FakeRelay() as relay:
            client = SignallingClient(relay.url, token="nurse-1")
            await client.connect()
            with pytest.raises(SignallingError) as caught:
                await client.request("no.such.type")
            assert caught.value.code == "unknown_type"
            assert caught.value.reply is not None and caught.value.reply["type"] == "error"
            # The socket stays usable after an error, as the protocol says.
            assert (await client.request("ping"))["type"] == "pong"
            await client.close()

    run(body)


def test_events_reach_handlers_in_order_and_next_event() -> None:
    async def body() -> None:
        async with FakeRelay() as relay:
            client = SignallingClient(relay.url, token="station-1")
            await client.connect()
            seen: list[str] = []

            async def handler(message: dict[str, object]) -> None:
                seen.append(str(message["consult_id"]))

            remove = client.on("station.call", handler)
            await relay.call_station("station-1", "c-1")
            await relay.call_station("station-1", "c-2")
            assert (await client.next_event("station.call", timeout=2))["consult_id"] == "c-1"
            assert (await client.next_event("station.call", timeout=2))["consult_id"] == "c-2"
            assert seen == ["c-1", "c-2"]
            remove()
            await relay.call_station("station-1", "c-3")
            await client.next_event("station.call", timeout=2)
            assert seen == ["c-1", "c-2"]
            with pytest.raises(SignallingError) as caught:
                await client.next_event("station.call", timeout=0.1)
            assert caught.value.code == "timeout"
            await client.close()

    run(body)


def test_server_closing_the_socket_fails_pending_requests_and_sets_closed() -> None:
    async def body() -> None:
        async with FakeRelay() as relay:
            client = SignallingClient(relay.url, token="nurse-1")
            await client.connect()
            await relay.drop("nurse-1")
            await asyncio.wait_for(client.closed.wait(), 2)
            assert client.close_code == 1012
            with pytest.raises(SignallingError) as caught:
                await client.send("ping")
            assert caught.value.code == "closed"
            with pytest.raises(RuntimeError):
                await client.connect()
            again = client.clone()
            await again.connect()
            await again.close()
            await client.close()

    run(body)


def test_unreachable_server_and_oversized_frames() -> None:
    async def body() -> None:
        with pytest.raises(SignallingError) as caught:
            await SignallingClient("ws://127.0.0.1:9/ws/signal", open_timeout=2).connect()
        assert caught.value.code == "unreachable"
        async with FakeRelay() as relay:
            client = SignallingClient(relay.url, token="nurse-1")
            await client.connect()
            with pytest.raises(SignallingError) as too_large:
                await client.send("consult.request", reason="x" * 70_000)
            assert too_large.value.code == "too_large"
            assert client.connected
            await client.close()

    run(body)


def test_heartbeat_pings_at_the_welcomes_interval() -> None:
    async def body() -> None:
        async with FakeRelay(heartbeat_seconds=0.05) as relay:
            client = SignallingClient(relay.url, token="nurse-1")
            await client.connect()
            await relay.wait_for(lambda: len(relay.messages("nurse-1", "ping")) >= 2, timeout=2)
            await client.close()

    run(body)
