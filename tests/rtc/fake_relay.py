"""A minimal signalling server speaking just enough of protocol v1 to test rtc/ without the bridge.

Credentials are `Authorization: Bearer <name>`; the name is the identity ("bad" is refused). It
answers welcome, ping, consult.join/leave/decline and station.register, relays signal.* by `to`,
and lets a test call a station, end a consult, or drop a socket from the server side.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

Message = dict[str, Any]


def run(test: Callable[[], Awaitable[None]], timeout: float = 10.0) -> None:
    """Run an async test body with a hard time limit."""

    async def limited() -> None:
        await asyncio.wait_for(test(), timeout)

    asyncio.run(limited())


class FakeRelay:
    def __init__(self, *, heartbeat_seconds: float | None = None, port: int = 0) -> None:
        self.heartbeat_seconds = heartbeat_seconds
        self.port = port
        self.received: list[tuple[str, Message]] = []
        self.consults: dict[str, Message] = {}
        self.sockets: dict[str, ServerConnection] = {}
        self._server: Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}/ws/signal"

    async def __aenter__(self) -> FakeRelay:
        self._server = await serve(self._connection, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    # --- what a test does as "the server" ---

    async def call_station(self, identity: str, consult_id: str) -> None:
        self._consult(consult_id)
        await self._send(identity, {"type": "station.call", "consult_id": consult_id})

    async def end_consult(self, consult_id: str, state: str = "ended") -> None:
        consult = self._consult(consult_id)
        consult["state"] = state
        await self._broadcast(consult_id)

    async def drop(self, identity: str) -> None:
        """Close an identity's socket from the server side (a network blip, a server restart)."""
        await self.sockets[identity].close(1012, "restart")

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.02)

    def messages(self, identity: str, type_: str) -> list[Message]:
        return [m for who, m in self.received if who == identity and m.get("type") == type_]

    def participant(self, consult_id: str, identity: str) -> Message:
        return self._consult(consult_id)["participants"][identity]

    # --- protocol ---

    async def _connection(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        auth = ws.request.headers.get("Authorization", "")
        identity = auth.removeprefix("Bearer ").strip()
        if not auth.startswith("Bearer ") or not identity or identity == "bad":
            await ws.send(json.dumps({"v": 1, "type": "error", "code": "auth_required", "message": "sign in"}))
            await ws.close(4401, "auth_required")
            return
        self.sockets[identity] = ws
        welcome = {
            "type": "welcome",
            "protocol": 1,
            "you": {"kind": "user", "id": identity, "display": identity, "role": "test", "organization": "test"},
            "ice_servers": [],
            "reconnect_window_seconds": 60,
            "heartbeat_seconds": self.heartbeat_seconds,
            "max_message_bytes": 65536,
        }
        await self._send(identity, welcome)
        try:
            async for raw in ws:
                message = json.loads(raw)
                self.received.append((identity, message))
                await self._handle(identity, message)
        except ConnectionClosed:
            pass
        finally:
            if self.sockets.get(identity) is ws:
                del self.sockets[identity]
                await self._socket_lost(identity)

    async def _handle(self, who: str, m: Message) -> None:
        kind, ref = m.get("type"), m.get("ref")
        reply: Message | None
        if kind == "ping":
            reply = {"type": "pong"}
        elif kind == "station.register":
            reply = {"type": "station.registered", "station_id": who, "room": m["room"], "bed": m["bed"], "armed": True}
            reply["auto_answer"] = m.get("auto_answer", False)
        elif kind in ("consult.join", "consult.leave", "consult.decline"):
            consult = self._consult(m["consult_id"])
            if consult["state"] in ("ended", "declined", "timed_out", "cancelled"):
                reply = {"type": "error", "code": "consult_ended", "message": "over", "consult_id": consult["id"]}
            else:
                reply = await self._membership(who, kind, consult)
        elif kind in ("signal.offer", "signal.answer", "signal.candidate"):
            reply = await self._relay(who, m)
        else:
            reply = {"type": "error", "code": "unknown_type", "message": f"no such type {kind}"}
        if reply is not None:
            if ref is not None:
                reply["ref"] = ref
            await self._send(who, reply)

    async def _membership(self, who: str, kind: str, consult: Message) -> Message:
        participants: dict[str, Message] = consult["participants"]
        if kind == "consult.join":
            entry = participants.setdefault(
                who, {"id": f"p-{secrets.token_hex(6)}", "role": who, "display": who, "status": "connected"}
            )
            entry["status"] = "connected"
        elif who in participants:
            participants[who]["status"] = "left" if kind == "consult.leave" else participants[who]["status"]
        if kind == "consult.decline":
            consult["state"] = "declined" if len(participants) < 2 else consult["state"]
        connected = sum(p["status"] == "connected" for p in participants.values())
        if consult["state"] in ("accepted", "in_call", "reconnecting"):
            consult["state"] = "in_call" if connected >= 2 else "accepted"
        await self._broadcast(consult["id"], but=who)
        reply: Message = {"type": "consult.state", "consult": self._view(consult)}
        if kind == "consult.join":
            reply["you"] = participants[who]["id"]
        return reply

    async def _relay(self, who: str, m: Message) -> Message | None:
        consult = self.consults.get(m.get("consult_id", ""))
        sender = consult["participants"].get(who) if consult else None
        members = consult["participants"].items() if consult else ()
        target = next((identity for identity, p in members if p["id"] == m.get("to")), None)
        if sender is None or target is None or target not in self.sockets:
            return {"type": "error", "code": "not_in_consult", "message": "no such participant"}
        relayed = {k: v for k, v in m.items() if k not in ("to", "ref", "v")}
        relayed["from"] = sender["id"]
        await self._send(target, relayed)
        return None

    async def _socket_lost(self, identity: str) -> None:
        for consult in self.consults.values():
            entry = consult["participants"].get(identity)
            if entry is not None and entry["status"] == "connected":
                entry["status"] = "reconnecting"
                await self._broadcast(consult["id"])

    def _consult(self, consult_id: str) -> Message:
        return self.consults.setdefault(consult_id, {"id": consult_id, "state": "accepted", "participants": {}})

    def _view(self, consult: Message) -> Message:
        return {"id": consult["id"], "state": consult["state"], "participants": list(consult["participants"].values())}

    async def _broadcast(self, consult_id: str, *, but: str | None = None) -> None:
        consult = self.consults[consult_id]
        for identity, entry in consult["participants"].items():
            if identity != but and entry["status"] == "connected":
                await self._send(identity, {"type": "consult.state", "consult": self._view(consult)})

    async def _send(self, identity: str, message: Message) -> None:
        ws = self.sockets.get(identity)
        if ws is not None:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(json.dumps({"v": 1, **message}))
