"""The `/ws/signal` server of one instance: sockets, the hub that fans messages out (through Redis when
several instances run), the presence heartbeat and the consult timers.

Database work runs in worker threads, one transaction per message; the deliveries of a change are
published only after its commit. Relaying SDP and candidates touches no database (see relay.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy.orm.exc import StaleDataError
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from bridge.consults.events import Outcome, participant_topic, queue_topic
from bridge.consults.participation import Participation
from bridge.consults.records import ConsultError
from bridge.consults.timers import ConsultTimers
from bridge.runtime import Runtime
from bridge.services import Services
from bridge.signalling import presence
from bridge.signalling.auth import Handshake, Identity, SignalAuthError, authenticate
from bridge.signalling.connection import SignalConnection
from bridge.signalling.handlers import HANDLERS
from bridge.signalling.protocol import (
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    RELAYED_TYPES,
    Frame,
    ProtocolError,
    frame_size,
    parse_frame,
)
from bridge.signalling.relay import ParticipantDirectory
from rtc.broker import broker_for
from rtc.hub import EXCLUDE_KEY, Hub
from rtc.ratelimit import TokenBucket
from rtc.turn import ice_servers_for

logger = logging.getLogger(__name__)

T = TypeVar("T")

CLOSE_AUTH = 4401
CLOSE_FLOOD = 4429
CLOSE_TOO_LARGE = 1009
CLOSE_TOO_SLOW = 1013


class SignallingServer:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.instance = uuid.uuid4().hex[:8]
        self.participants = ParticipantDirectory(runtime)
        self.hub = Hub(
            broker_for(self.settings.redis_url, self.settings.redis_channel_prefix),
            observer=self._observe,
        )
        self.connections: dict[str, SignalConnection] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._hub_started = False
        self._lost_checked_at = -math.inf
        self._start_lock = asyncio.Lock()

    # --- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        """At application start: the hub, the presence heartbeat and the consult timers."""
        await self._start_hub()
        if self._tasks:
            return
        if not self.settings.redis_url:
            # The only instance: every presence row left is from before this start, so the consults
            # of those sockets go to reconnecting now instead of after the rows go stale.
            await self._in_transaction(presence.forget_all)
        self._tasks = [
            asyncio.create_task(self._every(self.settings.signal_heartbeat_seconds, self._heartbeat), name="presence"),
            asyncio.create_task(self._every(self.settings.consult_timer_interval_seconds, self._sweep), name="timers"),
        ]
        logger.info("signalling instance %s started", self.instance)

    async def _start_hub(self) -> None:
        async with self._start_lock:
            if not self._hub_started:
                await self.hub.start()
                self._hub_started = True

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._hub_started:
            await self.hub.close()
            self._hub_started = False

    # --- one socket -------------------------------------------------------------------------------

    async def serve(self, websocket: WebSocket, handshake: Handshake) -> None:
        # Also without an application lifespan (an embedding that skips it): sockets then work, only
        # the timers do not run.
        await self._start_hub()
        await websocket.accept()
        try:
            identity = await self._in_transaction(lambda services: authenticate(services, handshake))
        except SignalAuthError as exc:
            logger.info("signalling socket refused: %s", exc)
            await self._send_and_close(websocket, _error("auth_required", "sign in first"), CLOSE_AUTH)
            return
        connection = SignalConnection(
            id=presence.connection_id_for(self.instance, uuid.uuid4().hex[:16]),
            identity=identity,
            bucket=TokenBucket(self.settings.signal_rate_per_second, self.settings.signal_rate_burst),
        )
        caller = identity.caller
        await self._in_transaction(
            lambda s: presence.add(s, connection.id, caller.reference, caller.organization_id or "-")
        )
        self.connections[connection.id] = connection
        self.hub.attach(connection.id, websocket.send_text, on_overflow=lambda: self._close(websocket, CLOSE_TOO_SLOW))
        try:
            for topic in connection.base_topics():
                await self.hub.listen(connection.id, topic)
            self.hub.send_to(connection.id, self._welcome(identity))
            await self._receive_loop(websocket, connection)
        except WebSocketDisconnect:
            pass
        finally:
            await self._gone(connection)

    async def _receive_loop(self, websocket: WebSocket, connection: SignalConnection) -> None:
        while True:
            event = await websocket.receive()
            if event["type"] == "websocket.disconnect":
                return
            text = event.get("text")
            if text is None:
                data = event.get("bytes") or b""
                if len(data) > MAX_MESSAGE_BYTES:
                    await self._refuse_large(websocket, connection)
                    return
                self._reply(connection, _error("bad_json", "frames are JSON text, not binary"))
                continue
            if frame_size(text) > MAX_MESSAGE_BYTES:
                await self._refuse_large(websocket, connection)
                return
            if not connection.bucket.allow():
                self._reply(connection, _error("rate_limited", "too many messages; slow down"))
                if connection.over_flood_limit():
                    await self.hub.detach(connection.id)
                    final = _error("rate_limited", "too many refused messages; closing this socket")
                    await self._send_and_close(websocket, final, CLOSE_FLOOD)
                    return
                continue
            try:
                frame = parse_frame(text)
            except ProtocolError as exc:
                self._reply(connection, _error(exc.code, exc.message, exc.ref))
                continue
            await self._dispatch(connection, frame)

    async def _dispatch(self, connection: SignalConnection, frame: Frame) -> None:
        ref = frame.message.ref
        consult_id = frame.raw.get("consult_id") if isinstance(frame.raw.get("consult_id"), str) else None
        try:
            if frame.type == "ping":
                self._reply(connection, {"v": PROTOCOL_VERSION, "type": "pong"}, ref)
            elif frame.type in RELAYED_TYPES:
                await self._relay(connection, frame)
            else:
                await self._handle(connection, frame)
        except ConsultError as exc:
            self._reply(connection, _error(exc.code, exc.message, ref, consult_id))
        except Exception:
            logger.exception("signalling: %s from %s failed", frame.type, connection.identity.caller.reference)
            self._reply(connection, _error("internal", "the server failed; it is logged", ref, consult_id))

    async def _handle(self, connection: SignalConnection, frame: Frame) -> None:
        handler = HANDLERS[frame.type]
        caller = connection.identity.caller
        outcome: Outcome = await self._in_transaction(
            lambda s: handler(s, caller, connection.id, frame.message), retry_stale=True
        )
        reply = outcome.reply
        if frame.type == "queue.watch":
            await self.hub.listen(connection.id, queue_topic(caller.organization_id))
        if reply is not None and reply.get("type") == "consult.state":
            await self._follow(connection, frame.type, reply)
            if "you" in reply:
                reply["ice_servers"] = self._ice_servers(connection.identity)
        await self._publish(outcome, exclude=connection.id)
        if reply is not None:
            self._reply(connection, reply, frame.message.ref)

    async def _follow(self, connection: SignalConnection, kind: str, reply: dict[str, Any]) -> None:
        """Listen to a consult the socket is now in; stop when it left or the consult is over."""
        consult = reply["consult"]
        consult_id: str = consult["id"]
        self.participants.forget(consult_id)
        you = reply.get("you")
        if isinstance(you, str):
            connection.joined[consult_id] = you
            for topic in connection.consult_topics(consult_id, you):
                await self.hub.listen(connection.id, topic)
        elif kind == "consult.leave" or consult["state"] in {"ended", "declined", "timed_out", "cancelled"}:
            mine = connection.joined.pop(consult_id, None)
            if mine is not None:
                for topic in connection.consult_topics(consult_id, mine):
                    await self.hub.unlisten(connection.id, topic)

    async def _relay(self, connection: SignalConnection, frame: Frame) -> None:
        consult_id = str(frame.raw["consult_id"])
        target = str(frame.raw["to"])
        sender = connection.joined.get(consult_id)
        if sender is None or not await self.participants.may_receive(consult_id, sender):
            raise ConsultError("not_in_consult", "you have not joined this consult")
        if not await self.participants.may_receive(consult_id, target):
            raise ConsultError("not_in_consult", f"{target} is not in this consult")
        relayed = {key: value for key, value in frame.raw.items() if key not in ("to", "ref")}
        relayed["from"] = sender
        await self.hub.publish(participant_topic(consult_id, target), relayed)

    async def _gone(self, connection: SignalConnection) -> None:
        self.connections.pop(connection.id, None)
        await self.hub.detach(connection.id)

        def forget(services: Services) -> Outcome:
            presence.remove(services, connection.id)
            return Participation(services).disconnected(connection.id)

        try:
            outcome = await self._in_transaction(forget, retry_stale=True)
        except Exception:
            # The timers will find the participant's socket gone (no fresh presence row) and catch up.
            logger.exception("signalling: cleaning up after connection %s failed", connection.id)
            return
        await self._publish(outcome)

    # --- background work --------------------------------------------------------------------------

    async def _every(self, seconds: float, work: Callable[[], Any]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await work()
            except StaleDataError:
                logger.debug("another instance changed a consult first; the next round retries")
            except Exception:
                logger.exception("signalling background work %s failed", getattr(work, "__name__", work))

    async def _heartbeat(self) -> None:
        heartbeat = timedelta(seconds=self.settings.signal_heartbeat_seconds)
        await self._in_transaction(lambda s: presence.refresh(s, self.instance, heartbeat))

    async def _sweep(self) -> None:
        open_here = list(self.connections)
        now = time.monotonic()
        find_lost = now - self._lost_checked_at >= self.settings.signal_heartbeat_seconds
        outcome = await self._in_transaction(lambda s: ConsultTimers(s).sweep(open_here, find_lost=find_lost))
        if find_lost:
            self._lost_checked_at = now
        await self._publish(outcome)

    # --- plumbing ---------------------------------------------------------------------------------

    def _observe(self, topic: str, message: dict[str, Any]) -> None:
        # A change made on another instance reaches this one here, before its sockets hear of it.
        if message.get("type") == "consult.state":
            consult = message.get("consult")
            if isinstance(consult, dict) and isinstance(consult.get("id"), str):
                self.participants.forget(consult["id"])

    async def _in_transaction(self, work: Callable[[Services], T], *, retry_stale: bool = False) -> T:
        def run() -> T:
            attempts = 2 if retry_stale else 1
            for attempt in range(attempts):
                try:
                    with self.runtime.session_factory.begin() as db:
                        return work(Services(db, self.runtime))
                except StaleDataError:
                    if attempt + 1 == attempts:
                        raise
            raise AssertionError("unreachable")

        return await run_in_threadpool(run)

    async def _publish(self, outcome: Outcome, exclude: str | None = None) -> None:
        """Publish after commit; `exclude` (the sender) is spared what its reply already told it."""
        reply = outcome.reply or {}
        for delivery in outcome.deliveries:
            message = delivery.message
            if message.get("type") == "consult.state":
                self.participants.forget(message["consult"]["id"])
            if exclude is not None and _same_news(message, reply):
                message = {**message, EXCLUDE_KEY: exclude}
            await self.hub.publish(delivery.topic, message)

    def _reply(self, connection: SignalConnection, message: dict[str, Any], ref: str | None = None) -> None:
        if ref is not None:
            message = {**message, "ref": ref}
        self.hub.send_to(connection.id, message)

    def _welcome(self, identity: Identity) -> dict[str, Any]:
        return {
            "v": PROTOCOL_VERSION,
            "type": "welcome",
            "protocol": PROTOCOL_VERSION,
            "you": identity.welcome_you(),
            "ice_servers": self._ice_servers(identity),
            "reconnect_window_seconds": self.settings.reconnect_window_seconds,
            "heartbeat_seconds": self.settings.signal_heartbeat_seconds,
            "max_message_bytes": MAX_MESSAGE_BYTES,
        }

    def _ice_servers(self, identity: Identity) -> list[dict[str, Any]]:
        s = self.settings
        secret = s.turn_shared_secret.get_secret_value() if s.turn_shared_secret else None
        servers = ice_servers_for(
            identity.caller.reference.replace(":", "-"),
            stun_urls=s.stun_urls,
            turn_urls=s.turn_urls,
            shared_secret=secret,
            ttl_seconds=s.turn_credential_ttl_seconds,
            now=self.runtime.clock.now(),
        )
        return [server.as_json() for server in servers]

    async def _refuse_large(self, websocket: WebSocket, connection: SignalConnection) -> None:
        await self.hub.detach(connection.id)
        message = _error("too_large", f"frames are at most {MAX_MESSAGE_BYTES} bytes")
        await self._send_and_close(websocket, message, CLOSE_TOO_LARGE)

    async def _send_and_close(self, websocket: WebSocket, message: dict[str, Any], code: int) -> None:
        with contextlib.suppress(Exception):
            await websocket.send_json(message)
        await self._close(websocket, code)

    async def _close(self, websocket: WebSocket, code: int) -> None:
        if websocket.application_state != WebSocketState.DISCONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close(code)


def _same_news(message: dict[str, Any], reply: dict[str, Any]) -> bool:
    if message.get("type") != reply.get("type"):
        return False
    if message.get("type") == "consult.state":
        return bool(message["consult"]["id"] == reply["consult"]["id"])
    return message.get("type") == "station.registered"


def _error(code: str, message: str, ref: str | None = None, consult_id: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": "error", "code": code, "message": message}
    if ref is not None:
        error["ref"] = ref
    if consult_id is not None:
        error["consult_id"] = consult_id
    return error
